package entra

import (
	"net/http"
	"testing"

	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/internal/idpfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/idp/idptest"
	"github.com/jonboulle/clockwork"
)

func TestEntra_TokenRenewal(t *testing.T) {
	idptest.TokenRenewal(t, idptest.TokenCase{
		Fake: func(o idpfake.Options, n int) idptest.TokenIssuer {
			f := idpfake.NewEntra(t, o)
			idptest.Fill(f, n, ref)
			return f
		},
		Source: func(fi idptest.TokenIssuer, clock clockwork.Clock, hc *http.Client) directory.Source {
			f := fi.(*idpfake.Entra)
			e, err := New(Config{Tenant: f.Tenant(), ClientID: f.ClientID(), ClientSecret: atlassian.Secret(f.ClientSecret()),
				Authority: f.URL(), GraphURL: f.URL(), Clock: clock, Transport: atlassian.Options{BackoffBase: 1, HTTPClient: hc}})
			if err != nil {
				t.Fatal(err)
			}
			return e
		},
		Pages: "GET /v1.0/users", PageSize: 999,
		Secret: func(f idptest.TokenIssuer) string { return f.(*idpfake.Entra).ClientSecret() },
	})
}
