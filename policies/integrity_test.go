package policies

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 10 item 15: directory.file read any file and echoed it (file:
// /proc/self/environ printed the environment in policy check). The path is
// confined to the policy's folder, and no value of the file is repeated in
// a problem.
func TestIntegrity15_DirectoryFileConfined(t *testing.T) {
	const secret = "TOKEN=s3cr3t-value"
	root := t.TempDir()
	dir := filepath.Join(root, "policy")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(root, "outside.csv")
	must(t, os.WriteFile(outside, []byte("c@x.io,IT\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "people.csv"), []byte("c@x.io,IT\n"), 0o600))
	must(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "sub", "staff.csv"), []byte("d@x.io,IT\n"), 0o600))
	must(t, os.Symlink(outside, filepath.Join(dir, "escape.csv")))
	must(t, os.Symlink("/proc/self/environ", filepath.Join(dir, "environ.csv")))
	must(t, os.Symlink("sub/staff.csv", filepath.Join(dir, "inside.csv")))
	must(t, os.WriteFile(filepath.Join(dir, "secrets.csv"), []byte(secret+",x,"+secret+",y\n"+secret+"@x.io\nmail,"+secret+"\n"), 0o600))

	load := func(file string) error {
		path := filepath.Join(dir, "policy.yaml")
		must(t, os.WriteFile(path, []byte(okPeople+"  file: "+file+"\nresources: []\nrules: []\n"), 0o600))
		_, err := Load(path)
		return err
	}
	for _, file := range []string{"people.csv", "sub/staff.csv", "inside.csv", "./people.csv"} {
		if err := load(file); err != nil {
			t.Errorf("file: %s: got %v, want it read", file, err)
		}
	}
	for _, tc := range []struct{ file, want string }{
		{"/proc/self/environ", "relative path inside the policy's folder"},
		{outside, "relative path inside the policy's folder"},
		{"../outside.csv", "relative path inside the policy's folder"},
		{"sub/../../outside.csv", "relative path inside the policy's folder"},
		{"escape.csv", "leads out of the policy's folder"},
		{"environ.csv", "leads out of the policy's folder"},
		{"sub", "not a regular file"},
	} {
		err := load(tc.file)
		var le *LoadError
		if !errors.As(err, &le) || len(le.Problems) != 1 || !strings.Contains(le.Problems[0].Message, tc.want) || le.Problems[0].Line != 5 {
			t.Errorf("file: %s: got %v, want one problem at line 5 saying %q", tc.file, err, tc.want)
		}
	}
	err := load("secrets.csv")
	if err == nil {
		t.Fatal("secrets.csv: got no problem, want its rows refused")
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("a value of the directory file is echoed in the problems:\n%v", err)
	}
	if !strings.Contains(err.Error(), "secrets.csv:1:1: this email is not an email address") {
		t.Errorf("got %v, want the position and what is wrong", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
