package atlassian

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Integrity item 17: the Jira site URL and the Admin API URL may not be
// plain http while credentials are sent, except to a loopback address
// (the tests' fakes); the refusal names the setting and never the
// credential. A redirect from https to http is not followed either.
func TestIntegrity17_HTTPSRequired(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		want      string // "" accepts
	}{
		{"HTTPS", "https://example.atlassian.net", ""},
		{"HTTPSWithPath", "https://api.atlassian.com/", ""},
		{"LoopbackV4", "http://127.0.0.1:8080", ""},
		{"LoopbackV4Range", "http://127.0.0.2", ""},
		{"LoopbackV6", "http://[::1]:9000", ""},
		{"Localhost", "http://localhost:3000", ""},
		{"LocalhostUpper", "http://LOCALHOST", ""},
		{"PlainHTTP", "http://example.atlassian.net", `ATLASSIAN_SITE_URL="http://example.atlassian.net" must be an https URL`},
		{"PrivateIP", "http://10.0.0.7", `must be an https URL: plain http is allowed only to a loopback address (127.0.0.1, ::1, localhost)`},
		{"LoopbackLookalike", "http://127.0.0.1.example.com", "must be an https URL"},
		{"LocalhostSubdomain", "http://localhost.example.com", "must be an https URL"},
		{"OtherScheme", "ftp://example.atlassian.net", `ATLASSIAN_SITE_URL="ftp://example.atlassian.net" is not an https URL`},
		{"NoHost", "example.atlassian.net", "is not an https URL"},
		{"Empty", "", "is not an https URL"},
		{"Credentials", "http://admin:tok-SECRET-7f3a9c@example.atlassian.net", "ATLASSIAN_SITE_URL must not contain credentials"},
		{"CredentialsHTTPS", "https://admin:tok-SECRET-7f3a9c@example.atlassian.net", "must not contain credentials"},
		{"QueryNotEchoed", "http://example.atlassian.net/?token=tok-SECRET-7f3a9c", `"http://example.atlassian.net/" must be an https URL`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Options{Name: "jira", Setting: "ATLASSIAN_SITE_URL", BaseURL: tc.url, Auth: Basic("a@example.com", testToken), Rate: -1})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want it accepted", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			case err != nil && strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), testToken.Reveal()):
				t.Fatalf("the credential is in the error: %v", err)
			}
		})
	}
	t.Run("DefaultSettingName", func(t *testing.T) {
		_, err := New(Options{Name: "admin", BaseURL: "http://api.atlassian.com", Auth: Bearer(testToken)})
		if err == nil || !strings.HasPrefix(err.Error(), `admin: admin base URL="http://api.atlassian.com" must be an https URL`) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("RedirectToHTTP", func(t *testing.T) {
		// A loopback site that answers every request with a redirect to a
		// plain-http host: the client must not follow it (Go would send
		// the Authorization header along to the same host name).
		var calls int
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls++
			http.Redirect(w, r, "http://example.atlassian.net/rest/api/3/group/bulk", http.StatusFound)
		}))
		defer srv.Close()
		c, err := New(Options{Name: "jira", BaseURL: srv.URL, Auth: Basic("a@example.com", testToken), Rate: -1, MaxAttempts: 1, HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Do(context.Background(), Request{Method: http.MethodGet, Path: "/rest/api/3/group/bulk"}, nil)
		if err == nil || !strings.Contains(err.Error(), "refused a redirect to plain http") || calls != 1 {
			t.Fatalf("got %v after %d calls, want the redirect refused", err, calls)
		}
		if srv.Client().CheckRedirect != nil {
			t.Error("the caller's http.Client was changed")
		}
	})
	t.Run("RedirectWithinLoopback", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/old" {
				http.Redirect(w, r, "/new", http.StatusFound)
				return
			}
			w.Write([]byte(`{}`))
		}))
		defer srv.Close()
		c, err := New(Options{Name: "jira", BaseURL: srv.URL, Auth: Basic("a@example.com", testToken), Rate: -1, HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Do(context.Background(), Request{Method: http.MethodGet, Path: "/old"}, nil); err != nil {
			t.Fatal(err)
		}
	})
}
