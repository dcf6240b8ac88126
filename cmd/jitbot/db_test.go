package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/internal/storetest"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jitbot/jitbot/store"
	"github.com/jonboulle/clockwork"
)

// seedInstallation runs the bot in-process on a SQLite file, dry-run, long
// enough to fill every table: an auto-approved grant that is revoked, a
// two-step request approved, its Slack messages, dry-run memberships.
func seedInstallation(t *testing.T, path string) {
	t.Helper()
	srv := localslack.New(t, localslack.Options{})
	for _, u := range []localslack.User{{ID: "U0ALICE", Name: "alice", Email: "alice@example.com"},
		{ID: "U0BOB", Name: "bob", Email: "bob@example.com"}, {ID: "U0CAROL", Name: "carol", Email: "carol@example.com"},
		{ID: "U0ERIN", Name: "erin", Email: "erin@partner.io"}} {
		srv.AddUser(u)
	}
	env := map[string]string{"SLACK_BOT_TOKEN": srv.BotToken(), "SLACK_APP_TOKEN": srv.AppToken(), "SLACK_API_URL": srv.APIURL()}
	m := &Main{Config: Config{Policy: examplePolicy(t), DB: path, LogLevel: "error", LogFormat: "json", DryRun: true},
		Clock: clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)), Getenv: func(k string) string { return env[k] }}
	ctx := context.Background()
	must(t, m.Open(ctx))
	defer m.Close()
	r1, err := m.Service.Submit(ctx, approvals.SubmitInput{Requester: "alice@example.com", Resource: "confluence-finance", Duration: 2 * time.Hour, Reason: "close"})
	must(t, err)
	r2, err := m.Service.Submit(ctx, approvals.SubmitInput{Requester: "erin@partner.io", Resource: "confluence-finance", Duration: 48 * time.Hour, Reason: "audit"})
	must(t, err)
	_, err = m.Service.RunJobs(ctx)
	must(t, err)
	_, err = m.Service.Approve(ctx, r2.ID, "bob@example.com", "ok")
	must(t, err)
	_, err = m.Service.Approve(ctx, r2.ID, "carol@example.com", "fine")
	must(t, err)
	_, err = m.Service.RunJobs(ctx)
	must(t, err)
	_, err = m.Service.Revoke(ctx, r1.ID, "security@example.com", "left the project")
	must(t, err)
	_, err = m.Service.RunJobs(ctx)
	must(t, err)
}

// `jitbot db copy` moves a SQLite installation to PostgreSQL: every table,
// the chain verified on both sides with the same head, the same grants and
// reports read from either; a second copy into the now full database, and
// a copy from a database a bot still runs on, are refused.
func TestDBCopy(t *testing.T) {
	url, _ := pgtest.Schema(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "jitbot.db")
	seedInstallation(t, path)
	seedFolded(t, path)

	code, out, errOut := runCLI(t, nil, "db", "copy", "--from", path, "--to", url)
	if code != exitOK || !strings.Contains(out, "audit chain verified on both sides") {
		t.Fatalf("db copy: exit %d\n%s%s", code, out, errOut)
	}
	for _, table := range append([]string{"requests", "grants", "decisions", "memberships", "jobs", "audit_events", "dryrun_members", "dryrun_ops", "slack_messages"}, foldedTables...) {
		if !strings.Contains(out, table) || strings.Contains(out, fmt.Sprintf("%-16s 0 rows", table)) {
			t.Errorf("db copy: table %s not copied, or empty in the seed:\n%s", table, out)
		}
	}
	checkFolded(t, path, url)
	sqlite := map[string]string{"JITBOT_DB": path}
	pg := map[string]string{"JITBOT_DB": url}
	for _, args := range [][]string{
		{"audit", "verify"},
		{"grants", "list"},
		{"grants", "list", "--json"},
		{"report", "person", "erin@partner.io"},
		{"report", "access", "--resource", "confluence-finance", "--at", "2026-11-23T09:30:00Z"},
		{"audit", "export", "--format", "csv"},
	} {
		c1, want, e1 := runCLI(t, sqlite, args...)
		c2, got, e2 := runCLI(t, pg, args...)
		if c1 != exitOK || c2 != exitOK || got != want {
			t.Errorf("jitbot %s: SQLite (exit %d) and PostgreSQL (exit %d) differ:\n--- SQLite\n%s%s\n--- PostgreSQL\n%s%s",
				strings.Join(args, " "), c1, c2, want, e1, got, e2)
		}
	}
	// The chain goes on after the copy, linked to the copied head.
	if code, out, errOut := runCLI(t, pg, "audit", "anchor"); code != exitOK {
		t.Fatalf("anchor after the copy: exit %d %s%s", code, out, errOut)
	}
	if code, out, _ := runCLI(t, pg, "audit", "verify"); code != exitOK || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("verify after appending: exit %d %s", code, out)
	}

	t.Run("RefusesNonEmptyTarget", func(t *testing.T) {
		code, _, errOut := runCLI(t, nil, "db", "copy", "--from", path, "--to", url)
		if code != exitFailure || !strings.Contains(errOut, "not empty") || !strings.Contains(errOut, "nothing was written") {
			t.Fatalf("second copy: exit %d %q", code, errOut)
		}
	})
	t.Run("RefusesWhileABotRuns", func(t *testing.T) {
		other, _ := pgtest.Schema(t)
		runner, err := store.Open(context.Background(), path, store.Options{Exclusive: true})
		must(t, err)
		defer runner.Close()
		code, _, errOut := runCLI(t, nil, "db", "copy", "--from", path, "--to", other)
		if code != exitFailure || !strings.Contains(errOut, "stop it before copying") {
			t.Fatalf("copy beside a runner: exit %d %q", code, errOut)
		}
	})
	t.Run("Usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"db", "copy", "--from", path, "--to", filepath.Join(dir, "other.db")},
			{"db", "copy", "--from", url, "--to", url},
		} {
			if code, _, errOut := runCLI(t, nil, args...); code != exitUsage {
				t.Errorf("%v: exit %d %q, want usage", args, code, errOut)
			}
		}
		if code, _, errOut := runCLI(t, nil, "db", "copy", "--from", filepath.Join(dir, "missing.db"), "--to", url); code != exitFailure || !strings.Contains(errOut, "no jitbot database") {
			t.Errorf("missing source: exit %d %q", code, errOut)
		}
	})
}

// Issue 20 finding 3: a source whose chain does not verify is refused with
// nothing written to PostgreSQL, so that once the source is fixed (here: a
// good installation) the same target takes the copy; before, every row was
// committed first and the retry was refused as "not empty".
func TestDBCopy_BrokenSourceWritesNothing(t *testing.T) {
	url, schema := pgtest.Schema(t)
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.db")
	seedInstallation(t, broken)
	raw, err := sql.Open("sqlite3", "file:"+broken)
	must(t, err)
	for _, q := range []string{`DROP TRIGGER audit_events_no_update`, `UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 3`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	code, out, errOut := runCLI(t, nil, "db", "copy", "--from", broken, "--to", url)
	if code != exitFailure || !strings.Contains(errOut, "the source chain does not verify") || !strings.Contains(errOut, "event 3") ||
		!strings.Contains(errOut, "nothing was written") {
		t.Fatalf("copy of a broken chain: exit %d %s%q; want exit 1 naming event 3 and saying nothing was written", code, out, errOut)
	}
	conn, err := pgx.Connect(context.Background(), pgtest.ServerURL(t))
	must(t, err)
	defer conn.Close(context.Background())
	var rows int64
	must(t, conn.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM `+schema+`.requests) + (SELECT count(*) FROM `+schema+`.audit_events)
		+ (SELECT count(*) FROM `+schema+`.jobs) + (SELECT seq FROM `+schema+`.audit_head)`).Scan(&rows))
	if rows != 0 {
		t.Fatalf("after the refused copy the target holds %d requests, events, jobs and head, want none", rows)
	}

	good := filepath.Join(dir, "good.db")
	seedInstallation(t, good)
	if code, out, errOut := runCLI(t, nil, "db", "copy", "--from", good, "--to", url); code != exitOK || !strings.Contains(out, "verified on both sides") {
		t.Fatalf("copy of the good installation into the same target: exit %d %s%s", code, out, errOut)
	}
}

// `jitbot db backup` takes a consistent copy while another process keeps
// appending to the chain: the backup opens on its own and its chain
// verifies. It will not overwrite a file, nor back up PostgreSQL.
func TestDBBackup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jitbot.db")
	ctx := context.Background()
	bot, err := store.Open(ctx, path, store.Options{Exclusive: true})
	must(t, err)
	defer bot.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the running bot's writes
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			err := bot.Update(ctx, func(tx approvals.Tx) error {
				return tx.Append(&approvals.Event{Actor: "system", Action: "test.event", Reason: fmt.Sprint(i)})
			})
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range 3 {
		out := filepath.Join(dir, fmt.Sprintf("backup-%d.db", i))
		code, stdout, errOut := runCLI(t, map[string]string{"JITBOT_DB": path}, "db", "backup", out)
		if code != exitOK || !strings.Contains(stdout, "verified") {
			t.Fatalf("backup %d: exit %d %s%s", i, code, stdout, errOut)
		}
		if _, err := os.Stat(out + "-wal"); err == nil {
			t.Errorf("backup %d left a -wal file beside it", i)
		}
		b, err := store.Open(ctx, out, store.Options{ReadOnly: true})
		must(t, err)
		res, err := audit.Verify(ctx, b)
		b.Close()
		if err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		t.Logf("backup %d: %d events", i, res.Count)
	}
	close(stop)
	wg.Wait()

	if code, _, errOut := runCLI(t, map[string]string{"JITBOT_DB": path}, "db", "backup", filepath.Join(dir, "backup-0.db")); code != exitFailure || !strings.Contains(errOut, "exists already") {
		t.Errorf("over an existing file: exit %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, map[string]string{"JITBOT_DB": "postgres://postgres@127.0.0.1/test"}, "db", "backup", filepath.Join(dir, "x.db")); code != exitUsage || !strings.Contains(errOut, "pg_dump") {
		t.Errorf("PostgreSQL: exit %d %q", code, errOut)
	}
}

// A SQLite database made by main before the store was written once for
// both engines (fd0cdaf, schema version 5; store/testdata holds its .dump) opens
// with this jitbot, migrates forward, and copies to PostgreSQL with the
// chain verified on both sides and its head unchanged.
func TestDBCopy_FromOlderMain(t *testing.T) {
	url, _ := pgtest.Schema(t)
	path := filepath.Join(t.TempDir(), "old.db")
	dump := storetest.ReadDump(t, "../../store/testdata/sqlite-main-fd0cdaf.sql.gz")
	raw, err := sql.Open("sqlite3", path)
	must(t, err)
	_, err = raw.Exec(dump)
	must(t, err)
	var (
		version, seq int64
		hash         string
	)
	must(t, raw.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&version))
	must(t, raw.QueryRow(`SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash))
	must(t, raw.Close())
	if version != 5 || seq == 0 {
		t.Fatalf("the fixture is at schema version %d with %d events; want version 5 and a chain", version, seq)
	}

	code, out, errOut := runCLI(t, nil, "db", "copy", "--from", path, "--to", url)
	if code != exitOK || !strings.Contains(out, "audit chain verified on both sides") {
		t.Fatalf("db copy of the older database: exit %d\n%s%s", code, out, errOut)
	}
	want := fmt.Sprintf("ok: %d events, head %d:%s\n", seq, seq, hash)
	for _, db := range []string{path, url} {
		code, got, errOut := runCLI(t, map[string]string{"JITBOT_DB": db}, "audit", "verify")
		if code != exitOK || got != want {
			t.Errorf("audit verify on %s after the copy: exit %d %q %q, want %q", filepath.Base(db), code, got, errOut, want)
		}
	}
}
