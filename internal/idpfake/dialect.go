package idpfake

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// dialect is what differs between the IdPs in the answers every fake
// gives alike — an error, the outage, the rate limit, a refused
// credential — so that one handler gives them in each IdP's own shape.
type dialect struct {
	// fail writes an error in the IdP's own body: Okta's errorCode and
	// errorSummary, Graph's error.code and .message, Google's error.code,
	// .message and .errors[].reason (code is the reason there).
	fail func(w http.ResponseWriter, status int, code, msg string)
	// down is the code and message of the 500 every request gets while
	// the fake is down; denied those of the 401 for a bad credential.
	down, denied [2]string
	// limited sets the headers of an answer over the rate limit (wait:
	// until the next request would pass) and says its status, code and
	// message.
	limited func(h http.Header, b budget, wait time.Duration) (status int, code, msg string)
	// budgeted sets the rate-limit headers every other answer carries
	// (nil: the IdP sends none).
	budgeted func(h http.Header, b budget)
}

// budget is what the fake's rate limit has left, as an IdP reports it.
type budget struct {
	limit     int       // the requests a full budget holds (0: no limit is set)
	remaining int       // whole requests left now
	next      time.Time // when it next gains a whole request (now when it is full)
}

// newFake starts a fake for a test: a failure to start fails the test.
func newFake[F any](tb TB, name string, o Options, start func(TB, Options, bool) (F, error)) F {
	tb.Helper()
	f, err := start(tb, o, true)
	if err != nil {
		tb.Errorf("idpfake: start %s: %v", name, err)
	}
	return f
}

// specOf reads the official description in file (parsed by parse) when
// the fake validates; ok is false when it does not, or when the folder is
// absent (said once).
func specOf[S any](o Options, validate bool, file string, parse func(io.Reader) (S, error)) (spec S, ok bool, err error) {
	dir := specDir(o, validate)
	if dir == "" {
		if validate {
			noticeMissing(file)
		}
		return spec, false, nil
	}
	spec, err = load(filepath.Join(dir, file), parse)
	return spec, err == nil, err
}

// specDir is the spec folder to validate against, or "".
func specDir(o Options, validate bool) string {
	if !validate {
		return ""
	}
	if o.SpecDir != "" {
		return o.SpecDir
	}
	return FindSpecDir()
}

// authorize lets h answer the requests ok accepts; the others get the
// IdP's 401.
func (c *core) authorize(ok func(r *http.Request) bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !ok(r) {
			c.d.fail(w, http.StatusUnauthorized, c.d.denied[0], c.d.denied[1])
			return
		}
		h(w, r)
	}
}

// tokens are the OAuth access tokens a fake issued (Entra's client
// credentials, Google's service-account assertions), with their expiry.
// The core's mutex guards them.
type tokens struct {
	ttl    time.Duration
	issued map[string]time.Time
	count  int
}

func newTokens(ttl time.Duration) tokens {
	if ttl <= 0 {
		ttl = time.Hour
	}
	return tokens{ttl: ttl, issued: map[string]time.Time{}}
}

func (t *tokens) issue(now time.Time) (string, int) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := "tok-" + hex.EncodeToString(b)
	t.issued[tok] = now.Add(t.ttl)
	t.count++
	return tok, int(t.ttl / time.Second)
}

func (t *tokens) valid(h string, now time.Time) bool {
	exp, ok := t.issued[strings.TrimPrefix(h, "Bearer ")]
	return strings.HasPrefix(h, "Bearer ") && ok && now.Before(exp)
}

// bearer lets h answer requests with a token of t, unexpired at the
// fake's time.
func (c *core) bearer(t *tokens, h http.HandlerFunc) http.HandlerFunc {
	return c.authorize(func(r *http.Request) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return t.valid(r.Header.Get("Authorization"), c.now())
	}, h)
}

// grant answers a token request with a new token of t: access_token,
// expires_in, token_type and the IdP's own extra fields, given the
// lifetime in seconds.
func (c *core) grant(w http.ResponseWriter, t *tokens, extra func(ttl int) map[string]any) {
	c.mu.Lock()
	tok, ttl := t.issue(c.now())
	c.mu.Unlock()
	out := map[string]any{"access_token": tok, "expires_in": ttl, "token_type": "Bearer"}
	if extra != nil {
		for k, v := range extra(ttl) {
			out[k] = v
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// oauthError is a token endpoint's error (RFC 6749 §5.2): error and,
// when given, error_description.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	body := map[string]string{"error": code}
	if desc != "" {
		body["error_description"] = desc
	}
	writeJSON(w, status, body)
}

// epochSeconds is t in Unix seconds, rounded up, as Okta's
// X-Rate-Limit-Reset.
func epochSeconds(t time.Time) string {
	return strconv.FormatInt(int64(math.Ceil(float64(t.UnixNano())/1e9)), 10)
}
