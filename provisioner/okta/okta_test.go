package okta

import (
	"fmt"
	"testing"

	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/internal/idpfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/idp/idptest"
)

func newOkta(t *testing.T, f *idpfake.Okta) *Okta {
	t.Helper()
	o, err := New(Config{URL: f.URL(), Token: atlassian.Secret(f.Token()), Transport: atlassian.Options{BackoffBase: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// okta names a manager by id, login or email in turn (profile.managerId
// is free text).
func ref(i int) string {
	switch i % 3 {
	case 0:
		return idptest.ID(i - 1)
	case 1:
		return fmt.Sprintf("LOGIN%d@corp.example.com", i-1)
	}
	return fmt.Sprintf("U%d@Example.com", i-1)
}

func TestOkta_People(t *testing.T) {
	f := idpfake.NewOkta(t, idpfake.Options{})
	idptest.Fill(f, 1000, ref)
	o := newOkta(t, f)
	idptest.People(t, o, 1000)
	if got := f.Calls("GET /api/v1/users"); got != 5 {
		t.Errorf("got %d pages, want 5 of 200", got)
	}
	idptest.Down(t, f, o, f.Token())
}

// A sync dropping 15 % of the people is refused as suspicious, one with
// Okta down too; the last good directory stays.
func TestOkta_SuspiciousSync(t *testing.T) {
	f := idpfake.NewOkta(t, idpfake.Options{})
	idptest.Fill(f, 200, ref)
	idptest.Suspicious(t, f, newOkta(t, f), 200, 30)
}

func TestOkta_AddRemoveUnderRateLimit(t *testing.T) {
	f := idpfake.NewOkta(t, idpfake.Options{})
	idptest.Fill(f, 20, ref)
	idptest.AddRemove(t, f, newOkta(t, f), Name, 10, 20, 10)
}

func TestOkta_SuspendRestore(t *testing.T) {
	f := idpfake.NewOkta(t, idpfake.Options{})
	idptest.Fill(f, 3, ref)
	idptest.SuspendRestore(t, f, newOkta(t, f))
}

// A map other than the default reads the attributes it names.
func TestOkta_PeopleMapped(t *testing.T) {
	f := idpfake.NewOkta(t, idpfake.Options{})
	idptest.Fill(f, 3, ref)
	o, err := New(Config{URL: f.URL(), Token: atlassian.Secret(f.Token()), Map: directory.Map{Department: "userType", Employment: "department"}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := directory.Collect(t.Context(), o)
	if err != nil || len(l.Entries) != 3 || l.Entries[1].Department != "Employee" || l.Entries[1].Employment != "Eng" || l.Entries[1].Manager != ref(1) {
		t.Fatalf("got %+v, %v", l.Entries, err)
	}
}
