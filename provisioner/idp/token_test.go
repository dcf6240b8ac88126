package idp

import (
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/oauth2"
)

// A token is kept until renewEarly before the life its answer gave, read
// from expires_in wherever the oauth2 flow left it, and for maxLife when
// the answer gave none.
func TestTokens_Renew(t *testing.T) {
	for _, tt := range []struct {
		name string
		give *oauth2.Token
		want time.Duration // when the second token is fetched
	}{
		{name: "expires_in (client credentials)", give: &oauth2.Token{ExpiresIn: 3600}, want: time.Hour - renewEarly},
		{name: "expires_in in the raw answer (JWT)", give: (&oauth2.Token{}).WithExtra(map[string]any{"expires_in": 600.0}), want: 10*time.Minute - renewEarly},
		{name: "expires_in as a string", give: (&oauth2.Token{}).WithExtra(map[string]any{"expires_in": "600"}), want: 10*time.Minute - renewEarly},
		{name: "a short life renews at half of it", give: &oauth2.Token{ExpiresIn: 10}, want: 5 * time.Second},
		{name: "no expiry said", give: &oauth2.Token{}, want: maxLife},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clock := clockwork.NewFakeClock()
			start := clock.Now()
			fetched := 0
			s := NewTokens(func() (*oauth2.Token, error) {
				fetched++
				tok := *tt.give
				tok.AccessToken = "tok" + string(rune('0'+fetched))
				return &tok, nil
			}, clock)
			for _, step := range []struct {
				at   time.Duration
				want int
			}{{0, 1}, {tt.want - time.Second, 1}, {tt.want, 2}} {
				clock.Advance(start.Add(step.at).Sub(clock.Now()))
				if _, err := s.Token(); err != nil || fetched != step.want {
					t.Fatalf("at %s: got %d fetches, %v; want %d", step.at, fetched, err, step.want)
				}
			}
			tok, _ := s.Token()
			s.Refused("Bearer " + tok)
			_, _ = s.Token()
			if fetched != 3 {
				t.Errorf("after a 401: got %d fetches, want 3", fetched)
			}
			s.Refused("Bearer an-older-token")
			_, _ = s.Token()
			if fetched != 3 {
				t.Errorf("a 401 to a token renewed already: got %d fetches, want still 3", fetched)
			}
		})
	}
}
