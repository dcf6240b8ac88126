package idp

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jonboulle/clockwork"
	"golang.org/x/oauth2"
)

// renewEarly is how long before its expiry a token is renewed (the
// oauth2 package's own margin): a request sent just before the expiry
// must not arrive just after it.
const renewEarly = 10 * time.Second

// maxLife bounds how long a token whose answer gave no expiry is kept.
const maxLife = 24 * time.Hour

// Tokens keeps an OAuth access token (Entra's client credentials,
// Google's service-account assertion) until shortly before it expires, on
// the injected clock, and fetches the next one then — or at once when the
// API refused it (Refused), which a revoked token or a clock behind the
// IdP's causes. It is safe for concurrent use; one fetch runs at a time.
type Tokens struct {
	fetch func() (*oauth2.Token, error)
	clock clockwork.Clock

	mu    sync.Mutex
	tok   string
	renew time.Time // when tok is renewed
}

// NewTokens returns Tokens that get each token from fetch, which must make
// a new token request every time it is called (no cache of its own), and
// return errors that name no secret. clock nil is the real clock.
func NewTokens(fetch func() (*oauth2.Token, error), clock clockwork.Clock) *Tokens {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	return &Tokens{fetch: fetch, clock: clock}
}

// Token returns the access token, renewed when it is due.
func (s *Tokens) Token() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	if s.tok != "" && now.Before(s.renew) {
		return s.tok, nil
	}
	t, err := s.fetch()
	if err != nil {
		return "", err
	}
	life := lifetime(t)
	s.tok, s.renew = t.AccessToken, now.Add(life-min(renewEarly, life/2))
	if life <= 0 { // no expiry said: kept until the API refuses it
		s.renew = now.Add(maxLife)
	}
	return s.tok, nil
}

// Refused drops the token an API answered 401 to (header is the
// Authorization header sent), unless another caller renewed it already.
func (s *Tokens) Refused(header string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.TrimPrefix(header, "Bearer ") == s.tok {
		s.tok = ""
	}
}

// Auth is bearer authentication with these tokens, renewed once when an
// API answers 401; the tokens and secrets are kept out of errors and logs.
func (s *Tokens) Auth(secrets ...string) atlassian.Auth {
	return atlassian.BearerToken(s.Token, secrets...).OnRefused(s.Refused)
}

// lifetime is how long the token endpoint said t lives: its expires_in
// (set by oauth2's client-credentials flow; the JWT flow keeps it only in
// the answer's raw fields), else what its Expiry (on the real clock)
// leaves, else zero.
func lifetime(t *oauth2.Token) time.Duration {
	if t.ExpiresIn > 0 {
		return time.Duration(t.ExpiresIn) * time.Second
	}
	var secs float64
	switch v := t.Extra("expires_in").(type) {
	case float64:
		secs = v
	case json.Number:
		secs, _ = v.Float64()
	case string:
		secs, _ = strconv.ParseFloat(v, 64)
	}
	if secs > 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if !t.Expiry.IsZero() {
		return max(time.Until(t.Expiry), 0)
	}
	return 0
}
