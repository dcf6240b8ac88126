// Package idpfake is a local Okta, Microsoft Entra ID (Graph and its token
// endpoint) and Google Workspace (the Admin SDK Directory API and its
// token endpoint) for tests, each on 127.0.0.1, each speaking its API's
// shapes, paging, error bodies and rate-limit signals:
//
//   - Okta: SSWS tokens, Link: <…>; rel="next" paging, X-Rate-Limit-Limit,
//     -Remaining and -Reset (epoch seconds: when the budget next gains a
//     request) on every answer while a rate limit is set, 429 when it is
//     spent, error bodies {errorCode, errorSummary, errorCauses}.
//   - Graph: client-credentials tokens from /{tenant}/oauth2/v2.0/token,
//     @odata.nextLink paging, 429 (and 503 when told to) with Retry-After,
//     {"error":{"code","message"}} bodies.
//   - Google: service-account assertions (RS256, checked against the key
//     the fake made) exchanged at /token, nextPageToken paging, 403
//     userRateLimitExceeded (or 429 rateLimitExceeded) bodies.
//
// What the three answer alike (the outage, the rate limit, a refused
// credential, OAuth tokens) is written once (dialect.go), in each IdP's
// own shapes.
//
// Every request is checked against the official descriptions in
// ../shared/specs/ (see spec.go): a violation fails the test. Where the
// folder is absent, requests are not validated and a line says so once.
//
// New starts a fake for a test (closed at its end); Start for a program
// (the playground), logging instead of failing.
package idpfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// TB is what the fake needs of a test; *testing.T and *testing.B satisfy it.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
}

// User is one account of the IdP.
type User struct {
	ID         string // made up by the fake when empty
	Login      string // Okta login, Graph userPrincipalName; the email when empty
	Email      string
	First      string
	Last       string
	Department string
	Manager    string // as the IdP holds it: Okta managerId (any text), Graph's manager id, Google's manager email
	Employment string // userType, employeeType, organizations[].description
	Suspended  bool
}

// Change is one write made through the API.
type Change struct {
	Op     string // add, remove, suspend, unsuspend
	Group  string // the group's id, for add and remove
	UserID string
	Time   time.Time
}

// Options configure a fake. The zero value is ready to use.
type Options struct {
	// RateLimit, if positive, limits the API to that many requests a
	// second (a token bucket of Burst, default one second's worth).
	RateLimit float64
	Burst     int
	// SpecDir is the folder of the official descriptions; default the
	// shared/specs folder found above the working directory (New only).
	SpecDir string
	// Logf receives problems under Start (nil discards them).
	Logf func(format string, args ...any)
	// Now stamps changes and tokens (default time.Now).
	Now func() time.Time
	// Token is Okta's API token (default "okta-api-token-0123456789").
	Token string
	// ClientID and ClientSecret are Entra's app credentials (defaults
	// "jitbot-client-id", "entra-client-secret-0123456789"); Tenant the
	// tenant id (default "00000000-0000-0000-0000-000000000000").
	ClientID, ClientSecret, Tenant string
	// TokenTTL is how long an Entra or Google access token lasts
	// (default an hour).
	TokenTTL time.Duration
	// Subject is the admin Google's service account impersonates
	// (default "admin@example.com").
	Subject string
	// Google429 makes Google's rate limit answer 429 rateLimitExceeded
	// instead of 403 userRateLimitExceeded.
	Google429 bool
}

// core is what the three fakes share: users, groups, changes, faults,
// the rate limit and the HTTP server.
type core struct {
	tb   TB
	opts Options
	d    dialect
	now  func() time.Time
	url  string
	srv  *http.Server

	mu        sync.Mutex
	users     []*User // sorted by ID
	byID      map[string]*User
	byKey     map[string]*User // lower-cased login and email
	groups    map[string]*group
	changes   []Change
	down      bool
	limiter   *rate.Limiter
	requests  int
	throttled int
	calls     map[string]int
	problems  []string
	nextID    int
}

type group struct {
	ID, Name, Email string
	Synced          bool // the group is synced from elsewhere (Graph: onPremisesSyncEnabled)
	members         map[string]bool
}

func newCore(tb TB, o Options, d dialect) *core {
	c := &core{tb: tb, opts: o, d: d, now: o.Now, byID: map[string]*User{}, byKey: map[string]*User{},
		groups: map[string]*group{}, calls: map[string]int{}}
	if c.now == nil {
		c.now = time.Now
	}
	c.setRate(o.RateLimit, o.Burst)
	return c
}

// serve listens on 127.0.0.1 and serves h.
func (c *core) serve(h http.Handler) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	c.url = "http://" + ln.Addr().String()
	c.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.srv.Serve(ln) }()
	if c.tb != nil {
		c.tb.Cleanup(func() { _ = c.Close() })
	}
	return nil
}

// URL returns the fake's base URL (http://127.0.0.1:port).
func (c *core) URL() string { return c.url }

// Close stops the server.
func (c *core) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.srv.Shutdown(ctx)
}

// problem fails the test (New) or logs (Start).
func (c *core) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.mu.Lock()
	c.problems = append(c.problems, msg)
	c.mu.Unlock()
	switch {
	case c.tb != nil:
		c.tb.Errorf("idpfake: %s", msg)
	case c.opts.Logf != nil:
		c.opts.Logf("idpfake: %s", msg)
	}
}

// Problems returns the violations seen so far.
func (c *core) Problems() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.problems)
}

// SetRateLimit changes the rate limit (0: none).
func (c *core) SetRateLimit(perSecond float64, burst int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setRate(perSecond, burst)
}

func (c *core) setRate(perSecond float64, burst int) {
	if perSecond <= 0 {
		c.limiter = nil
		return
	}
	if burst <= 0 {
		burst = max(1, int(math.Ceil(perSecond)))
	}
	c.limiter = rate.NewLimiter(rate.Limit(perSecond), burst)
}

// SetDown makes every API answer 500 (true) or work again (false).
func (c *core) SetDown(down bool) {
	c.mu.Lock()
	c.down = down
	c.mu.Unlock()
}

// admission is what the outage and the rate limit say of one request.
type admission struct {
	ok, down bool
	wait     time.Duration // refused: until the next request would pass
	budget   budget        // what is left after it
}

// admit counts a request and says whether the rate limit lets it through.
func (c *core) admit(key string) admission {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	c.calls[key]++
	switch {
	case c.down:
		return admission{down: true, budget: c.budgetLocked()}
	case c.limiter == nil:
		return admission{ok: true}
	}
	r := c.limiter.Reserve()
	d := r.Delay()
	if d > 0 {
		r.Cancel()
		c.throttled++
	}
	return admission{ok: d == 0, wait: d, budget: c.budgetLocked()}
}

// budgetLocked is what the rate limit has left now (the zero budget when
// no limit is set).
func (c *core) budgetLocked() budget {
	if c.limiter == nil {
		return budget{}
	}
	tokens := max(c.limiter.TokensAt(time.Now()), 0) // the limiter's own time
	burst := c.limiter.Burst()
	b := budget{limit: burst, remaining: int(tokens), next: c.now()}
	if b.remaining < burst {
		b.next = b.next.Add(time.Duration((math.Floor(tokens) + 1 - tokens) / float64(c.limiter.Limit()) * float64(time.Second)))
	}
	return b
}

// Throttled returns how many requests the rate limit refused.
func (c *core) Throttled() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.throttled
}

// Requests returns how many requests came.
func (c *core) Requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests
}

// Calls returns how many requests came for key ("METHOD route").
func (c *core) Calls(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[key]
}

// AddUser adds u (made-up id when empty) and returns its id.
func (c *core) AddUser(u User) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addUser(u)
}

// AddUsers adds n users made by fn(i), sorting once at the end: 100,000
// users take well under a second.
func (c *core) AddUsers(n int, fn func(i int) User) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 0; i < n; i++ {
		c.addUserUnsorted(fn(i))
	}
	slices.SortFunc(c.users, func(a, b *User) int { return strings.Compare(a.ID, b.ID) })
}

func (c *core) addUser(u User) string {
	id := c.addUserUnsorted(u)
	slices.SortFunc(c.users, func(a, b *User) int { return strings.Compare(a.ID, b.ID) })
	return id
}

func (c *core) addUserUnsorted(u User) string {
	if u.ID == "" {
		c.nextID++
		u.ID = fmt.Sprintf("u%08d", c.nextID)
	}
	if u.Login == "" {
		u.Login = u.Email
	}
	p := &u
	c.users = append(c.users, p)
	c.byID[u.ID] = p
	c.byKey[strings.ToLower(u.Login)] = p
	c.byKey[strings.ToLower(u.Email)] = p
	return u.ID
}

// UpdateUser changes the user with id or login or email through fn (its
// id, login and email stay).
func (c *core) UpdateUser(key string, fn func(u *User)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.find(key)
	if u == nil {
		return false
	}
	id, login, email := u.ID, u.Login, u.Email
	fn(u)
	u.ID, u.Login, u.Email = id, login, email
	return true
}

// RemoveUser deletes the user with id (a test of max_drop).
func (c *core) RemoveUser(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.byID[id]
	if u == nil {
		return
	}
	delete(c.byID, id)
	delete(c.byKey, strings.ToLower(u.Login))
	delete(c.byKey, strings.ToLower(u.Email))
	c.users = slices.DeleteFunc(c.users, func(x *User) bool { return x.ID == id })
}

// User returns a copy of the user with id or login or email.
func (c *core) User(key string) (User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.find(key)
	if u == nil {
		return User{}, false
	}
	return *u, true
}

func (c *core) find(key string) *User {
	if u := c.byID[key]; u != nil {
		return u
	}
	return c.byKey[strings.ToLower(key)]
}

// AddGroup adds a group and returns its id.
func (c *core) AddGroup(name string, members ...string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	g := &group{ID: fmt.Sprintf("g%08d", c.nextID), Name: name, members: map[string]bool{}}
	g.Email = strings.ToLower(strings.ReplaceAll(name, " ", "-")) + "@groups.example.com"
	for _, m := range members {
		if u := c.find(m); u != nil {
			g.members[u.ID] = true
		}
	}
	c.groups[g.ID] = g
	return g.ID
}

// SetSynced marks the group as synced from elsewhere.
func (c *core) SetSynced(groupID string, synced bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.groups[groupID]; g != nil {
		g.Synced = synced
	}
}

// Members returns the emails of the group's members, sorted.
func (c *core) Members(groupID string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[groupID]
	if g == nil {
		return nil
	}
	var out []string
	for id := range g.members {
		out = append(out, c.byID[id].Email)
	}
	slices.Sort(out)
	return out
}

// Changes returns the writes made through the API, in order.
func (c *core) Changes() []Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.changes)
}

// sortedGroups returns the groups sorted by id.
func (c *core) sortedGroups() []*group {
	out := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *group) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// memberChange applies an add or remove and records it; it reports
// whether anything changed.
func (c *core) memberChange(g *group, u *User, add bool) bool {
	if g.members[u.ID] == add {
		return false
	}
	op := "remove"
	if add {
		g.members[u.ID] = true
		op = "add"
	} else {
		delete(g.members, u.ID)
	}
	c.changes = append(c.changes, Change{Op: op, Group: g.ID, UserID: u.ID, Time: c.now()})
	return true
}

// suspend sets u's suspension and records it; it reports whether it changed.
func (c *core) suspend(u *User, on bool) bool {
	if u.Suspended == on {
		return false
	}
	u.Suspended = on
	op := "unsuspend"
	if on {
		op = "suspend"
	}
	c.changes = append(c.changes, Change{Op: op, UserID: u.ID, Time: c.now()})
	return true
}

// page returns users after cursor (an id; "" for the start), at most n,
// and the id to continue after ("" at the end).
func (c *core) page(after string, n int) ([]User, string) {
	i, _ := slices.BinarySearchFunc(c.users, after, func(u *User, id string) int { return strings.Compare(u.ID, id) })
	if after != "" && i < len(c.users) && c.users[i].ID == after {
		i++
	}
	end := min(i+n, len(c.users))
	out := make([]User, 0, end-i)
	for _, u := range c.users[i:end] {
		out = append(out, *u)
	}
	next := ""
	if end < len(c.users) && len(out) > 0 {
		next = out[len(out)-1].ID
	}
	return out, next
}

// handler wraps an IdP's routes: the body read, the request checked
// against the spec (check may be nil: no spec), the outage and the rate
// limit answered in the IdP's own shapes (c.d), then h.
func (c *core) handler(check func(r *http.Request, body []byte) error, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if check != nil {
			if err := check(r, body); err != nil {
				c.problem("%v", err)
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		a := c.admit(r.Method + " " + r.URL.Path)
		if !a.ok && !a.down {
			status, code, msg := c.d.limited(w.Header(), a.budget, a.wait)
			c.d.fail(w, status, code, msg)
			return
		}
		if c.d.budgeted != nil && a.budget.limit > 0 {
			c.d.budgeted(w.Header(), a.budget)
		}
		if a.down {
			c.d.fail(w, http.StatusInternalServerError, c.d.down[0], c.d.down[1])
			return
		}
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func regexpMust(s string) *regexp.Regexp { return regexp.MustCompile(s) }
