package atlassian

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"sync"
)

const redacted = "[redacted]"

// Secret is a credential (an API token or key). However it is formatted —
// %v, %+v, %#v, %s, %q, JSON, zap — it prints as [redacted]; only Reveal
// gives the value, and only the transport calls it, to build the
// Authorization header.
type Secret string

// String returns [redacted].
func (Secret) String() string { return redacted }

// GoString returns [redacted].
func (Secret) GoString() string { return redacted }

// Format prints [redacted] for every verb.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalText returns [redacted], so JSON and text encoders never see the value.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Reveal returns the credential itself.
func (s Secret) Reveal() string { return string(s) }

// Auth is how a Client authenticates. Build it with Basic or Bearer. It
// keeps the credential inside closures, which reflection cannot look
// into, so printing anything that holds an Auth — even through unexported
// fields, even with a wrong verb — shows no token.
type Auth struct {
	scheme string
	header func() (string, error) // the whole Authorization header value
	scrub  func(s string) string  // replaces every form of the credential in s
	// refused, when set, is told the Authorization header value an API
	// answered 401 to (OnRefused).
	refused func(header string)
}

// OnRefused returns a with refused told the Authorization header an API
// answered 401 to: an access token that expired early (revoked, a clock
// ahead of ours) is dropped there, and the call is sent once more with
// the next header a gives. A second 401 ends the call.
func (a Auth) OnRefused(refused func(header string)) Auth {
	a.refused = refused
	return a
}

func newAuth(scheme, value string, secrets ...string) Auth {
	header := scheme + " " + value
	return Auth{
		scheme: scheme,
		header: func() (string, error) { return header, nil },
		scrub: func(s string) string {
			for _, sec := range secrets {
				if len(sec) >= 4 {
					s = strings.ReplaceAll(s, sec, redacted)
				}
			}
			return s
		},
	}
}

// Basic is HTTP basic authentication with an Atlassian account email and
// API token (Jira Cloud).
func Basic(email string, token Secret) Auth {
	enc := base64.StdEncoding.EncodeToString([]byte(email + ":" + token.Reveal()))
	return newAuth("Basic", enc, token.Reveal(), enc)
}

// Bearer is bearer authentication with an API key (the Admin API).
func Bearer(key Secret) Auth {
	return newAuth("Bearer", key.Reveal(), key.Reveal())
}

// Format prints the scheme only.
func (a Auth) Format(f fmt.State, _ rune) {
	s := a.scheme
	if s == "" {
		s = "none"
	}
	_, _ = io.WriteString(f, s+" "+redacted)
}

// IsZero reports whether no credential was set.
func (a Auth) IsZero() bool { return a.header == nil }

// SSWS is Okta's API token authentication (Authorization: SSWS token).
func SSWS(token Secret) Auth {
	return newAuth("SSWS", token.Reveal(), token.Reveal())
}

// A TokenSource gives a bearer access token, fetching a new one when the
// one it holds expires (golang.org/x/oauth2's ReuseTokenSource does).
type TokenSource func() (string, error)

// BearerToken is bearer authentication with access tokens from src (OAuth
// client credentials, a service account's signed assertion). Every token
// src gave, and the secrets listed, are kept out of errors and logs.
func BearerToken(src TokenSource, secrets ...string) Auth {
	var mu sync.Mutex
	seen := map[string]bool{}
	for _, s := range secrets {
		seen[s] = true
	}
	return Auth{
		scheme: "Bearer",
		header: func() (string, error) {
			tok, err := src()
			if err != nil {
				return "", err
			}
			mu.Lock()
			seen[tok] = true
			mu.Unlock()
			return "Bearer " + tok, nil
		},
		scrub: func(s string) string {
			mu.Lock()
			defer mu.Unlock()
			for sec := range seen {
				if len(sec) >= 4 {
					s = strings.ReplaceAll(s, sec, redacted)
				}
			}
			return s
		},
	}
}
