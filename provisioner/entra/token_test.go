package entra

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/internal/idpfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/idp/idptest"
	"github.com/jonboulle/clockwork"
)

// newEntraAt is an Entra provider whose tokens' expiry is read on clock;
// hc, when set, sends the Graph requests.
func newEntraAt(t *testing.T, f *idpfake.Entra, clock clockwork.Clock, hc *http.Client) *Entra {
	t.Helper()
	e, err := New(Config{Tenant: f.Tenant(), ClientID: f.ClientID(), ClientSecret: atlassian.Secret(f.ClientSecret()),
		Authority: f.URL(), GraphURL: f.URL(), Clock: clock, Transport: atlassian.Options{BackoffBase: 1, HTTPClient: hc}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// collectAdvancing lists every person, advancing clock by step after each
// page: a sync that lasts several tokens' lives.
func collectAdvancing(t *testing.T, e *Entra, clock *clockwork.FakeClock, step time.Duration) (int, error) {
	t.Helper()
	n := 0
	err := e.People(t.Context(), func(page []directory.Entry) error {
		n += len(page)
		clock.Advance(step)
		return nil
	})
	return n, err
}

func TestEntra_TokenRenewal(t *testing.T) {
	const people = 4 * 999 // four pages
	t.Run("renewed before it expires", func(t *testing.T) {
		// One clock for the tenant and jitbot: tokens live a minute and
		// each page takes 40 s, so the third page needs a second token.
		clock := clockwork.NewFakeClock()
		f := idpfake.NewEntra(t, idpfake.Options{Now: clock.Now, TokenTTL: time.Minute})
		idptest.Fill(f, people, ref)
		e := newEntraAt(t, f, clock, nil)
		n, err := collectAdvancing(t, e, clock, 40*time.Second)
		if err != nil || n != people {
			t.Fatalf("got %d people, %v; want %d", n, err, people)
		}
		if got := f.TokensIssued(); got != 2 {
			t.Errorf("got %d token requests over 160 s of 60 s tokens renewed 10 s early at each page, want 2", got)
		}
		if got := f.Calls("GET /v1.0/users"); got != 4 {
			t.Errorf("got %d page requests, want 4: none refused", got)
		}
	})
	t.Run("renewed once at a 401", func(t *testing.T) {
		// The tenant's clock runs on while jitbot's stands: jitbot
		// believes its token good, Graph says it expired.
		tenant, ours := clockwork.NewFakeClock(), clockwork.NewFakeClock()
		f := idpfake.NewEntra(t, idpfake.Options{Now: tenant.Now, TokenTTL: time.Minute})
		idptest.Fill(f, people, ref)
		e := newEntraAt(t, f, ours, nil)
		n, err := collectAdvancing(t, e, tenant, 40*time.Second)
		if err != nil || n != people {
			t.Fatalf("got %d people, %v; want %d", n, err, people)
		}
		if got := f.TokensIssued(); got != 2 {
			t.Errorf("got %d token requests, want 2: the first, and one after Graph refused it", got)
		}
		if got := f.Calls("GET /v1.0/users"); got != 5 {
			t.Errorf("got %d page requests, want 5: four and the one refused", got)
		}
	})
	t.Run("a second 401 ends the call", func(t *testing.T) {
		f := idpfake.NewEntra(t, idpfake.Options{})
		idptest.Fill(f, 3, ref)
		e := newEntraAt(t, f, clockwork.NewFakeClock(), &http.Client{Transport: badToken{http.DefaultTransport}})
		_, err := directory.Collect(context.Background(), e)
		if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), f.ClientSecret()) {
			t.Fatalf("got %v, want the 401 and no secret", err)
		}
		if got := f.TokensIssued(); got != 2 {
			t.Errorf("got %d token requests, want 2: one renewal, no loop", got)
		}
		if got := f.Calls("GET /v1.0/users"); got != 2 {
			t.Errorf("got %d page requests, want 2", got)
		}
	})
}

// badToken sends every Graph request with a token Graph never issued.
type badToken struct{ rt http.RoundTripper }

func (b badToken) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer not-a-token")
	return b.rt.RoundTrip(r)
}
