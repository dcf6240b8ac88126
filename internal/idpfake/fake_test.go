package idpfake

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a TB that keeps the failures instead of failing.
type recorder struct {
	*testing.T
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, format)
}

func requireSpecs(t *testing.T) {
	if FindSpecDir() == "" {
		t.Skip("contract test skipped: shared/specs not found above the working directory (it lives beside the repository)")
	}
}

// Each fake refuses, and reports, requests the official description does
// not allow.
func TestFakes_Violations(t *testing.T) {
	requireSpecs(t)
	rec := &recorder{T: t}
	okta := NewOkta(rec, Options{})
	entra := NewEntra(rec, Options{})
	google := NewGoogle(rec, Options{})
	for _, tt := range []struct {
		name, method, url, body, want string
	}{
		{"okta unknown parameter", "GET", okta.URL() + "/api/v1/users?pageSize=5", "", `query parameter "pageSize" is not declared`},
		{"okta unknown operation", "POST", okta.URL() + "/api/v1/users/x/lifecycle/pause", "", "is no operation"},
		{"graph unknown property", "GET", entra.URL() + "/v1.0/users?$select=id,managerEmail", "", `$select names "managerEmail"`},
		{"graph unknown navigation", "GET", entra.URL() + "/v1.0/users/x/boss", "", `"boss" is no navigation property of user`},
		{"graph patch", "PATCH", entra.URL() + "/v1.0/users/x", `{"enabled":false}`, `PATCH sets "enabled"`},
		{"google unknown body property", "PUT", google.URL() + "/admin/directory/v1/users/x", `{"suspend":true}`, `body property "suspend"`},
		{"google unknown parameter", "GET", google.URL() + "/admin/directory/v1/users?limit=5", "", `query parameter "limit"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(okta.Problems()) + len(entra.Problems()) + len(google.Problems())
			req, _ := http.NewRequest(tt.method, tt.url, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("got %d, want 400", resp.StatusCode)
			}
			all := append(append(okta.Problems(), entra.Problems()...), google.Problems()...)
			if len(all) != before+1 || !strings.Contains(strings.Join(all, "\n"), tt.want) {
				t.Errorf("got problems %q, want one more saying %s", all, tt.want)
			}
		})
	}
	if len(rec.errs) != 7 {
		t.Errorf("got %d failures reported to the test, want 7", len(rec.errs))
	}
}

// Each fake answers a refused credential, the outage and its rate limit in
// its IdP's own shape, through the one dialect they share.
func TestFakes_ErrorShapes(t *testing.T) {
	okta := NewOkta(t, Options{})
	entra := NewEntra(t, Options{})
	google := NewGoogle(t, Options{})
	type fake interface {
		SetDown(bool)
		SetRateLimit(float64, int)
	}
	for _, tt := range []struct {
		name string
		f    fake
		url  string
		// code reads the IdP's error code from its body.
		code                  func(body map[string]any) any
		denied, down, limited string
		limitedStatus         int
	}{
		{"okta", okta, okta.URL() + "/api/v1/users", func(b map[string]any) any { return b["errorCode"] },
			"E0000011", "E0000009", "E0000047", http.StatusTooManyRequests},
		{"graph", entra, entra.URL() + "/v1.0/users", func(b map[string]any) any { return b["error"].(map[string]any)["code"] },
			"InvalidAuthenticationToken", "generalException", "TooManyRequests", http.StatusTooManyRequests},
		{"google", google, google.URL() + "/admin/directory/v1/users?customer=my_customer", func(b map[string]any) any {
			return b["error"].(map[string]any)["errors"].([]any)[0].(map[string]any)["reason"]
		}, "authError", "backendError", "userRateLimitExceeded", http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			get := func() (int, any) {
				t.Helper()
				resp, err := http.Get(tt.url) // no credential
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body map[string]any
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
					t.Fatalf("%d answer: %v", resp.StatusCode, err)
				}
				return resp.StatusCode, tt.code(body)
			}
			if status, code := get(); status != http.StatusUnauthorized || code != tt.denied {
				t.Errorf("no credential: got %d %v, want 401 %s", status, code, tt.denied)
			}
			tt.f.SetDown(true)
			if status, code := get(); status != http.StatusInternalServerError || code != tt.down {
				t.Errorf("down: got %d %v, want 500 %s", status, code, tt.down)
			}
			tt.f.SetDown(false)
			tt.f.SetRateLimit(0.001, 1)
			get() // the one request the budget holds
			if status, code := get(); status != tt.limitedStatus || code != tt.limited {
				t.Errorf("over the limit: got %d %v, want %d %s", status, code, tt.limitedStatus, tt.limited)
			}
		})
	}
}

// Okta's answers carry X-Rate-Limit-Limit, -Remaining and -Reset while a
// limit is set, a 429 included; with none set, none.
func TestOkta_RateLimitHeaders(t *testing.T) {
	f := NewOkta(t, Options{})
	get := func() http.Header {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, f.URL()+"/api/v1/users", nil)
		req.Header.Set("Authorization", "SSWS "+f.Token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		resp.Header.Set("Status", strconv.Itoa(resp.StatusCode))
		return resp.Header
	}
	if h := get(); h.Get("X-Rate-Limit-Limit") != "" {
		t.Errorf("no limit set: got X-Rate-Limit-Limit %q, want none", h.Get("X-Rate-Limit-Limit"))
	}
	f.SetRateLimit(1, 3) // slow enough that the budget does not refill meanwhile
	var got []string
	for range 4 {
		h := get()
		reset, err := strconv.ParseInt(h.Get("X-Rate-Limit-Reset"), 10, 64)
		if err != nil || reset < time.Now().Unix() || reset > time.Now().Unix()+2 {
			t.Errorf("X-Rate-Limit-Reset %q: want epoch seconds within the next two", h.Get("X-Rate-Limit-Reset"))
		}
		got = append(got, h.Get("Status")+" "+h.Get("X-Rate-Limit-Limit")+"/"+h.Get("X-Rate-Limit-Remaining"))
	}
	if want := []string{"200 3/2", "200 3/1", "200 3/0", "429 3/0"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
