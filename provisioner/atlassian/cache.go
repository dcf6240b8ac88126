package atlassian

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jitbot/jitbot/approvals"
)

// AccountCache remembers which Atlassian account id an email maps to, so a
// provider searches for a person once (the store implements it durably).
type AccountCache interface {
	GetAccount(ctx context.Context, provider, email string) (string, bool, error)
	PutAccount(ctx context.Context, provider, email, accountID string) error
}

// MemoryCache is an AccountCache in memory, used when none is given.
type MemoryCache struct {
	mu sync.Mutex
	m  map[string]string
}

// NewMemoryCache returns an empty MemoryCache.
func NewMemoryCache() *MemoryCache { return &MemoryCache{m: map[string]string{}} }

// GetAccount implements AccountCache.
func (c *MemoryCache) GetAccount(_ context.Context, provider, email string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.m[provider+"\x00"+strings.ToLower(email)]
	return id, ok, nil
}

// PutAccount implements AccountCache.
func (c *MemoryCache) PutAccount(_ context.Context, provider, email, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[provider+"\x00"+strings.ToLower(email)] = id
	return nil
}

// Dedupe returns names trimmed, without empty ones and without repeats
// (compared case-insensitively), in their first order.
func Dedupe(names []string) []string {
	var out []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n != "" && !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, n) }) {
			out = append(out, n)
		}
	}
	return out
}

// Accounts maps emails to account ids for one provider: the cache's
// answer, else the provider's search, which is then cached. It remembers
// the email each id was looked up by, so member lists can name people
// whose email the API hides. It is safe for concurrent use.
type Accounts struct {
	cache    AccountCache
	provider string
	search   func(ctx context.Context, email string) (string, error)

	mu     sync.RWMutex
	emails map[string]string // accountId → email
}

// NewAccounts returns the account ids of provider, kept in cache (nil: in
// memory) and found with search, which is given a trimmed, lowercased
// email and returns the one account id it has (or a permanent error).
func NewAccounts(cache AccountCache, provider string, search func(ctx context.Context, email string) (string, error)) *Accounts {
	if cache == nil {
		cache = NewMemoryCache()
	}
	return &Accounts{cache: cache, provider: provider, search: search, emails: map[string]string{}}
}

// Cache returns the AccountCache in use.
func (a *Accounts) Cache() AccountCache { return a.cache }

// ID returns the account id of the person with email.
func (a *Accounts) ID(ctx context.Context, email string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	id, ok, err := a.cache.GetAccount(ctx, a.provider, email)
	if err != nil {
		return "", fmt.Errorf("account cache: %w", err)
	}
	if !ok {
		if id, err = a.search(ctx, email); err != nil {
			return "", err
		}
		if err := a.Put(ctx, email, id); err != nil {
			return "", err
		}
	}
	a.mu.Lock()
	a.emails[id] = email
	a.mu.Unlock()
	return id, nil
}

// Put caches that email has the account id.
func (a *Accounts) Put(ctx context.Context, email, id string) error {
	if err := a.cache.PutAccount(ctx, a.provider, email, id); err != nil {
		return fmt.Errorf("account cache: %w", err)
	}
	return nil
}

// Email returns the email an account id was looked up by in this process.
func (a *Accounts) Email(id string) (string, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	e, ok := a.emails[id]
	return e, ok
}

// AccountWords name, in OneAccount's errors, what was searched.
type AccountWords struct {
	One, Many string // "Jira account", "Jira accounts"
	Where     string // "on https://example.atlassian.net"
	Hint      string // appended when none matched, such as " (or its profile hides the email)"
}

// OneAccount returns the one id an exact email search found. None, or more
// than one, is a permanent error: jitbot never guesses.
func OneAccount(email string, ids []string, w AccountWords) (string, error) {
	switch len(ids) {
	case 0:
		return "", approvals.Permanent(fmt.Errorf("no %s %s has the email %s%s", w.One, w.Where, email, w.Hint))
	case 1:
		return ids[0], nil
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return "", approvals.Permanent(fmt.Errorf("the email %s matches %d %s %s (%s): jitbot will not guess; fix the directory",
		email, len(ids), w.Many, w.Where, strings.Join(ids, ", ")))
}
