package atlassian

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// CheckBaseURL is the rule for the URL credentials are sent to: https,
// or plain http to a loopback address only (127.0.0.0/8, ::1, localhost:
// a local test site or fake). setting names where the URL came from
// (ATLASSIAN_SITE_URL, ATLASSIAN_API_URL) so the error says what to fix.
// The error never repeats a user name, password or query string from the
// URL.
func CheckBaseURL(setting, raw string) error {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%s=%q is not an https URL such as https://example.atlassian.net", setting, shown(u, err, raw))
	}
	if u.User != nil {
		return fmt.Errorf("%s must not contain credentials: put them in the token settings", setting)
	}
	if u.Scheme == "http" && !Loopback(u.Hostname()) {
		return fmt.Errorf("%s=%q must be an https URL: plain http is allowed only to a loopback address (127.0.0.1, ::1, localhost), so credentials never cross the network in the clear",
			setting, shown(u, nil, raw))
	}
	return nil
}

// Loopback reports whether host (no port) is localhost or a loopback IP.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// shown is the URL as it may appear in an error: scheme, host and path.
func shown(u *url.URL, err error, raw string) string {
	if err != nil || u == nil {
		if strings.ContainsAny(raw, "@?") {
			return "(not shown: it may hold a credential)"
		}
		return raw
	}
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, Opaque: u.Opaque}
	return c.String()
}

// errInsecureRedirect stops a redirect that would send the Authorization
// header in the clear.
var errInsecureRedirect = errors.New("refused a redirect to plain http: credentials are sent over https only")

// noDowngrade wraps an http.Client's redirect policy: Go forwards the
// Authorization header on a redirect to the same host, even from https to
// http, so such a redirect is refused before it is followed.
func noDowngrade(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" && !Loopback(req.URL.Hostname()) {
			return errInsecureRedirect
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 { // net/http's default policy
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}
