package google

import (
	"net/http"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/internal/idpfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/idp/idptest"
	"github.com/jonboulle/clockwork"
)

// The delegated service account's token is kept on the injected clock,
// renewed before it expires and once at a 401, as Entra's is.
func TestGoogle_TokenRenewal(t *testing.T) {
	idptest.TokenRenewal(t, idptest.TokenCase{
		Fake: func(o idpfake.Options, n int) idptest.TokenIssuer {
			f := idpfake.NewGoogle(t, o)
			idptest.Fill(f, n, ref)
			return f
		},
		Source: func(fi idptest.TokenIssuer, clock clockwork.Clock, hc *http.Client) directory.Source {
			f := fi.(*idpfake.Google)
			g, err := New(Config{Credentials: f.ServiceAccountJSON(), Subject: f.Subject(), APIURL: f.URL(), Clock: clock,
				Transport: atlassian.Options{BackoffBase: 1, HTTPClient: hc}})
			if err != nil {
				t.Fatal(err)
			}
			return g
		},
		Pages: "GET /admin/directory/v1/users", PageSize: 500,
		Secret: func(f idptest.TokenIssuer) string { return "PRIVATE KEY" }, // the key file's PEM, any part of it
	})
}

// A token request the endpoint refuses says why, as the endpoint put it.
func TestGoogle_TokenRefused(t *testing.T) {
	f := idpfake.NewGoogle(t, idpfake.Options{})
	idptest.Fill(f, 3, ref)
	g, err := New(Config{Credentials: f.ServiceAccountJSON(), Subject: "someone-else@example.com", APIURL: f.URL()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = directory.Collect(t.Context(), g)
	if err == nil || !strings.Contains(err.Error(), "refused the service account: unauthorized_client Client is unauthorized") {
		t.Fatalf("got %v, want the endpoint's unauthorized_client and its description", err)
	}
	if strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Errorf("the key leaked: %v", err)
	}
}
