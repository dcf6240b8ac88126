package store_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/internal/storetest"
	"github.com/jitbot/jitbot/store"
	_ "github.com/mattn/go-sqlite3"
)

func open(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpen_Errors(t *testing.T) {
	ctx := context.Background()
	t.Run("NewerSchema", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "j.db")
		db := open(t, path)
		if _, err := db.WriteDB().Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		before := fileBytes(t, path)
		_, err := store.Open(ctx, path, store.Options{})
		if err == nil || !strings.Contains(err.Error(), "newer jitbot") || !strings.Contains(err.Error(), "999") {
			t.Fatalf("got %v, want a newer-schema error naming version 999", err)
		}
		if after := fileBytes(t, path); after != before {
			t.Error("the newer database was modified")
		}
	})
	t.Run("NotADatabase", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "j.db")
		junk := strings.Repeat("this is not sqlite ", 400)
		if err := os.WriteFile(path, []byte(junk), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := store.Open(ctx, path, store.Options{})
		if err == nil || !strings.Contains(err.Error(), "not a jitbot database") {
			t.Fatalf("got %v, want a not-a-database error", err)
		}
		if got := fileBytes(t, path); got != junk {
			t.Error("the file was modified")
		}
	})
	t.Run("Corrupt", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "j.db")
		db := open(t, path)
		for i := 0; i < 200; i++ {
			db.WriteDB().Exec(`INSERT INTO accounts (provider, email, account_id, updated_at) VALUES ('jira', ?, 'x', 0)`, strings.Repeat("a", 200)+string(rune('a'+i%26))+time.Now().String())
		}
		db.Close()
		os.Remove(path + "-wal")
		os.Remove(path + "-shm")
		b, _ := os.ReadFile(path)
		for i := 4096 + 100; i < len(b) && i < 4096*3; i++ {
			b[i] = 0xff // trash the second and third pages
		}
		os.WriteFile(path, b, 0o600)
		_, err := store.Open(ctx, path, store.Options{})
		if err == nil || !(strings.Contains(err.Error(), "corrupt") || strings.Contains(err.Error(), "damaged")) {
			t.Fatalf("got %v, want a corruption error", err)
		}
	})
	t.Run("Locked", func(t *testing.T) {
		// Another program holds an exclusive lock on a database that still
		// needs jitbot's schema.
		path := filepath.Join(t.TempDir(), "j.db")
		other, err := sql.Open("sqlite3", "file:"+path+"?_txlock=exclusive")
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		tx, err := other.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.Exec(`CREATE TABLE other (x)`); err != nil {
			t.Fatal(err)
		}
		_, err = store.Open(ctx, path, store.Options{BusyTimeout: 50 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "locked by another process") {
			t.Fatalf("got %v, want a locked error", err)
		}
	})
	t.Run("ReadOnlyMissing", func(t *testing.T) {
		_, err := store.Open(ctx, filepath.Join(t.TempDir(), "missing.db"), store.Options{ReadOnly: true})
		if err == nil {
			t.Fatal("opening a missing database read-only must fail, not create it")
		}
	})
}

func fileBytes(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAudit_AppendOnly(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "j.db"))
	ctx := context.Background()
	err := db.Update(ctx, func(tx approvals.Tx) error {
		return tx.Append(&approvals.Event{Actor: "system", Action: "test"})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE audit_events SET actor='mallory'`, `DELETE FROM audit_events`} {
		if _, err := db.WriteDB().Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: got %v, want the trigger to refuse it", q, err)
		}
	}
}

func TestTx_CompareAndSet(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "j.db"))
	ctx := context.Background()
	r := &approvals.Request{ID: "r1", Requester: "a@x", Resource: "res", Duration: time.Hour, Reason: "x",
		Rule: "rule", Steps: []approvals.Step{{Approvers: []string{"b@x"}, Quorum: 1}}, CorrelationID: "c",
		State: approvals.StatePending, CreatedAt: time.Now()}
	if err := db.Update(ctx, func(tx approvals.Tx) error { return tx.InsertRequest(r) }); err != nil {
		t.Fatal(err)
	}
	stale := *r
	r.State = approvals.StateApproved
	if err := db.Update(ctx, func(tx approvals.Tx) error { return tx.UpdateRequest(r, approvals.StatePending) }); err != nil {
		t.Fatal(err)
	}
	stale.State = approvals.StateDeclined
	err := db.Update(ctx, func(tx approvals.Tx) error { return tx.UpdateRequest(&stale, approvals.StatePending) })
	if err != approvals.ErrConflict {
		t.Fatalf("stale update: got %v, want ErrConflict", err)
	}
	err = db.View(ctx, func(tx approvals.Tx) error {
		got, err := tx.GetRequest("r1")
		if err == nil && got.State != approvals.StateApproved {
			t.Errorf("state: got %s, want approved", got.State)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A version 2 database's pending jobs come through migration 3 in their
// lanes, with the keys that keep them in order.
func TestMigration3_JobLanes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	db, err := store.OpenAtVersion(ctx, path, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO requests (id, requester, resource, duration_ms, reason, rule, steps, correlation_id, state, created_at)
			VALUES ('r1', 'alice@example.com', 'wiki', 3600000, 'x', 'default', '[]', 'c1', 'approved', 1)`,
		`INSERT INTO grants (id, request_id, person, resource, provider, grp, state, created_at, updated_at)
			VALUES ('g1', 'r1', 'alice@example.com', 'wiki', 'jira', 'wiki-admins', 'provisioning', 1, 1)`,
		`INSERT INTO jobs (kind, request_id, grant_id, payload, run_at, created_at, updated_at) VALUES ('provision', 'r1', 'g1', '', 1, 1, 1)`,
		`INSERT INTO jobs (kind, request_id, payload, run_at, created_at, updated_at) VALUES ('notify', 'r1', 'approved', 1, 1, 1)`,
	} {
		if _, err := db.WriteDB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	db = open(t, path)
	var jobs []*approvals.Job
	if err := db.View(ctx, func(tx approvals.Tx) error {
		var err error
		jobs, err = tx.(*store.Tx).PendingJobs("")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 {
		t.Fatalf("pending jobs after migrating: got %d, want 2", len(jobs))
	}
	want := []struct {
		lane      approvals.Lane
		key, note string
	}{
		{approvals.LaneAccess, approvals.Membership{Provider: "jira", Group: "wiki-admins", Person: "alice@example.com"}.JobKey(), ""},
		{approvals.LaneMessage, "request:r1", "approved"},
	}
	for i, w := range want {
		if j := jobs[i]; j.Lane != w.lane || j.Key != w.key || j.Note != w.note {
			t.Errorf("job %d: got lane %q key %q note %q, want %q %q %q", i, j.Lane, j.Key, j.Note, w.lane, w.key, w.note)
		}
	}
}

// Integrity item 2: two `jitbot run` on one SQLite file would both work
// its jobs. The second refuses to start, saying why; the CLI's other
// commands still open the database.
func TestIntegrity2_SecondRunnerRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jitbot.db")
	first, err := store.Open(ctx, path, store.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Open(ctx, path, store.Options{Exclusive: true})
	if err == nil || !strings.Contains(err.Error(), "another jitbot is already running") || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("second runner: got %v, want a refusal that says another jitbot runs and points to PostgreSQL", err)
	}
	cli, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatalf("a CLI command beside the runner: %v", err)
	}
	cli.Close()
	first.Close()
	again, err := store.Open(ctx, path, store.Options{Exclusive: true})
	if err != nil {
		t.Fatalf("after the first runner stopped: %v", err)
	}
	again.Close()
}

// Integrity item 1: the record of a membership change the engine is about
// to make is written with synchronous=FULL (on disk when the call returns);
// other writes keep NORMAL.
func TestIntegrity1_IntentDurable(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "jitbot.db"))
	ctx := context.Background()
	mode := func(tx approvals.Tx) int {
		var m int
		if err := tx.(*store.Tx).QueryRowForTest(`PRAGMA synchronous`).Scan(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	var durable, normal int
	if err := db.UpdateDurable(ctx, func(tx approvals.Tx) error { durable = mode(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx approvals.Tx) error { normal = mode(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	if durable != 2 || normal != 1 {
		t.Errorf("synchronous: durable write %d, ordinary write %d; want 2 (FULL) and 1 (NORMAL)", durable, normal)
	}
}

// Integrity item 2: a membership record is never overwritten; bot never
// becomes standing.
func TestIntegrity2_InsertMembershipNeverOverwrites(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "jitbot.db"))
	ctx := context.Background()
	m := approvals.Membership{Provider: "jira", Group: "jira-admins", Person: "alice@example.com"}
	var first, second bool
	err := db.Update(ctx, func(tx approvals.Tx) error {
		var err error
		if first, err = tx.InsertMembership(&approvals.MembershipRecord{Membership: m, Origin: approvals.OriginBot, Since: time.UnixMilli(1)}); err != nil {
			return err
		}
		second, err = tx.InsertMembership(&approvals.MembershipRecord{Membership: m, Origin: approvals.OriginStanding, Since: time.UnixMilli(2)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !first || second {
		t.Fatalf("inserted: first %v second %v, want true then false", first, second)
	}
	var rec *approvals.MembershipRecord
	db.View(ctx, func(tx approvals.Tx) error { rec, err = tx.GetMembership(m); return err })
	if err != nil || rec.Origin != approvals.OriginBot {
		t.Fatalf("record: %+v %v, want origin bot", rec, err)
	}
}

// Integrity item 12: different bytes never hash the same. Invalid UTF-8 is
// normalised before it is hashed and stored, and a stored event edited to
// hold invalid bytes fails verification.
func TestIntegrity12_InvalidUTF8(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "jitbot.db"))
	ctx := context.Background()
	err := db.Update(ctx, func(tx approvals.Tx) error {
		for _, reason := range []string{"fired \xff", "fired \xfe"} {
			if err := tx.Append(&approvals.Event{Time: time.UnixMilli(1), Actor: "system", Action: "test", Reason: reason,
				Data: map[string]string{"note\xff": "x\xfe"}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	rows, _ := db.ReadDB().Query(`SELECT reason, data FROM audit_events ORDER BY seq`)
	for rows.Next() {
		var r, d string
		rows.Scan(&r, &d)
		reasons = append(reasons, r)
		if !utf8.ValidString(r) || !utf8.ValidString(d) {
			t.Errorf("stored text is not UTF-8: %q %q", r, d)
		}
	}
	rows.Close()
	if len(reasons) != 2 || reasons[0] != "fired \uFFFD" {
		t.Fatalf("stored reasons: %q", reasons)
	}
	if _, err := audit.Verify(ctx, db); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// A tamperer drops the trigger and writes invalid bytes.
	for _, q := range []string{`DROP TRIGGER audit_events_no_update`, "UPDATE audit_events SET reason = CAST(X'6669726564FE' AS TEXT) WHERE seq = 2"} {
		if _, err := db.WriteDB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := audit.Verify(ctx, db); err == nil || !strings.Contains(err.Error(), "not UTF-8") {
		t.Fatalf("verify after the edit: %v, want it refused for bytes that are not UTF-8", err)
	}
}

// A database made by main before the store was written once for both
// engines (fd0cdaf, schema version 5; testdata holds its .dump) opens with
// this jitbot and ends with the same tables, indexes and triggers as a
// database this jitbot creates, its chain as it was.
func TestOpen_DatabaseOfOlderMain(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	oldPath, newPath := filepath.Join(dir, "old.db"), filepath.Join(dir, "new.db")
	dump := storetest.ReadDump(t, "testdata/sqlite-main-fd0cdaf.sql.gz")
	raw, err := sql.Open("sqlite3", oldPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(dump); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	schema := func(path string) []string {
		db, err := store.Open(ctx, path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.ReadDB().QueryContext(ctx, `SELECT type || ' ' || name || ' on ' || tbl_name || ': ' || coalesce(sql, '')
			FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, strings.Join(strings.Fields(s), " "))
		}
		if path == oldPath {
			res, err := audit.Verify(ctx, db)
			if err != nil || res.Count != 16 || res.Head.Hash != "ea94461ccf830772b01776b4699fc2849457abf40f1f753de54f8ce03293dbb9" {
				t.Errorf("the older chain after open: %d events, head %s, %v; want 16 to ea94461c…", res.Count, res.Head, err)
			}
		}
		return out
	}
	got, want := schema(oldPath), schema(newPath)
	var d []string
	for _, l := range got {
		if !slices.Contains(want, l) {
			d = append(d, "- "+l)
		}
	}
	for _, l := range want {
		if !slices.Contains(got, l) {
			d = append(d, "+ "+l)
		}
	}
	if len(d) > 0 {
		t.Errorf("the older database after open differs from a new one (- older, + new):\n%s", strings.Join(d, "\n"))
	}
}
