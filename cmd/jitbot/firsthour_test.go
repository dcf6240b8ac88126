package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jitbot/jitbot/store"
)

// TestMain lets a test run this binary's command line in a child process,
// as another user: a read-only copy must be read by someone who cannot
// write it, which root (the CI's user) never is in-process.
func TestMain(m *testing.M) {
	if args := os.Getenv("JITBOT_TEST_RUN_CLI"); args != "" {
		var argv []string
		if err := json.Unmarshal([]byte(args), &argv); err != nil {
			panic(err)
		}
		// A child stops on SIGTERM as jitbot does (the failover test).
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Run(ctx, argv, os.Stdin, os.Stdout, os.Stderr, os.Getenv)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// runUnprivileged runs the command line as a user who may not write dir:
// in a child process as nobody when the tests run as root, else in-process.
func runUnprivileged(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return runCLI(t, env, args...)
	}
	argv, _ := json.Marshal(args)
	// The test binary lives in a folder only root may enter.
	bin := filepath.Join(os.TempDir(), "jitbot-cli-test-"+strconv.Itoa(os.Getpid()))
	if _, err := os.Stat(bin); err != nil {
		data, err := os.ReadFile(os.Args[0])
		must(t, err)
		must(t, os.WriteFile(bin, data, 0o755))
	}
	t.Cleanup(func() { os.Remove(bin) })
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = []string{"JITBOT_TEST_RUN_CLI=" + string(argv), "PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Dir = "/"
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// seedDB creates a jitbot database at path with a few audit events, as a
// bot that ran and stopped cleanly leaves it.
func seedDB(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx approvals.Tx) error {
		for i := 0; i < 3; i++ {
			if err := tx.Append(&approvals.Event{Time: time.Date(2026, 11, 23, 9, i, 0, 0, time.UTC), Actor: "system",
				Action: "test.event", Subject: "alice@example.com", Reason: "seeded"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

// Issue 14 defect 3: an auditor could not verify a read-only copy. Read
// commands open the database read-only, never create or migrate it, and
// work on a read-only file in a read-only folder; a missing database gets
// "no jitbot database at PATH".
func TestFirstHour3_ReadOnlyCopy(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "evidence")
	must(t, os.Mkdir(dir, 0o755))
	path := filepath.Join(dir, "jitbot.db")
	seedDB(t, path)
	must(t, os.Chmod(path, 0o444))
	must(t, os.Chmod(dir, 0o555))
	must(t, os.Chmod(base, 0o755))
	must(t, os.Chmod(filepath.Dir(base), 0o755)) // t.TempDir's own parent
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	before := listDir(t, dir)
	env := map[string]string{"JITBOT_DB": path}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "verify"}, "ok: 3 events"},
		{[]string{"audit", "export", "--format", "csv"}, "seq,id,time"},
		{[]string{"report", "person", "alice@example.com"}, "History of alice@example.com"},
		{[]string{"grants", "list"}, "(no grants)"},
	} {
		code, out, errOut := runUnprivileged(t, env, tc.args...)
		if code != exitOK || !strings.Contains(out, tc.want) {
			t.Errorf("%v on a read-only copy: got exit %d, %q %q; want %q", tc.args, code, out, errOut, tc.want)
		}
	}
	if after := listDir(t, dir); after != before {
		t.Errorf("the read-only folder changed: got %q, want %q", after, before)
	}

	missing := filepath.Join(base, "nope.db")
	for _, args := range [][]string{{"audit", "verify"}, {"audit", "export"}, {"report", "person", "a@x.io"}, {"grants", "list"},
		{"report", "access", "--resource", "r"}, {"grants", "revoke", "abc", "--reason", "x"}} {
		code, _, errOut := runCLI(t, map[string]string{"JITBOT_DB": missing}, args...)
		if code != exitFailure || !strings.Contains(errOut, "no jitbot database at "+missing) {
			t.Errorf("%v on a missing database: got exit %d, %q; want \"no jitbot database at %s\"", args, code, errOut, missing)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("a read command created the missing database")
	}
}

// Issue 14 defect 4: jitbot run adopted another application's SQLite file,
// adding its tables beside theirs.
func TestFirstHour4_ForeignSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crm.db")
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers (name) VALUES ('acme')`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	before, _ := os.ReadFile(path)
	env := map[string]string{"JITBOT_DB": path, "JITBOT_POLICY": examplePolicy(t)}
	for _, args := range [][]string{{"run", "--dry-run"}, {"audit", "verify"}, {"audit", "anchor"}} {
		code, _, errOut := runCLI(t, env, args...)
		if code != exitFailure || !strings.Contains(errOut, "not a jitbot database") || !strings.Contains(errOut, "customers") {
			t.Errorf("%v on another application's database: got exit %d, %q; want it refused naming its tables", args, code, errOut)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the other application's database was modified")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Issue 14 defect 2: grants revoke quietly needed the policy file and
// failed from another folder with a bare "open policy.yaml". Commands that
// do not need the policy do not read it; those that do name the file they
// looked for and how to name another.
func TestFirstHour2_PolicyOnlyWhereNeeded(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "j.db")
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := loadPolicy(examplePolicy(t), "")
	if err != nil {
		t.Fatal(err)
	}
	svc := approvals.New(approvals.Config{Store: db, Policy: p})
	r, err := svc.Submit(ctx, approvals.SubmitInput{Requester: "alice@example.com", Resource: "confluence-finance", Duration: time.Hour, Reason: "close"})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	// The tests run in cmd/jitbot, where there is no policy.yaml.
	env := map[string]string{"JITBOT_DB": path}
	code, out, errOut := runCLI(t, env, "grants", "revoke", approvals.Short(r.ID), "--reason", "done")
	if code != exitOK || !strings.Contains(out, "revoked") {
		t.Fatalf("grants revoke without a policy file: got exit %d, %q %q; want it revoked", code, out, errOut)
	}
	for _, args := range [][]string{{"grants", "list"}, {"audit", "verify"}, {"report", "person", "alice@example.com"}} {
		if code, _, errOut := runCLI(t, env, args...); code != exitOK {
			t.Errorf("%v without a policy file: got exit %d, %q", args, code, errOut)
		}
	}

	abs, _ := filepath.Abs("policy.yaml")
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{env, []string{"policy", "explain", "--requester", "a@x.io", "--resource", "r"}, "no policy file at " + abs + " (from the default); name another with --policy FILE or JITBOT_POLICY"},
		{env, []string{"policy", "check"}, "no policy file at " + abs + " (from the default)"},
		{env, []string{"policy", "check", "elsewhere.yaml"}, "(from the argument)"},
		{map[string]string{"JITBOT_POLICY": "/nowhere/p.yaml"}, []string{"policy", "check"}, "no policy file at /nowhere/p.yaml (from JITBOT_POLICY)"},
		{map[string]string{"JITBOT_DB": path}, []string{"run", "--dry-run", "--policy", "/nowhere/p.yaml"}, "jitbot will not start: no policy file at /nowhere/p.yaml (from --policy)"},
	} {
		code, _, errOut := runCLI(t, tc.env, tc.args...)
		if code != exitFailure || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: got exit %d, %q; want exit 1 saying %q", tc.args, code, errOut, tc.want)
		}
	}
}

// Issue 14 defect 7: the CLI's rough edges.
func TestFirstHour7_CLIRoughEdges(t *testing.T) {
	t.Run("FlagArgumentNames", func(t *testing.T) {
		_, out, _ := runCLI(t, nil, "audit", "verify", "--help")
		if !strings.Contains(out, "-anchor SEQ:HASH") || strings.Contains(out, "-anchor jitbot") {
			t.Errorf("audit verify --help: got %q, want -anchor SEQ:HASH", out)
		}
	})
	t.Run("OnlyTheFlagsUsed", func(t *testing.T) {
		for _, tc := range []struct {
			args          []string
			want, notWant []string
		}{
			{[]string{"grants", "list"}, []string{"-db", "-active"}, []string{"-policy", "-log-level", "-log-format"}},
			{[]string{"grants", "revoke"}, []string{"-db", "-reason"}, []string{"-policy", "-log-level"}},
			{[]string{"audit", "verify"}, []string{"-db", "-anchor"}, []string{"-policy", "-log-format"}},
			{[]string{"report", "person"}, []string{"-db"}, []string{"-policy", "-log-level"}},
			{[]string{"policy", "check"}, []string{"-policy", "-online"}, []string{"-db", "-log-level"}},
			{[]string{"policy", "explain"}, []string{"-policy", "-requester", "-db"}, []string{"-log-format"}}, // -db: the synced directory (directory.sources)
			{[]string{"run"}, []string{"-policy", "-db", "-log-level", "-dry-run", "-reconcile-interval"}, nil},
		} {
			_, out, _ := runCLI(t, nil, append(tc.args, "--help")...)
			for _, w := range tc.want {
				if !strings.Contains(out, "  "+w+" ") && !strings.Contains(out, "  "+w+"\n") {
					t.Errorf("%v --help lacks %s:\n%s", tc.args, w, out)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, "  "+w+" ") || strings.Contains(out, "  "+w+"\n") {
					t.Errorf("%v --help lists %s, which it does not use:\n%s", tc.args, w, out)
				}
			}
		}
		if code, _, errOut := runCLI(t, nil, "audit", "verify", "--policy", "p.yaml"); code != exitUsage {
			t.Errorf("audit verify --policy: got exit %d (%q), want 2", code, errOut)
		}
	})
	t.Run("ExtraArguments", func(t *testing.T) {
		for _, args := range [][]string{{"grants", "list", "extra"}, {"audit", "verify", "x"}, {"audit", "export", "x"},
			{"report", "person", "a@x.io", "b@x.io"}, {"report", "access", "--resource", "r", "x"}, {"version", "x"},
			{"policy", "check", "a.yaml", "b.yaml"}, {"grants", "revoke", "id1", "id2", "--reason", "x"}, {"run", "now"}} {
			code, _, errOut := runCLI(t, nil, args...)
			if code != exitUsage || !(strings.Contains(errOut, "takes no arguments") || strings.Contains(errOut, "unexpected argument")) {
				t.Errorf("%v: got exit %d, %q; want exit 2 refusing the extra argument", args, code, errOut)
			}
		}
	})
	t.Run("ErrorPrefixOnce", func(t *testing.T) {
		env := map[string]string{"ATLASSIAN_SITE_URL": "https://x.atlassian.net", "ATLASSIAN_EMAIL": "a@b.c"}
		code, _, errOut := runCLI(t, env, "policy", "check", examplePolicy(t), "--online")
		if code != exitFailure || strings.Count(errOut, "provider jira:") != 1 {
			t.Errorf("got exit %d, %q; want provider jira: once", code, errOut)
		}
	})
	t.Run("UnknownResource", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "j.db")
		seedDB(t, path)
		code, _, errOut := runCLI(t, map[string]string{"JITBOT_DB": path}, "report", "access", "--resource", "nope")
		if code != exitFailure || !strings.Contains(errOut, `unknown resource "nope"`) {
			t.Errorf("report access --resource nope: got exit %d, %q; want it called unknown", code, errOut)
		}
	})
}

// Issue 14 defect 1: policy check accepted rules that can never be met
// (quorum 3 with approvers [manager]) and 100000d; a group's size is known
// only online.
func TestFirstHour1_PolicyCheckUnmeetableRules(t *testing.T) {
	dir := t.TempDir()
	write := func(name, rules string) string {
		path := filepath.Join(dir, name)
		must(t, os.WriteFile(path, []byte(`directory:
  people:
    - {email: a@x.io, manager: b@x.io}
    - {email: b@x.io}
resources:
  - {id: r, provider: dryrun, group: r}
rules:
`+rules), 0o600))
		return path
	}
	bad := write("bad.yaml", "  - then: {approvals: [{approvers: [manager], quorum: 3}], max_duration: 100000d}\n")
	code, _, errOut := runCLI(t, nil, "policy", "check", bad)
	for _, want := range []string{"bad.yaml:8:55: quorum 3 can never be met", "bad.yaml:8:74: max_duration: 100000d is longer than the limit of 365d"} {
		if code != exitFailure || !strings.Contains(errOut, want) {
			t.Errorf("policy check: got exit %d, %q; want exit 1 with %q", code, errOut, want)
		}
	}

	groups := write("groups.yaml", "  - then: {approvals: [{approvers: [group:it-leads], quorum: 2}, {approvers: [group:nobody]}]}\n")
	if code, out, errOut := runCLI(t, nil, "policy", "check", groups); code != exitOK {
		t.Fatalf("offline, a group's size is unknown: got exit %d, %q %q; want ok", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, nil, "policy", "check", groups, "--online"); code != exitOK || !strings.Contains(errOut, "Slack user groups not checked") {
		t.Errorf("--online without a Slack token: got exit %d, %q; want ok with a note", code, errOut)
	}
	srv := localslack.New(t, localslack.Options{})
	srv.AddUser(localslack.User{ID: "U1", Name: "dave", Email: "dave@x.io"})
	srv.AddUserGroup("S1", "it-leads", "U1")
	env := map[string]string{"SLACK_BOT_TOKEN": srv.BotToken(), "SLACK_API_URL": srv.APIURL()}
	code, _, errOut = runCLI(t, env, "policy", "check", groups, "--online")
	for _, want := range []string{"groups.yaml:8:62: quorum 2 can never be met: the step's approvers are at most 1 people (group:it-leads has 1 members)",
		"there is no user group @nobody"} {
		if code != exitFailure || !strings.Contains(errOut, want) {
			t.Errorf("--online: got exit %d, %q; want exit 1 with %q", code, errOut, want)
		}
	}
	srv.SetUserGroupMembers("S1", "U1", "U2")
	srv.AddUserGroup("S2", "nobody", "U1")
	if code, out, errOut := runCLI(t, env, "policy", "check", groups, "--online"); code != exitOK {
		t.Errorf("--online with groups large enough: got exit %d, %q %q", code, out, errOut)
	}
}

// Issue 14 defect 8: without ../shared/specs the contract tests were
// skipped invisibly. The fakes say so once per test binary (package) on
// stderr, without -v.
func TestFirstHour8_SpecNoticeOncePerPackage(t *testing.T) {
	if os.Getenv("JITBOT_TEST_SPEC_NOTICE") == "1" {
		// The working directory has no shared/specs above it.
		for i := 0; i < 2; i++ {
			localslack.New(t, localslack.Options{})
			atlassianfake.New(t, atlassianfake.Options{})
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFirstHour8_SpecNoticeOncePerPackage$")
	cmd.Env = append(os.Environ(), "JITBOT_TEST_SPEC_NOTICE=1")
	cmd.Dir = t.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s%s", err, out.String(), errb.String())
	}
	for _, want := range []string{"localslack: ", "atlassianfake: "} {
		if n := strings.Count(errb.String(), want); n != 1 || !strings.Contains(errb.String(), "not validated") {
			t.Errorf("stderr: got %d notices from %s in %q, want exactly 1", n, strings.TrimSpace(want), errb.String())
		}
	}
}
