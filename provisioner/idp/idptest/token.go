package idptest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/internal/idpfake"
	"github.com/jonboulle/clockwork"
)

// TokenIssuer is a fake IdP that hands out OAuth access tokens (Entra,
// Google).
type TokenIssuer interface {
	TokensIssued() int
	Calls(key string) int
}

// TokenCase is one OAuth IdP in TokenRenewal.
type TokenCase struct {
	// Fake starts the IdP's fake with o, filled with n people by Fill.
	Fake func(o idpfake.Options, n int) TokenIssuer
	// Source is the provider on f whose tokens' expiry is read on clock;
	// hc, when set, sends the API requests (not the token requests).
	Source func(f TokenIssuer, clock clockwork.Clock, hc *http.Client) directory.Source
	// Pages is the fake's call key of a page of people, PageSize the
	// people on a full page.
	Pages    string
	PageSize int
	// Secret is the credential no error may show.
	Secret func(f TokenIssuer) string
}

// TokenRenewal checks that a source keeps its access token on its own
// clock until shortly before the token expires and fetches the next one
// then; that a token the IdP refuses (its clock ahead of ours) is renewed
// at the 401 and the call sent once more; and that a token never accepted
// ends the call after one renewal, with no loop and no secret in the
// error.
func TokenRenewal(t *testing.T, c TokenCase) {
	people := 4 * c.PageSize // four pages
	for _, tt := range []struct {
		name string
		// skewed: the IdP's clock runs on while ours stands, so we
		// believe the token good when the IdP says it expired.
		skewed bool
		pages  int // page requests: one more when the IdP refused a token
	}{
		// One clock for both: tokens live a minute and each page takes
		// 40 s, so the third page needs a second token, got before.
		{name: "renewed before it expires", pages: 4},
		{name: "renewed once at a 401", skewed: true, pages: 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			idpClock := clockwork.NewFakeClock()
			ours := idpClock
			if tt.skewed {
				ours = clockwork.NewFakeClock()
			}
			f := c.Fake(idpfake.Options{Now: idpClock.Now, TokenTTL: time.Minute}, people)
			src := c.Source(f, ours, nil)
			n := 0
			err := src.People(t.Context(), func(page []directory.Entry) error {
				n += len(page)
				idpClock.Advance(40 * time.Second) // a sync longer than a token's life
				return nil
			})
			if err != nil || n != people {
				t.Fatalf("got %d people, %v; want %d", n, err, people)
			}
			if got := f.TokensIssued(); got != 2 {
				t.Errorf("got %d token requests over 160 s of 60 s tokens, want 2", got)
			}
			if got := f.Calls(c.Pages); got != tt.pages {
				t.Errorf("got %d page requests, want %d", got, tt.pages)
			}
		})
	}
	t.Run("a second 401 ends the call", func(t *testing.T) {
		f := c.Fake(idpfake.Options{}, 3)
		src := c.Source(f, clockwork.NewFakeClock(), &http.Client{Transport: badToken{http.DefaultTransport}})
		_, err := directory.Collect(context.Background(), src)
		if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), c.Secret(f)) {
			t.Fatalf("got %v, want the 401 and no secret", err)
		}
		if got := f.TokensIssued(); got != 2 {
			t.Errorf("got %d token requests, want 2: one renewal, no loop", got)
		}
		if got := f.Calls(c.Pages); got != 2 {
			t.Errorf("got %d page requests, want 2", got)
		}
	})
}

// badToken sends every API request with a token the IdP never issued.
type badToken struct{ rt http.RoundTripper }

func (b badToken) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer not-a-token")
	return b.rt.RoundTrip(r)
}
