package atlassian

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"
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
	header func() string         // the whole Authorization header value
	scrub  func(s string) string // replaces every form of the credential in s
}

func newAuth(scheme, value string, secrets ...string) Auth {
	header := scheme + " " + value
	return Auth{
		scheme: scheme,
		header: func() string { return header },
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
