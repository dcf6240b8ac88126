package entra

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/internal/idpfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/idp/idptest"
)

func newEntra(t *testing.T, f *idpfake.Entra, secret string) *Entra {
	t.Helper()
	e, err := New(Config{Tenant: f.Tenant(), ClientID: f.ClientID(), ClientSecret: atlassian.Secret(secret),
		Authority: f.URL(), GraphURL: f.URL(), Transport: atlassian.Options{BackoffBase: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Graph's manager is a relation: the manager's object id.
func ref(i int) string { return idptest.ID(i - 1) }

func TestEntra_People(t *testing.T) {
	f := idpfake.NewEntra(t, idpfake.Options{})
	idptest.Fill(f, 1000, ref)
	e := newEntra(t, f, f.ClientSecret())
	idptest.People(t, e, 1000)
	if got := f.Calls("GET /v1.0/users"); got != 2 {
		t.Errorf("got %d pages, want 2 of 999", got)
	}
	if got := f.TokensIssued(); got != 1 {
		t.Errorf("got %d tokens, want 1 (cached until it expires)", got)
	}
	idptest.Down(t, f, e, f.ClientSecret())
}

// A sync dropping 15 % of the people is refused as suspicious, one with
// Entra down too; the last good directory stays.
func TestEntra_SuspiciousSync(t *testing.T) {
	f := idpfake.NewEntra(t, idpfake.Options{})
	idptest.Fill(f, 200, ref)
	idptest.Suspicious(t, f, newEntra(t, f, f.ClientSecret()), 200, 30)
}

func TestEntra_BadSecret(t *testing.T) {
	f := idpfake.NewEntra(t, idpfake.Options{})
	idptest.Fill(f, 3, ref)
	secret := "wrong-secret-0123456789"
	err := newEntra(t, f, secret).CheckGroups(t.Context(), []string{"x"})
	if err == nil || !strings.Contains(err.Error(), "invalid_client") || strings.Contains(err.Error(), secret) {
		t.Fatalf("got %v, want invalid_client named and the secret kept out", err)
	}
}

func TestEntra_AddRemoveUnderRateLimit(t *testing.T) {
	f := idpfake.NewEntra(t, idpfake.Options{})
	idptest.Fill(f, 20, ref)
	e := newEntra(t, f, f.ClientSecret())
	f.SetUnavailable(1) // a 503 with Retry-After first
	idptest.AddRemove(t, f, e, Name, 6, 10, 1)
}

func TestEntra_SuspendRestore(t *testing.T) {
	f := idpfake.NewEntra(t, idpfake.Options{})
	idptest.Fill(f, 3, ref)
	idptest.SuspendRestore(t, f, newEntra(t, f, f.ClientSecret()))
}

// A map other than the default reads the properties it names.
func TestEntra_PeopleMapped(t *testing.T) {
	f := idpfake.NewEntra(t, idpfake.Options{})
	idptest.Fill(f, 3, ref)
	e, err := New(Config{Tenant: f.Tenant(), ClientID: f.ClientID(), ClientSecret: atlassian.Secret(f.ClientSecret()),
		Authority: f.URL(), GraphURL: f.URL(), Map: directory.Map{Department: "employeeType", Employment: "department"}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := directory.Collect(t.Context(), e)
	if err != nil || len(l.Entries) != 3 || l.Entries[1].Department != "Employee" || l.Entries[1].Employment != "Eng" || l.Entries[1].Manager != idptest.ID(0) {
		t.Fatalf("got %+v, %v", l.Entries, err)
	}
}
