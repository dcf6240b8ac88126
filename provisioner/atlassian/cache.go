package atlassian

import (
	"context"
	"slices"
	"strings"
	"sync"
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
