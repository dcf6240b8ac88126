package jira_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/jira"
	"go.uber.org/zap"
)

// newFake starts a fake site with the spec enforced when it is there.
func newFake(t testing.TB) *atlassianfake.Server {
	t.Helper()
	return atlassianfake.New(t, atlassianfake.Options{})
}

// newProvider returns a jira provider for the fake: no rate limit, fast backoff.
func newProvider(t testing.TB, f *atlassianfake.Server, cache jira.AccountCache, log *zap.Logger) *jira.Provider {
	t.Helper()
	o := f.Options()
	p, err := jira.New(jira.Config{SiteURL: f.URL(), Email: o.Email, Token: atlassian.Secret(o.Token), Cache: cache, Log: log,
		Transport: atlassian.Options{HTTPClient: f.Client(), Rate: -1, BackoffBase: time.Millisecond, BackoffCap: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mem(group, person string) approvals.Membership {
	return approvals.Membership{Provider: "jira", Group: group, Person: person}
}

var ctx = context.Background()

// changes counts the fake's recorded membership changes of one kind.
func changes(f *atlassianfake.Server, op, group, email string) int {
	n := 0
	for _, c := range f.Changes() {
		if c.Op == op && c.Group == group && c.Email == email {
			n++
		}
	}
	return n
}

// memCache is a test AccountCache.
type memCache struct {
	mu sync.Mutex
	m  map[string]string
}

func (c *memCache) GetAccount(_ context.Context, _, email string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.m[email]
	return id, ok, nil
}

func (c *memCache) PutAccount(_ context.Context, _, email, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[email] = id
	return nil
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
