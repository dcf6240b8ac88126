package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// checkGolden compares got with testdata/check/name.golden.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "check", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/jitbot -run PolicyCheckGolden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs; if the change is meant, run go test ./cmd/jitbot -run PolicyCheckGolden -update and review the diff.\ngot:\n%s", path, got)
	}
}

// policy check over the example (nothing found), over a policy with one
// of each finding (refused: it has errors), and over one with warnings
// only (ok, unless --strict).
func TestCLI_PolicyCheckGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"example", []string{"policy", "check", "../../examples/policy.yaml"}, exitOK},
		{"findings", []string{"policy", "check", "testdata/check/findings.yaml"}, exitFailure},
		{"warnings", []string{"policy", "check", "testdata/check/warnings.yaml"}, exitOK},
		{"warnings_strict", []string{"policy", "check", "--strict", "testdata/check/warnings.yaml"}, exitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			checkGolden(t, tc.name, "stdout:\n"+out+"stderr:\n"+errOut)
		})
	}
}

// explain shows the effective maximum and the findings that touch the
// request.
func TestCLI_PolicyExplainFindings(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "policy", "explain", "--policy", "testdata/check/warnings.yaml",
		"--requester", "dev1@example.com", "--resource", "jira-software")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"max duration:  8h (the resource's maximum; the rule's max_duration 30d does not apply)\n",
		`finding:       testdata/check/warnings.yaml:12:63: warning: max_duration 30d of rule "Jira for a month" is longer than anything it grants can be given: the effective maximum is 8h (the resources' own max_duration)` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "externals") {
		t.Errorf("explain shows a finding about another rule:\n%s", out)
	}
}
