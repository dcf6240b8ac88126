package google

import (
	"fmt"
	"testing"

	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/internal/idpfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/idp/idptest"
)

func newGoogle(t *testing.T, f *idpfake.Google) *Google {
	t.Helper()
	g, err := New(Config{Credentials: f.ServiceAccountJSON(), Subject: f.Subject(), APIURL: f.URL(),
		Transport: atlassian.Options{BackoffBase: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Google's manager relation holds an email (any case).
func ref(i int) string { return fmt.Sprintf("U%d@EXAMPLE.com", i-1) }

func TestGoogle_People(t *testing.T) {
	f := idpfake.NewGoogle(t, idpfake.Options{})
	idptest.Fill(f, 1000, ref)
	g := newGoogle(t, f)
	idptest.People(t, g, 1000)
	if got := f.Calls("GET /admin/directory/v1/users"); got != 2 {
		t.Errorf("got %d pages, want 2 of 500", got)
	}
	if got := f.TokensIssued(); got != 1 {
		t.Errorf("got %d tokens, want 1 (cached until it expires)", got)
	}
	idptest.Down(t, f, g)
}

// A sync dropping 15 % of the people is refused as suspicious, one with
// Google down too; the last good directory stays.
func TestGoogle_SuspiciousSync(t *testing.T) {
	f := idpfake.NewGoogle(t, idpfake.Options{})
	idptest.Fill(f, 200, ref)
	idptest.Suspicious(t, f, newGoogle(t, f), 200, 30)
}

func TestGoogle_AddRemoveUnderRateLimit(t *testing.T) {
	for _, use429 := range []bool{false, true} {
		t.Run(fmt.Sprintf("429=%v", use429), func(t *testing.T) {
			f := idpfake.NewGoogle(t, idpfake.Options{Google429: use429})
			idptest.Fill(f, 20, ref)
			idptest.AddRemove(t, f, newGoogle(t, f), Name, 8, 20, 1)
		})
	}
}

func TestGoogle_SuspendRestore(t *testing.T) {
	f := idpfake.NewGoogle(t, idpfake.Options{})
	idptest.Fill(f, 3, ref)
	idptest.SuspendRestore(t, f, newGoogle(t, f))
}

// A map other than the default reads the attributes it names.
func TestGoogle_PeopleMapped(t *testing.T) {
	f := idpfake.NewGoogle(t, idpfake.Options{})
	idptest.Fill(f, 3, ref)
	g, err := New(Config{Credentials: f.ServiceAccountJSON(), Subject: f.Subject(), APIURL: f.URL(),
		Map: directory.Map{Department: "organizations[].description", Employment: "organizations[].department"}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := directory.Collect(t.Context(), g)
	if err != nil || len(l.Entries) != 3 || l.Entries[1].Department != "Employee" || l.Entries[1].Employment != "Eng" || l.Entries[1].Manager != "U0@EXAMPLE.com" {
		t.Fatalf("got %+v, %v", l.Entries, err)
	}
}
