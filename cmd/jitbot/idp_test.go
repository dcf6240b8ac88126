package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/policies"
)

// Each identity provider names every setting it lacks, refuses plain http
// away from loopback, and never repeats a secret.
func TestIdPProvider_Env(t *testing.T) {
	key := filepath.Join(t.TempDir(), "sa.json")
	must(t, os.WriteFile(key, []byte(`{"type":"service_account","client_email":"sa@x.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nsecret-key-material\n-----END PRIVATE KEY-----\n","token_uri":"http://example.com/token"}`), 0o600))
	okta := &policies.DirectorySettings{Sources: []policies.DirectorySource{{Kind: "okta", URL: "http://okta.example.com"}}}
	for _, tc := range []struct {
		name     string
		provider string
		dir      *policies.DirectorySettings
		env      map[string]string
		want     []string
	}{
		{"OktaNothing", "okta", nil, nil, []string{"OKTA_URL is not set", "OKTA_API_TOKEN is not set"}},
		{"OktaPlainHTTP", "okta", okta, map[string]string{"OKTA_API_TOKEN": "okta-secret-123456"}, []string{"okta url", "https"}},
		{"EntraNothing", "entra", nil, nil, []string{"AZURE_TENANT_ID is not set", "AZURE_CLIENT_ID is not set", "AZURE_CLIENT_SECRET is not set"}},
		{"EntraPlainGraph", "entra", nil, map[string]string{"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "entra-secret-123456", "ENTRA_GRAPH_URL": "http://graph.example.com"}, []string{"ENTRA_GRAPH_URL"}},
		{"GoogleNothing", "google", nil, nil, []string{"GOOGLE_APPLICATION_CREDENTIALS is not set", "GOOGLE_ADMIN_SUBJECT is not set"}},
		{"GooglePlainTokenURI", "google", nil, map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": key, "GOOGLE_ADMIN_SUBJECT": "admin@x.io"}, []string{"token_uri", "https"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := idpProvider(func(k string) string { return tc.env[k] }, tc.provider, tc.dir, nil, nil, nil)
			if err == nil {
				t.Fatal("got no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to say %q", err, w)
				}
			}
			for _, secret := range []string{"okta-secret-123456", "entra-secret-123456", "secret-key-material"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("a secret leaked: %q", err)
				}
			}
		})
	}
}
