package atlassian

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// fuzzToken is the credential the fuzzed answers may echo back.
const fuzzToken = "tok-SECRET-0123456789"

// answerRT answers every request with one fuzzed answer.
type answerRT struct {
	status int
	header http.Header
	body   []byte
}

func (a answerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: a.status, Header: a.header.Clone(), Body: io.NopCloser(bytes.NewReader(a.body)), Request: r}, nil
}

// FuzzAnswer gives the client any answer an Atlassian API (or something
// in between) could send: any status, Retry-After and X-RateLimit-Reset
// headers, any body, decoded as a Jira page would be. The client must not
// panic, must never show the credential in an error (the answer may echo
// it), and must never wait a negative time.
func FuzzAnswer(f *testing.F) {
	for _, s := range []struct {
		status       int
		retry, reset string
		body         string
	}{
		{200, "", "", `{"values":[{"accountId":"a1","emailAddress":"a@x.io"}],"isLast":true,"startAt":0,"maxResults":50,"total":1}`},
		{400, "", "", `{"errorMessages":["User is already a member of 'g'."],"errors":{}}`},
		{404, "", "", `{"errors":[{"code":"ADMIN-UAM-404","status":"404","title":"Not Found","detail":"no user"}]}`},
		{429, "2", "2026-11-23T09:01Z", `{"message":"Rate limit exceeded"}`},
		{429, "", "1795000000", ``},
		{503, "Wed, 21 Oct 2026 07:28:00 GMT", "", `<html>upstream down</html>`},
		{401, "", "", `{"message":"bad token ` + fuzzToken + `"}`},
		{500, "-1", "-5", strings.Repeat("x", 290) + fuzzToken},
		{204, "", "", ``},
	} {
		f.Add(s.status, s.retry, s.reset, []byte(s.body))
	}
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	f.Fuzz(func(t *testing.T, status int, retry, reset string, body []byte) {
		if status < 100 || status > 599 {
			status = 100 + (status%500+500)%500
		}
		hdr := http.Header{}
		if retry != "" {
			hdr.Set("Retry-After", retry)
		}
		if reset != "" {
			hdr.Set("X-RateLimit-Reset", reset)
		}
		c, err := New(Options{Name: "jira", BaseURL: "https://x.atlassian.net", Auth: Basic("it@x.io", fuzzToken), Rate: -1,
			MaxAttempts: 1, Clock: clock, HTTPClient: &http.Client{Transport: answerRT{status, hdr, body}}})
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Values []struct {
				AccountID string `json:"accountId"`
				Email     string `json:"emailAddress"`
			} `json:"values"`
			IsLast bool `json:"isLast"`
		}
		_, err = c.Do(context.Background(), Request{Method: http.MethodGet, Path: "/rest/api/3/group/member"}, &page)
		if err != nil {
			msg := err.Error()
			if e, ok := AsError(err); ok {
				msg += " " + e.Detail()
			}
			basic := base64.StdEncoding.EncodeToString([]byte("it@x.io:" + fuzzToken))
			// A piece of the token counts too, unless the answer has that
			// piece on its own somewhere.
			piece := []byte(fuzzToken[:8])
			if strings.Contains(msg, fuzzToken) || strings.Contains(msg, basic) ||
				strings.Contains(msg, string(piece)) && bytes.Count(body, piece) == bytes.Count(body, []byte(fuzzToken)) {
				t.Fatalf("the error shows the credential: %q", msg)
			}
		}
		if d, ok := c.headerDelay(hdr, status); ok && d < 0 {
			t.Fatalf("headerDelay(%q, %q) = %v", retry, reset, d)
		}
		if d := c.delay(hdr, status, 1); d < 0 {
			t.Fatalf("delay(%q, %q) = %v", retry, reset, d)
		}
	})
}
