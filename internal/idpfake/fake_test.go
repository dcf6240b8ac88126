package idpfake

import (
	"net/http"
	"strings"
	"sync"
	"testing"
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
