package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/idpfake"
)

// jitbot directory sync and show, and policy explain naming the manager's
// source, against the local Okta: a sync, a changed manager recorded, a
// failing Okta keeping the last good directory, and the policy file's own
// entry winning.
func TestCLI_Directory(t *testing.T) {
	f := idpfake.NewOkta(t, idpfake.Options{})
	boss := f.AddUser(idpfake.User{Email: "boss@example.com", Department: "Eng", Employment: "Employee"})
	f.AddUser(idpfake.User{Email: "vp@example.com", Login: "vp.login", Department: "Eng", Employment: "Employee"})
	f.AddUser(idpfake.User{Email: "alice@example.com", Department: "Eng", Manager: boss, Employment: "Employee"})
	f.AddUser(idpfake.User{Email: "carol@example.com", Department: "Sales", Manager: "vp.login", Employment: "Intern"})
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	must(t, os.WriteFile(policy, []byte(`directory:
  people:
    - {email: carol@example.com, department: Finance}
  sources:
    - okta: {url: `+f.URL()+`}
  employment_values: {Employee: internal}
resources:
  - {id: okta-admins, provider: okta, group: Okta Admins}
rules:
  - name: manager approves
    then:
      approvals:
        - approvers: [manager]
`), 0o600))
	env := map[string]string{"JITBOT_POLICY": policy, "JITBOT_DB": filepath.Join(dir, "j.db"), "OKTA_API_TOKEN": f.Token()}
	// The CLI's sync needs a database: jitbot run creates it.
	seedDB(t, env["JITBOT_DB"])

	code, out, errOut := runCLI(t, env, "directory", "sync")
	if code != exitFailure || !strings.Contains(out, "directory synced: 4 people (okta 4), 0 changes") ||
		!strings.Contains(out, `carol@example.com: employment value "Intern" is not in employment_values`) {
		t.Fatalf("sync: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, env, "directory", "show", "carol@example.com")
	for _, want := range []string{"department: Finance  (from policy)", "manager:    vp@example.com  (from okta)", "employment: (none)", "account:    okta user "} {
		if !strings.Contains(out, want) {
			t.Errorf("show carol: exit %d, want %q in\n%s", code, want, out)
		}
	}
	code, out, errOut = runCLI(t, env, "policy", "explain", "--requester", "alice@example.com", "--resource", "okta-admins")
	if code != 0 || !strings.Contains(out, "manager:       boss@example.com (from okta)") {
		t.Errorf("explain: exit %d\n%s%s", code, out, errOut)
	}

	f.SetDown(true)
	code, _, errOut = runCLI(t, env, "directory", "sync")
	if code != exitFailure || !strings.Contains(errOut, "directory source okta failed") || !strings.Contains(errOut, "the last good directory is kept") ||
		strings.Contains(errOut, f.Token()) {
		t.Fatalf("sync with Okta down: exit %d %q", code, errOut)
	}
	code, out, _ = runCLI(t, env, "directory", "show", "alice@example.com")
	if code != 0 || !strings.Contains(out, "manager:    boss@example.com  (from okta)") {
		t.Errorf("the last good directory was not kept: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, env, "audit", "export")
	if code != 0 || !strings.Contains(out, `"directory.synced"`) || !strings.Contains(out, `"directory.refused"`) {
		t.Errorf("audit: exit %d\n%s", code, out)
	}
}

// policy check --online finds the IdP's groups and says which one is
// synced from another directory.
func TestCLI_PolicyCheckOnlineIdP(t *testing.T) {
	f := idpfake.NewOkta(t, idpfake.Options{})
	f.AddUser(idpfake.User{Email: "boss@example.com"})
	f.AddGroup("Okta Admins")
	f.SetSynced(f.AddGroup("AD Admins"), true)
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	must(t, os.WriteFile(policy, []byte(`directory:
  people: [{email: boss@example.com}]
  sources: [{okta: {url: `+f.URL()+`}}]
resources:
  - {id: okta-admins, provider: okta, group: Okta Admins}
  - {id: ad-admins, provider: okta, group: AD Admins}
  - {id: gone, provider: okta, group: Gone}
rules:
  - {name: all, then: {approvals: [{approvers: [boss@example.com]}]}}
`), 0o600))
	env := map[string]string{"OKTA_API_TOKEN": f.Token()}
	code, out, errOut := runCLI(t, env, "policy", "check", "--online", policy)
	if code != exitFailure || !strings.Contains(errOut+out, "group Gone does not exist in Okta org "+f.URL()) {
		t.Fatalf("got exit %d\n%s%s; want the missing group named", code, out, errOut)
	}
	must(t, os.WriteFile(policy, []byte(strings.Replace(mustRead(t, policy), "  - {id: gone, provider: okta, group: Gone}\n", "", 1)), 0o600))
	code, out, errOut = runCLI(t, env, "policy", "check", "--online", policy)
	if code != 0 || !strings.Contains(out, "note: okta group AD Admins is synced from another directory") || strings.Contains(out, "Okta Admins is synced") {
		t.Fatalf("got exit %d\n%s%s; want AD Admins noted as synced", code, out, errOut)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return string(b)
}
