package atlassian_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
)

// paceRun is eight callers sending one request after another through one
// client with its defaults (no ATLASSIAN_RATE) to a local API that allows
// a fixed number of requests a second: the local Jira tells every answer
// what is left of its budget, the local Admin API says nothing until it
// answers 429. ok[i] counts the answers accepted in second i.
type paceRun struct {
	fake   *atlassianfake.Server
	client *atlassian.Client
	call   atlassian.Request
	start  time.Time
	ok     []atomic.Int64
}

func newPaceRun(t *testing.T, api string, limit float64, seconds int) *paceRun {
	t.Helper()
	// Without the Jira spec: validating every request against it costs
	// more CPU than the pace is about (the contract tests validate).
	f, err := atlassianfake.Start(atlassianfake.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	f.AddGroup("confluence-finance")
	o := f.Options()
	p := &paceRun{fake: f, ok: make([]atomic.Int64, seconds)}
	switch api {
	case "jira":
		p.client, err = atlassian.New(atlassian.Options{Name: "jira", BaseURL: f.URL(), Auth: atlassian.Basic(o.Email, atlassian.Secret(o.Token)), HTTPClient: f.Client()})
		p.call = atlassian.Request{Method: http.MethodGet, Path: "/rest/api/3/group/bulk", Query: url.Values{"groupName": {"confluence-finance"}}}
	default:
		f.AddUsers(1, nil)
		p.client, err = atlassian.New(atlassian.Options{Name: "admin", BaseURL: f.URL(), Auth: atlassian.Bearer(atlassian.Secret(o.APIKey)), HTTPClient: f.Client()})
		p.call = atlassian.Request{Method: http.MethodPost, Path: fmt.Sprintf("/admin/v2/orgs/%s/directories/%s/users/search", o.OrgID, o.Directory),
			Body: map[string]any{"limit": 1}}
	}
	if err != nil {
		t.Fatal(err)
	}
	f.SetFaults(atlassianfake.Faults{RateLimit: limit})
	return p
}

// run sends until the last second ends.
func (p *paceRun) run(t *testing.T) {
	p.start = time.Now()
	ctx, cancel := context.WithDeadline(t.Context(), p.start.Add(time.Duration(len(p.ok))*time.Second))
	defer cancel()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := p.client.Do(ctx, p.call, nil); err == nil {
					if i := int(time.Since(p.start) / time.Second); i < len(p.ok) {
						p.ok[i].Add(1)
					}
				} else if ctx.Err() == nil {
					t.Errorf("call failed: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// accepted returns the answers accepted in seconds [from, to).
func (p *paceRun) accepted(from, to int) int64 {
	var n int64
	for i := from; i < to; i++ {
		n += p.ok[i].Load()
	}
	return n
}

func (p *paceRun) perSecond() []int64 {
	out := make([]int64, len(p.ok))
	for i := range p.ok {
		out[i] = p.ok[i].Load()
	}
	return out
}

// With the defaults a new user has, the pace converges within a few
// seconds to at least 0.9 of what the API allows, at 10, 50 and 200
// requests a second, against Jira's headers and against the Admin API's
// 429s alone, and then meets few 429s. (internal/pace's simulation checks
// the same over minutes, in virtual time.)
func TestClient_LearnsThePace(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: sixteen seconds of traffic")
	}
	for _, api := range []string{"jira", "admin"} {
		for _, limit := range []float64{10, 50, 200} {
			// One at a time: six local APIs and 48 senders at once, under
			// -race beside the rest of the suite, starved the senders on
			// 2 cores (the pace had learnt R; the senders could not use it).
			t.Run(fmt.Sprintf("%s/R=%g", api, limit), func(t *testing.T) {
				const seconds, settled = 16, 4
				p := newPaceRun(t, api, limit, seconds)
				var throttledAtSettled int
				time.AfterFunc(settled*time.Second, func() { throttledAtSettled, _ = p.fake.Throttled() })
				p.run(t)
				throttled, _ := p.fake.Throttled()
				got := float64(p.accepted(settled, seconds)) / (limit * (seconds - settled))
				t.Logf("%s at %g/s: per second %v; seconds %d-%d at %.2f of R; 429s: %d, %d after second %d; learnt %.1f/s",
					api, limit, p.perSecond(), settled, seconds, got, throttled, throttled-throttledAtSettled, settled, p.client.Rate())
				if got < 0.9 {
					t.Errorf("seconds %d-%d delivered %.2f of the limit, want at least 0.9", settled, seconds, got)
				}
				// A few a minute: one every 12 s or so in the simulation's
				// steady state; three in these 12 s for the noise of a
				// shared machine (a caller woken late sends its slack).
				if late := throttled - throttledAtSettled; late > 3 {
					t.Errorf("%d answers 429 in the %d s after second %d, want at most 3", late, seconds-settled, settled)
				}
			})
		}
	}
}

// When the API's limit falls mid-run (100 to 20 requests a second), the
// pace follows within a second and stays under the new limit.
func TestClient_PaceFollowsALimitThatFalls(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: twelve seconds of traffic")
	}
	for _, api := range []string{"jira", "admin"} {
		t.Run(api, func(t *testing.T) {
			t.Parallel()
			const seconds, drop = 12, 6
			p := newPaceRun(t, api, 100, seconds)
			var (
				mu           sync.Mutex
				afterOne     float64
				throttledNow int
			)
			time.AfterFunc(drop*time.Second, func() {
				p.fake.SetFaults(atlassianfake.Faults{RateLimit: 20})
				mu.Lock()
				throttledNow, _ = p.fake.Throttled()
				mu.Unlock()
			})
			time.AfterFunc((drop+1)*time.Second+500*time.Millisecond, func() {
				mu.Lock()
				afterOne = p.client.Rate()
				mu.Unlock()
			})
			p.run(t)
			throttled, _ := p.fake.Throttled()
			mu.Lock()
			defer mu.Unlock()
			got := float64(p.accepted(drop+2, seconds)) / (20 * (seconds - drop - 2))
			t.Logf("%s: per second %v; 1.5 s after the drop the pace was %.1f/s; 429s after it: %d; seconds %d-%d at %.2f of the new limit",
				api, p.perSecond(), afterOne, throttled-throttledNow, drop+2, seconds, got)
			if afterOne > 25 {
				t.Errorf("1.5 s after the limit fell to 20/s the pace was %.1f/s", afterOne)
			}
			if n := throttled - throttledNow; n > 8 {
				t.Errorf("%d answers 429 after the limit fell, want a handful", n)
			}
			if got < 0.85 {
				t.Errorf("after the drop, %.2f of the new limit delivered, want at least 0.85", got)
			}
		})
	}
}
