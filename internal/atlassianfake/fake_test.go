package atlassianfake

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps Errorf calls instead of failing, so
// the fake's own failures can be asserted.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

func call(t *testing.T, s *Server, method, path, body string, auth func(*http.Request)) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != nil {
		auth(req)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func jiraAuth(s *Server) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(s.opts.Email, s.opts.Token) }
}

func adminAuth(s *Server) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+s.opts.APIKey) }
}

func TestServer_SpecViolationsFailTheTest(t *testing.T) {
	RequireSpec(t)
	rec := &recorder{TB: t}
	s := New(rec, Options{})
	gid := s.AddGroup("jira-admins")
	for _, tc := range []struct{ name, method, path, body, want string }{
		{"WrongType", "POST", "/rest/api/3/group/user?groupId=" + gid, `{"accountId":5}`, `value must be a string`},
		{"MissingParameter", "DELETE", "/rest/api/3/group/user?groupId=" + gid, "", `parameter "accountId" in query has an error: value is required but missing`},
		{"NoBody", "POST", "/rest/api/3/group/user?groupId=" + gid, "", `request body has an error: value is required but missing`},
		{"NotServed", "GET", "/rest/api/3/myself", "", `not an endpoint the fake serves`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rec.failures())
			resp, _ := call(t, s, tc.method, tc.path, tc.body, jiraAuth(s))
			if resp.StatusCode/100 != 4 {
				t.Errorf("status: %d", resp.StatusCode)
			}
			errs := rec.failures()
			if len(errs) != before+1 || !strings.Contains(errs[len(errs)-1], tc.want) {
				t.Fatalf("failures: %q, want one containing %q", errs[before:], tc.want)
			}
		})
	}
	// A valid request is not a violation.
	before := len(rec.failures())
	if resp, body := call(t, s, "GET", "/rest/api/3/group/bulk?groupName=jira-admins", "", jiraAuth(s)); resp.StatusCode != 200 || !strings.Contains(body, gid) {
		t.Fatalf("bulk: %d %s", resp.StatusCode, body)
	}
	if got := rec.failures(); len(got) != before {
		t.Fatalf("a valid request was reported: %q", got[before:])
	}
}

func TestServer_Auth(t *testing.T) {
	s := New(t, Options{})
	s.AddGroup("g")
	for _, tc := range []struct {
		name, method, path, body string
		auth                     func(*http.Request)
		want                     int
	}{
		{"JiraOK", "GET", "/rest/api/3/group/bulk", "", jiraAuth(s), 200},
		{"JiraWrongToken", "GET", "/rest/api/3/group/bulk", "", func(r *http.Request) { r.SetBasicAuth(s.opts.Email, "nope") }, 401},
		{"JiraBearer", "GET", "/rest/api/3/group/bulk", "", adminAuth(s), 401},
		{"JiraNone", "GET", "/rest/api/3/group/bulk", "", nil, 401},
		{"AdminOK", "POST", "/admin/v2/orgs/org-1/directories/-/groups/search", `{}`, adminAuth(s), 200},
		{"AdminWrongKey", "POST", "/admin/v2/orgs/org-1/directories/-/groups/search", `{}`, func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") }, 401},
		{"AdminBasic", "POST", "/admin/v2/orgs/org-1/directories/-/groups/search", `{}`, jiraAuth(s), 401},
		{"AdminOtherOrg", "POST", "/admin/v2/orgs/org-2/directories/-/groups/search", `{}`, adminAuth(s), 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, body := call(t, s, tc.method, tc.path, tc.body, tc.auth); resp.StatusCode != tc.want {
				t.Errorf("status: got %d, want %d (%s)", resp.StatusCode, tc.want, body)
			}
		})
	}
}

func TestServer_AdminV1IsRefused(t *testing.T) {
	rec := &recorder{TB: t}
	s := New(rec, Options{})
	for _, c := range []struct{ method, path string }{
		{"POST", "/admin/v1/orgs/org-1/directory/users/abc/suspend-access"},
		{"POST", "/admin/v1/orgs/org-1/directory/users/abc/restore-access"},
		{"POST", "/admin/v1/orgs/org-1/directory/groups/g/memberships"},
		{"DELETE", "/admin/v1/orgs/org-1/directory/groups/g/memberships/abc"},
	} {
		resp, body := call(t, s, c.method, c.path, `{}`, adminAuth(s))
		if resp.StatusCode != http.StatusGone || !strings.Contains(body, `"code":"ADMIN-410"`) {
			t.Errorf("%s %s: %d %s, want 410 Gone", c.method, c.path, resp.StatusCode, body)
		}
	}
	if errs := rec.failures(); len(errs) != 4 || !strings.Contains(errs[0], "switched off; use v2") {
		t.Fatalf("failures: %q", errs)
	}
	for _, route := range GoneRoutes() {
		if n := s.Calls(route); n != 1 {
			t.Errorf("Calls(%q) = %d, want 1", route, n)
		}
	}
	// The one v1 read still served is not refused.
	id := s.AddUser("alice@example.com")
	if resp, body := call(t, s, "GET", "/admin/v1/orgs/org-1/directory/users/"+id+"/last-active-dates", "", adminAuth(s)); resp.StatusCode != 200 {
		t.Errorf("last-active-dates: %d %s", resp.StatusCode, body)
	}
	if errs := rec.failures(); len(errs) != 4 {
		t.Fatalf("failures: %q", errs[4:])
	}
}

func TestServer_RateLimit(t *testing.T) {
	s := New(t, Options{Faults: Faults{RateLimit: 5}})
	ok, limited := 0, 0
	for range 10 {
		resp, _ := call(t, s, "POST", "/admin/v2/orgs/org-1/directories/-/users/search", `{}`, adminAuth(s))
		switch resp.StatusCode {
		case 200:
			ok++
		case 429:
			// The Admin API says when in X-RateLimit-Reset only (ISO 8601, UTC).
			limited++
			reset, err := time.Parse(time.RFC3339Nano, resp.Header.Get("X-RateLimit-Reset"))
			if _, sent := resp.Header["Retry-After"]; sent || err != nil || !strings.HasSuffix(resp.Header.Get("X-RateLimit-Reset"), "Z") ||
				!reset.After(time.Now().Add(-time.Millisecond)) || reset.After(time.Now().Add(time.Second)) {
				t.Errorf("429 headers: Retry-After %q, X-RateLimit-Reset %q", resp.Header.Get("Retry-After"), resp.Header.Get("X-RateLimit-Reset"))
			}
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if ok != 5 || limited != 5 {
		t.Errorf("got %d ok and %d 429, want 5 and 5 (burst of one second at 5/s)", ok, limited)
	}
	if all, rl := s.Throttled(); all != 5 || rl != 5 {
		t.Errorf("Throttled: %d %d", all, rl)
	}
	// Jira has its own bucket, and its 429 carries Retry-After too.
	if resp, _ := call(t, s, "GET", "/rest/api/3/group/bulk", "", jiraAuth(s)); resp.StatusCode != 200 {
		t.Errorf("jira after the admin bucket ran dry: %d", resp.StatusCode)
	}
	for i := 0; ; i++ {
		resp, _ := call(t, s, "GET", "/rest/api/3/group/bulk", "", jiraAuth(s))
		if resp.StatusCode == 429 {
			if resp.Header.Get("Retry-After") != "1" || resp.Header.Get("X-RateLimit-Reset") == "" {
				t.Errorf("jira 429 headers: %v", resp.Header)
			}
			break
		}
		if i > 50 {
			t.Fatal("jira never answered 429")
		}
	}
}

func TestServer_InjectedFaults(t *testing.T) {
	s := New(t, Options{Faults: Faults{Throttle: 0.3, Unavailable: 0.2, ServerError: 0.1, RetryAfter: 2 * time.Second}})
	counts := map[int]int{}
	const n = 1000
	for range n {
		resp, _ := call(t, s, "POST", "/admin/v2/orgs/org-1/directories/-/groups/search", `{}`, adminAuth(s))
		counts[resp.StatusCode]++
		if resp.StatusCode == 429 {
			reset, err := time.Parse(time.RFC3339Nano, resp.Header.Get("X-RateLimit-Reset"))
			if err != nil || resp.Header.Get("Retry-After") != "" || reset.Before(time.Now().Add(time.Second)) || reset.After(time.Now().Add(2*time.Second+time.Millisecond)) {
				t.Fatalf("X-RateLimit-Reset %q, Retry-After %q: want the reset 2s ahead and no Retry-After",
					resp.Header.Get("X-RateLimit-Reset"), resp.Header.Get("Retry-After"))
			}
		}
	}
	for status, frac := range map[int]float64{429: 0.3, 503: 0.2, 500: 0.1, 200: 0.4} {
		if got := float64(counts[status]) / n; got < frac-0.06 || got > frac+0.06 {
			t.Errorf("status %d: %.3f of answers, want about %.2f", status, got, frac)
		}
	}
	if got := s.Calls("POST /admin/v2/orgs/{org}/directories/{dir}/groups/search"); got != n {
		t.Errorf("calls: got %d, want %d", got, n)
	}
}

func TestServer_RecordsChanges(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	s := New(t, Options{Now: func() time.Time { return at }})
	gid := s.AddGroup("jira-admins")
	id := s.AddUser("alice@example.com")
	for i := range 2 {
		resp, body := call(t, s, "POST", "/rest/api/3/group/user?groupId="+gid, `{"accountId":"`+id+`"}`, jiraAuth(s))
		if want := []int{201, 400}[i]; resp.StatusCode != want {
			t.Fatalf("add %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	resp, _ := call(t, s, "DELETE", "/admin/v2/orgs/org-1/directories/dir-1/groups/"+gid+"/memberships/"+id, "", adminAuth(s))
	if resp.StatusCode != 204 {
		t.Fatalf("admin remove: %d", resp.StatusCode)
	}
	got := s.Changes()
	if len(got) != 2 || got[0].Op != "add" || got[0].API != "jira" || got[1].Op != "remove" || got[1].API != "admin" ||
		!got[0].Time.Equal(at) || got[0].Email != "alice@example.com" || got[0].Group != "jira-admins" {
		t.Fatalf("changes: %+v", got)
	}
}

func TestServer_Latency(t *testing.T) {
	s := New(t, Options{Faults: Faults{Latency: 60 * time.Millisecond}})
	start := time.Now()
	if resp, _ := call(t, s, "POST", "/admin/v2/orgs/org-1/directories/-/groups/search", `{}`, adminAuth(s)); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("answered in %s, want at least the 60ms latency", d)
	}
	s.SetFaults(Faults{})
	start = time.Now()
	call(t, s, "POST", "/admin/v2/orgs/org-1/directories/-/groups/search", `{}`, adminAuth(s))
	if d := time.Since(start); d >= 60*time.Millisecond {
		t.Errorf("latency still added after SetFaults: %s", d)
	}
}
