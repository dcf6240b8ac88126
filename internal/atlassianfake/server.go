// Package atlassianfake is a local Atlassian Cloud for tests: a Jira Cloud
// site (platform REST v3) and the organisation Admin API (v2) on
// 127.0.0.1, sharing one directory of users, groups and memberships, as a
// real site and its organisation do.
//
// It checks basic auth (Jira) and bearer auth (Admin API), pages like the
// real APIs (startAt/maxResults/isLast for Jira, cursors in links.next for
// the Admin API), records every membership change and every suspend and
// restore with its time, and injects faults: a fraction of 429, of 503 and
// of 500, added latency, a per-second rate limit (a token bucket), and a
// 403 on writes. A 429 carries X-RateLimit-Reset (ISO 8601, UTC) and, from
// Jira only, Retry-After, as the real APIs do; under a rate limit every
// Jira answer says what is left of the budget (X-RateLimit-Limit and
// -Remaining, and X-RateLimit-NearLimit: true below a fifth), as Jira's
// do, while the Admin API says nothing until it answers 429. Every Jira request is
// validated against the official OpenAPI spec (see FindSpec) and every 2xx
// Jira answer the fake gives too; a violation fails the test. There is no
// official Admin API spec: its shapes follow jira.js (see admin.go), its
// request bodies are checked field by field, and a request to the v1
// suspend-access, restore-access or group-membership endpoints, which
// Atlassian has switched off, is answered 410 Gone and fails the test.
//
// The directory is kept sorted by account id with indexes by id and
// email, so it holds 100,000 users (AddUsers) and pages them cheaply.
package atlassianfake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"golang.org/x/time/rate"
)

// Options configure a Server. The zero value is ready to use.
type Options struct {
	Email  string // the Jira API user's email; default "jitbot@example.com"
	Token  string // the Jira API token; default "jira-api-token-0123456789"
	APIKey string // the Admin API key; default "admin-api-key-0123456789"
	OrgID  string // default "org-1"
	// Directory is the id of the organisation's directory; default "dir-1".
	Directory string
	// SiteID is the product instance id of the site's products, the
	// default Product.ID; default "a436116f-02ce-4520-8fbb-7301462a1674".
	SiteID string
	// SpecPath is the Jira spec; default FindSpec() under New, none under
	// Start. When there is none, requests are not validated (logged once).
	SpecPath string
	// Logf receives what a test would log and the failures it would
	// report, for a fake started with Start (the playground). Nil
	// discards them.
	Logf func(format string, args ...any)
	// Now stamps the change records (default time.Now). Rate limiting and
	// latency always use the wall clock.
	Now func() time.Time
	// Faults to start with; SetFaults changes them.
	Faults Faults
}

// Faults are what the fake does wrong on purpose.
type Faults struct {
	// Throttle, Unavailable and ServerError are the fractions of requests
	// answered 429, 503 and 500.
	Throttle, Unavailable, ServerError float64
	// RetryAfter is the wait an injected 429 asks for: X-RateLimit-Reset
	// is that far ahead, and Jira's Retry-After says it in whole seconds
	// rounded up (0 sends "Retry-After: 0").
	RetryAfter time.Duration
	// Latency is added to every answer.
	Latency time.Duration
	// RateLimit, if positive, limits each API to that many requests per
	// second (a token bucket of RateBurst, default one second's worth):
	// beyond it the answer is 429, X-RateLimit-Reset saying when the next
	// token comes.
	RateLimit float64
	RateBurst int
	// DenyWrites answers membership and suspension writes 403, as for an
	// API user who is not a site or organisation admin.
	DenyWrites bool
}

// Group is a group of the directory (a site group in Jira).
type Group struct {
	ID        string
	Name      string
	Directory string
}

// Change is one membership change made through an API.
type Change struct {
	Time      time.Time // Options.Now
	Wall      time.Time // the wall clock
	API       string    // "jira" or "admin"
	Op        string    // "add" or "remove"
	Group     string    // name
	AccountID string
	Email     string
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	tb       TB
	opts     Options
	now      func() time.Time
	specPath string // "" when the spec is absent; loaded at the first Jira request
	url      string
	srv      *http.Server
	mux      *http.ServeMux

	mu        sync.Mutex
	faults    Faults
	limiters  map[string]*rate.Limiter
	users     directory
	groups    map[string]*Group // by id
	members   map[string]map[string]bool
	changes   []Change
	suspends  []SuspendCall
	calls     map[string]int // by "METHOD pattern"
	throttled int            // 429 answers, injected or rate limited
	limited   int            // 429 answers from the rate limit
	requests  int
	problems  []string
	nextID    int
}

// TB is what the fake needs of a test; *testing.T and *testing.B
// (testing.TB) satisfy it. Violations fail the test through Errorf.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
}

// New starts a fake and stops it when the test ends. It validates Jira
// requests against the official spec when it finds it (FindSpec) and
// fails the test on every violation.
func New(tb TB, opts Options) *Server {
	tb.Helper()
	if opts.SpecPath == "" {
		opts.SpecPath = FindSpec()
	}
	if opts.SpecPath == "" {
		tb.Logf("atlassianfake: shared/specs/%s not found: Jira requests are not validated", SpecFile)
		noticeSpecMissing()
	}
	s, err := start(tb, opts)
	if err != nil {
		tb.Fatalf("atlassianfake: %v", err)
		return nil
	}
	tb.Cleanup(s.Close)
	return s
}

// Start starts a fake outside a test, as the playground does: the same
// APIs and directory, violations and setup mistakes logged through
// Options.Logf instead of failing a test, and Jira requests validated only
// when Options.SpecPath names the spec (said once through Logf). Close
// stops it.
func Start(opts Options) (*Server, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if opts.SpecPath == "" {
		logf("local Atlassian: requests are not validated against the Jira spec (no spec file given)")
	}
	return start(logReporter(logf), opts)
}

// logReporter is the TB of a fake started with Start.
type logReporter func(format string, args ...any)

func (l logReporter) Helper()                           {}
func (l logReporter) Errorf(format string, args ...any) { l(format, args...) }
func (l logReporter) Fatalf(format string, args ...any) { l(format, args...) }
func (l logReporter) Skipf(format string, args ...any)  { l(format, args...) }
func (l logReporter) Logf(format string, args ...any)   { l(format, args...) }
func (l logReporter) Cleanup(func())                    {}

func start(tb TB, opts Options) (*Server, error) {
	if opts.Email == "" {
		opts.Email = "jitbot@example.com"
	}
	if opts.Token == "" {
		opts.Token = "jira-api-token-0123456789"
	}
	if opts.APIKey == "" {
		opts.APIKey = "admin-api-key-0123456789"
	}
	if opts.OrgID == "" {
		opts.OrgID = "org-1"
	}
	if opts.Directory == "" {
		opts.Directory = "dir-1"
	}
	if opts.SiteID == "" {
		opts.SiteID = "a436116f-02ce-4520-8fbb-7301462a1674"
	}
	s := &Server{tb: tb, opts: opts, now: opts.Now, faults: opts.Faults, limiters: map[string]*rate.Limiter{},
		users: newDirectory(), groups: map[string]*Group{}, members: map[string]map[string]bool{}, calls: map[string]int{}}
	if s.now == nil {
		s.now = time.Now
	}
	s.specPath = opts.SpecPath
	s.mux = http.NewServeMux()
	s.routeJira()
	s.routeAdmin()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve)}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the fake, waiting for the requests being answered (as
// httptest.Server.Close does). New registers it with the test's Cleanup.
func (s *Server) Close() { _ = s.srv.Shutdown(context.Background()) }

// URL is the base URL of both APIs (the Jira site and api.atlassian.com).
func (s *Server) URL() string { return s.url }

// Client returns an HTTP client for the fake.
func (s *Server) Client() *http.Client { return &http.Client{} }

// Options returns the options in force, credentials included.
func (s *Server) Options() Options { return s.opts }

// Validating reports whether Jira requests are checked against the spec.
func (s *Server) Validating() bool { return s.specPath != "" }

// SetFaults replaces the faults in force.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.limiters = map[string]*rate.Limiter{}
}

// AddGroup adds a group to the organisation's directory and returns its id.
func (s *Server) AddGroup(name string) string {
	return s.AddGroupIn(name, s.opts.Directory)
}

// AddGroupIn adds a group to directory dir and returns its id.
func (s *Server) AddGroupIn(name, dir string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	id := fmt.Sprintf("276f955c-63d7-42c8-9520-%012x", s.nextID)
	s.groups[id] = &Group{ID: id, Name: name, Directory: dir}
	s.members[id] = map[string]bool{}
	return id
}

// DeleteGroup deletes the group called name with its memberships.
func (s *Server) DeleteGroup(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.groupByName(name); g != nil {
		delete(s.groups, g.ID)
		delete(s.members, g.ID)
	}
}

// Changes returns the membership changes made through the APIs, in order.
func (s *Server) Changes() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Change(nil), s.changes...)
}

// Calls returns how many requests matched route, written as the fake's
// routes are: "POST /rest/api/3/group/user",
// "DELETE /admin/v2/orgs/{org}/directories/{dir}/groups/{group}/memberships/{account}".
// Requests answered with an injected fault or a 429 count too.
func (s *Server) Calls(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[route]
}

// Requests returns how many requests the fake received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Throttled returns how many 429 answers the fake gave, and how many of
// them came from the per-second rate limit (the rest were injected).
func (s *Server) Throttled() (all, rateLimited int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttled, s.limited
}

// Violations returns every spec or protocol violation seen so far (each
// has also failed the test).
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.problems...)
}

func (s *Server) violation(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.problems = append(s.problems, msg)
	s.mu.Unlock()
	s.tb.Errorf("atlassianfake: %s", msg)
}

func (s *Server) groupByName(name string) *Group {
	for _, g := range s.groups {
		if strings.EqualFold(g.Name, name) {
			return g
		}
	}
	return nil
}

// change applies a membership change and records it; it reports whether
// anything changed. The lock is held.
func (s *Server) change(api, op string, g *Group, u *User) bool {
	m := s.members[g.ID]
	if (op == "add") == m[u.AccountID] {
		return false
	}
	if op == "add" {
		m[u.AccountID] = true
	} else {
		delete(m, u.AccountID)
	}
	s.changes = append(s.changes, Change{Time: s.now(), Wall: time.Now(), API: api, Op: op, Group: g.Name,
		AccountID: u.AccountID, Email: u.Email})
	return true
}

// serve is the front door: spec validation, auth, rate limit, faults and
// latency, then the API handler.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	api := ""
	switch {
	case strings.HasPrefix(r.URL.Path, "/rest/"):
		api = "jira"
	case strings.HasPrefix(r.URL.Path, "/admin/"):
		api = "admin"
	}
	_, pattern := s.mux.Handler(r)
	s.mu.Lock()
	s.requests++
	if pattern != "" {
		s.calls[pattern]++
	}
	f := s.faults
	s.mu.Unlock()

	if slices.Contains(goneV1, pattern) {
		s.violation("%s %s: the Admin API v1 endpoints for group membership and suspension are switched off; use v2", r.Method, r.URL.Path)
		writeAdminError(w, http.StatusGone, "ADMIN-410", "Gone", "This API is no longer available: use the v2 endpoint.")
		return
	}
	if api == "" || pattern == "" {
		s.violation("%s %s: not an endpoint the fake serves", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	var in *openapi3filter.RequestValidationInput
	var spec *jiraSpec
	if api == "jira" && s.specPath != "" {
		var err error
		if spec, err = loadSpec(s.specPath); err != nil {
			s.violation("load the Jira spec: %v", err)
			http.Error(w, "spec", http.StatusInternalServerError)
			return
		}
		if in, err = spec.validateRequest(r); err != nil {
			s.violation("%s %s?%s breaks the Jira spec: %v", r.Method, r.URL.Path, r.URL.RawQuery, err)
			writeJiraError(w, http.StatusBadRequest, "The request does not match the API specification.")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	if !s.authorized(api, r) {
		if api == "jira" {
			w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, "Client must be authenticated to access this resource.")
		} else {
			writeAdminError(w, http.StatusUnauthorized, "ADMIN-401", "Unauthorized", "The API key is invalid or has expired.")
		}
		return
	}
	if f.Latency > 0 {
		time.Sleep(f.Latency)
	}
	wait, remaining, limited := s.rateLimited(api, f)
	if limited {
		s.throttle(w, api, wait, true)
		return
	}
	if api == "jira" && f.RateLimit > 0 {
		// Jira tells every answer how much of its budget is left, and
		// says so plainly below a fifth (X-RateLimit-NearLimit).
		w.Header().Set("X-RateLimit-Limit", strconv.Itoa(remaining.limit))
		w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(remaining.left))
		if remaining.left*5 < remaining.limit {
			w.Header().Set("X-RateLimit-NearLimit", "true")
		}
	}
	switch x := rand.Float64(); {
	case x < f.Throttle:
		s.throttle(w, api, f.RetryAfter, false)
		return
	case x < f.Throttle+f.Unavailable:
		s.fail(w, api, http.StatusServiceUnavailable)
		return
	case x < f.Throttle+f.Unavailable+f.ServerError:
		s.fail(w, api, http.StatusInternalServerError)
		return
	}
	if in == nil {
		s.mux.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	s.mux.ServeHTTP(rec, r)
	res := rec.Result()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		if err := spec.validateResponse(in, res.StatusCode, res.Header, out); err != nil {
			s.violation("the fake's own %d answer to %s %s breaks the Jira spec: %v", res.StatusCode, r.Method, r.URL.Path, err)
		}
	}
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	w.Write(out)
}

func (s *Server) authorized(api string, r *http.Request) bool {
	if api == "jira" {
		user, pass, ok := r.BasicAuth()
		return ok && user == s.opts.Email && pass == s.opts.Token
	}
	return r.Header.Get("Authorization") == "Bearer "+s.opts.APIKey
}

// budget is a rate-limit bucket's size and what is left in it.
type budget struct{ limit, left int }

// rateLimited takes a token from api's bucket; when there is none it says
// how long until there is, else what is left.
func (s *Server) rateLimited(api string, f Faults) (time.Duration, budget, bool) {
	if f.RateLimit <= 0 {
		return 0, budget{}, false
	}
	s.mu.Lock()
	lim := s.limiters[api]
	if lim == nil {
		burst := f.RateBurst
		if burst <= 0 {
			burst = int(math.Ceil(f.RateLimit))
		}
		lim = rate.NewLimiter(rate.Limit(f.RateLimit), burst)
		s.limiters[api] = lim
	}
	s.mu.Unlock()
	now := time.Now()
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, budget{}, true
	}
	return 0, budget{limit: lim.Burst(), left: max(int(lim.TokensAt(now)), 0)}, false
}

func (s *Server) throttle(w http.ResponseWriter, api string, wait time.Duration, limited bool) {
	s.mu.Lock()
	s.throttled++
	if limited {
		s.limited++
	}
	f := s.faults
	s.mu.Unlock()
	// Both APIs send X-RateLimit-Reset, an ISO 8601 time in UTC; only
	// Jira sends Retry-After too.
	// Rounded up: at the time it names, the window has reset.
	reset := time.Now().Add(wait)
	if r := reset.Truncate(time.Millisecond); r.Before(reset) {
		reset = r.Add(time.Millisecond)
	}
	w.Header().Set("X-RateLimit-Reset", isoTime(reset))
	if f.RateLimit > 0 {
		w.Header().Set("X-RateLimit-Limit", strconv.Itoa(int(f.RateLimit)))
		w.Header().Set("X-RateLimit-Remaining", "0")
	}
	if api == "jira" {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		w.Header().Set("RateLimit-Reason", "jira-burst-based")
		writeJiraError(w, http.StatusTooManyRequests, "Rate limit exceeded.")
		return
	}
	writeAdminError(w, http.StatusTooManyRequests, "ADMIN-429-1", "Too Many Requests", "Rate limit exceeded.")
}

func (s *Server) fail(w http.ResponseWriter, api string, status int) {
	if api == "jira" {
		writeJiraError(w, status, http.StatusText(status))
		return
	}
	writeAdminError(w, status, fmt.Sprintf("ADMIN-%d-1", status), http.StatusText(status), "injected fault")
}
