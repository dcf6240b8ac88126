package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `jitbot evidence pack` on an installation the bot filled: the folder is
// written from a read-only open, names the command that makes it again
// (never a database URL's password), and refuses a missing period or an
// empty one with a sentence.
func TestCLI_EvidencePack(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jitbot.db")
	seedInstallation(t, path)
	must(t, os.Chmod(path, 0o444)) // it only reads
	t.Cleanup(func() { _ = os.Chmod(path, 0o644) })

	out := filepath.Join(dir, "pack")
	code, stdout, stderr := runCLI(t, map[string]string{"JITBOT_DB": path}, "evidence", "pack", "--from", "2026-11-01", "--to", "2026-11-30", "--out", out)
	if code != exitOK {
		t.Fatalf("evidence pack: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"evidence for 2026-11-01 to 2026-11-30 written to " + out, "2 grants", "chain verified"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("evidence pack printed %q, want it to say %q", stdout, want)
		}
	}
	for _, f := range []string{"index.html", "evidence.pdf", "grants.csv", "decisions.csv", "MANIFEST.sha256"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("the pack has no %s: %v", f, err)
		}
	}
	page, err := os.ReadFile(filepath.Join(out, "index.html"))
	must(t, err)
	if !strings.Contains(string(page), "jitbot evidence pack --db "+path+" --from 2026-11-01 --to 2026-11-30 --out "+out) {
		t.Errorf("index.html does not name the command that makes it again")
	}

	pgURL := "postgres://jitbot:s3cret@127.0.0.1:1/none"
	_, _, stderr = runCLI(t, map[string]string{"JITBOT_DB": pgURL}, "evidence", "pack", "--from", "2026-11-01", "--to", "2026-11-30", "--out", filepath.Join(dir, "pg"))
	if strings.Contains(stderr, "s3cret") {
		t.Errorf("a failed open showed the database password: %s", stderr)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"evidence", "pack", "--from", "2026-11-01", "--out", filepath.Join(dir, "x")}, "needs --from, --to and --out"},
		{[]string{"evidence", "pack", "--from", "2026-12-01", "--to", "2026-11-01", "--out", filepath.Join(dir, "y")}, "the period is empty"},
		{[]string{"evidence", "pack", "--from", "last week", "--to", "2026-11-01", "--out", filepath.Join(dir, "z")}, "--from"},
	} {
		code, _, stderr := runCLI(t, map[string]string{"JITBOT_DB": path}, tc.args...)
		if code == exitOK || !strings.Contains(stderr, tc.want) {
			t.Errorf("jitbot %s: exit %d, %q; want a refusal saying %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
	if code, stdout, stderr := runCLI(t, nil, "evidence", "pack", "--help"); code != exitOK || !strings.Contains(stdout+stderr, "--from") {
		t.Errorf("evidence pack --help: exit %d %s%s", code, stdout, stderr)
	}
}
