package okta

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/internal/idpfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/idp/idptest"
)

// blind hides Okta's X-Rate-Limit-* headers of every answer but a 429:
// a client that reads them only when refused.
type blind struct{ rt http.RoundTripper }

func (b blind) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.rt.RoundTrip(r)
	if err == nil && resp.StatusCode != http.StatusTooManyRequests {
		for k := range resp.Header {
			if strings.HasPrefix(k, "X-Rate-Limit-") {
				resp.Header.Del(k)
			}
		}
	}
	return resp, err
}

// TestOkta_PeoplePacedByHeaders: a sync against an org whose limit is
// small, reading the X-Rate-Limit-Remaining and -Limit of every answer,
// meets fewer 429s than one that reads them only on a 429, and is no
// slower than the limit allows.
func TestOkta_PeoplePacedByHeaders(t *testing.T) {
	const (
		pages = 40
		rate  = 10.0 // requests a second, a second's worth of burst
	)
	floor := time.Duration(float64(pages-int(rate)) / rate * float64(time.Second))
	sync := func(t *testing.T, hc *http.Client) (throttled int, took time.Duration) {
		f := idpfake.NewOkta(t, idpfake.Options{})
		idptest.Fill(f, pages*200, ref)
		o, err := New(Config{URL: f.URL(), Token: atlassian.Secret(f.Token()), Transport: atlassian.Options{HTTPClient: hc}})
		if err != nil {
			t.Fatal(err)
		}
		f.SetRateLimit(rate, int(rate))
		start := time.Now()
		l, err := directory.Collect(t.Context(), o)
		took = time.Since(start)
		if err != nil || len(l.Entries) != pages*200 {
			t.Fatalf("got %d people, %v; want %d", len(l.Entries), err, pages*200)
		}
		return f.Throttled(), took
	}
	blindThrottled, blindTook := sync(t, &http.Client{Transport: blind{http.DefaultTransport}})
	throttled, took := sync(t, nil)
	t.Logf("floor %v; reading the headers: %d 429s in %v; reading them on 429s only: %d 429s in %v", floor, throttled, took, blindThrottled, blindTook)
	if blindThrottled == 0 {
		t.Fatalf("the client blind to the headers met no 429: the limit is too loose to show anything")
	}
	if throttled >= blindThrottled {
		t.Errorf("got %d 429s reading the headers, want fewer than the %d without", throttled, blindThrottled)
	}
	// The floor is what the limit allows; a loaded machine adds a little.
	if most := floor * 14 / 10; took > most {
		t.Errorf("got %v reading the headers, want at most %v (the floor %v and 40 %%)", took, most, floor)
	}
}
