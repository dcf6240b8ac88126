package atlassianadmin

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

const fuzzKey = "key-SECRET-0123456789"

// sameAnswer answers every request with one answer, and counts them; past
// 500 it fails, which ends a loop (the target then reports it).
type sameAnswer struct {
	status int
	body   []byte
	n      *atomic.Int64
}

func (a sameAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	if a.n.Add(1) > 500 {
		return nil, io.ErrUnexpectedEOF
	}
	return &http.Response{StatusCode: a.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(a.body)), Request: r}, nil
}

// FuzzAdminAnswers gives every call of the Admin API provider the same
// answer, any status and body: the users search and its cursor, the v1
// last-active dates, a user's groups, suspend, and the group membership
// calls. None may panic, show the API key, or ask without end.
func FuzzAdminAnswers(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{200, `{"data":[{"accountId":"a1","accountType":"atlassian","accountStatus":"active","membershipStatus":"active","email":"alice@example.com","name":"Alice","department":"Eng","addedToOrg":"2025-01-02T03:04:05Z","productAccess":[{"key":"jira-software","id":"p1","lastActiveTimestamp":"2026-11-01T09:00:00.000Z"}],"groups":[{"id":"g1","name":"jira-admins"}]}],"links":{"next":"c2"}}`},
		{200, `{"data":{"product_access":[{"id":"p1","key":"confluence","last_active":"2026-10-01"}],"added_to_org":"2024-05-06"},"links":{"next":"n"}}`},
		{200, `{"data":[{"id":"g1","name":"jira-admins","directoryId":"d1"}],"links":{}}`},
		{200, `{"data":[{"accountId":"a1","addedToOrg":"yesterday"}]}`},
		{204, ``},
		{404, `{"errors":[{"code":"ADMIN-UAM-404","status":"404","title":"Not Found","detail":"User not found"}]}`},
		{403, `{"errors":[{"code":"ADMIN-403","title":"Forbidden","detail":"key ` + fuzzKey + ` lacks scope"}]}`},
		{409, `{"errors":[{"code":"ADMIN-UAM-409","title":"Conflict","detail":"managed by SCIM"}]}`},
		{429, `{"message":"Too many requests"}`},
	} {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			status = 100 + (status%500+500)%500
		}
		var n atomic.Int64
		p, err := New(Config{OrgID: "org-1", APIKey: fuzzKey, Transport: atlassian.Options{
			Rate: -1, MaxAttempts: 1, Clock: clockwork.NewFakeClockAt(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)),
			HTTPClient: &http.Client{Transport: sameAnswer{status, body, &n}}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		m := approvals.Membership{Provider: "atlassian-admin", Group: "jira-admins", Person: "alice@example.com"}
		var errs []error
		errs = append(errs, p.EachUser(ctx, UserQuery{Products: true, Groups: true}, func(u User) error { return nil }))
		_, err = p.LastActiveDates(ctx, "a1")
		errs = append(errs, err)
		_, err = p.UserGroups(ctx, "a1")
		errs = append(errs, err, p.Suspend(ctx, "a1"), p.CheckGroups(ctx, []string{"jira-admins"}))
		_, err = p.IsMember(ctx, m)
		errs = append(errs, err, p.AddMember(ctx, m), p.RemoveMember(ctx, m))
		for _, err := range errs {
			if err != nil && strings.Contains(err.Error(), fuzzKey[:8]) && bytes.Count(body, []byte(fuzzKey[:8])) == bytes.Count(body, []byte(fuzzKey)) {
				t.Fatalf("an error shows the API key: %v", err)
			}
		}
		if got := n.Load(); got > 200 {
			t.Fatalf("%d requests for eight calls: an answer is asked for again and again", got)
		}
	})
}
