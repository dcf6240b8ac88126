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
	for _, tt := range []struct {
		name string
		// skewed: the tenant's clock runs on while jitbot's stands, so
		// jitbot believes its token good when Graph says it expired.
		skewed bool
		pages  int // page requests: one more when Graph refused a token
	}{
		// One clock for both: tokens live a minute and each page takes
		// 40 s, so the third page needs a second token, got before.
		{name: "renewed before it expires", pages: 4},
		{name: "renewed once at a 401", skewed: true, pages: 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tenant := clockwork.NewFakeClock()
			ours := tenant
			if tt.skewed {
				ours = clockwork.NewFakeClock()
			}
			f := idpfake.NewEntra(t, idpfake.Options{Now: tenant.Now, TokenTTL: time.Minute})
			idptest.Fill(f, people, ref)
			e := newEntraAt(t, f, ours, nil)
			n, err := collectAdvancing(t, e, tenant, 40*time.Second)
			if err != nil || n != people {
				t.Fatalf("got %d people, %v; want %d", n, err, people)
			}
			if got := f.TokensIssued(); got != 2 {
				t.Errorf("got %d token requests over 160 s of 60 s tokens, want 2", got)
			}
			if got := f.Calls("GET /v1.0/users"); got != tt.pages {
				t.Errorf("got %d page requests, want %d", got, tt.pages)
			}
		})
	}
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
