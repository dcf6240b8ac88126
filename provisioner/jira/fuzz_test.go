package jira

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jonboulle/clockwork"
)

const fuzzToken = "tok-SECRET-0123456789"

// sameAnswer answers every request with one answer, and counts them.
type sameAnswer struct {
	status int
	body   []byte
	n      *atomic.Int64
}

func (a sameAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	if a.n.Add(1) > 500 {
		return nil, io.ErrUnexpectedEOF // ends a loop; the target then fails
	}
	return &http.Response{StatusCode: a.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(a.body)), Request: r}, nil
}

// FuzzJiraAnswers gives every call of the provider the same answer, any
// status and body: group lookup, account search, membership check, add,
// remove and the member list. None may panic, show the API token, or ask
// without end (a page that is never the last, repeated).
func FuzzJiraAnswers(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{200, `{"isLast":true,"startAt":0,"maxResults":50,"total":1,"values":[{"groupId":"g1","name":"jira-admins"}]}`},
		{200, `[{"accountId":"a1","emailAddress":"alice@example.com"}]`},
		{200, `{"isLast":false,"startAt":0,"values":[{"accountId":"a1","emailAddress":"alice@example.com"}]}`},
		{200, `{"isLast":false,"values":[{"groupId":"g1","name":"jira-admins"}]}`},
		{201, `{"name":"jira-admins","groupId":"g1"}`},
		{400, `{"errorMessages":["User is already a member of 'jira-admins'."],"errors":{}}`},
		{404, `{"errorMessages":["Specified group does not exist."],"errors":{}}`},
		{403, `{"errorMessages":["You do not have permission: ` + fuzzToken + `"]}`},
		{429, `{"message":"Rate limit exceeded"}`},
	} {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			status = 100 + (status%500+500)%500
		}
		var n atomic.Int64
		p, err := New(Config{SiteURL: "https://x.atlassian.net", Email: "it@x.io", Token: fuzzToken, Transport: atlassian.Options{
			Rate: -1, MaxAttempts: 1, Clock: clockwork.NewFakeClockAt(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)),
			HTTPClient: &http.Client{Transport: sameAnswer{status, body, &n}}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		m := approvals.Membership{Provider: "jira", Group: "jira-admins", Person: "alice@example.com"}
		var errs []error
		errs = append(errs, p.CheckGroups(ctx, []string{"jira-admins"}))
		_, err = p.AccountID(ctx, m.Person)
		errs = append(errs, err)
		_, err = p.IsMember(ctx, m)
		errs = append(errs, err, p.AddMember(ctx, m), p.RemoveMember(ctx, m))
		_, err = p.Members(ctx, m.Group)
		errs = append(errs, err)
		for _, err := range errs {
			if err != nil && strings.Contains(err.Error(), fuzzToken[:8]) && bytes.Count(body, []byte(fuzzToken[:8])) == bytes.Count(body, []byte(fuzzToken)) {
				t.Fatalf("an error shows the token: %v", err)
			}
		}
		if got := n.Load(); got > 200 {
			t.Fatalf("%d requests for six calls: a page that is never the last is asked for again and again", got)
		}
	})
}
