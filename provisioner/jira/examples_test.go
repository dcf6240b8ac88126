package jira_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/jira"
)

// The provider parses the answers exactly as the spec's own examples show
// them: paging fields, values, emails that privacy settings leave out.
func TestContract_SpecExamples(t *testing.T) {
	bulk := atlassianfake.SpecExample(t, "/rest/api/3/group/bulk", "GET", 200)
	members := atlassianfake.SpecExample(t, "/rest/api/3/group/member", "GET", 200)
	search := atlassianfake.SpecExample(t, "/rest/api/3/user/search", "GET", 200)
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path+"?"+r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/rest/api/3/group/bulk":
			io.WriteString(w, bulk)
		case "/rest/api/3/group/member":
			if r.URL.Query().Get("startAt") == "0" {
				io.WriteString(w, members) // isLast: false
				return
			}
			io.WriteString(w, `{"isLast":true,"maxResults":50,"startAt":2,"total":2,"values":[]}`)
		case "/rest/api/3/user/search":
			io.WriteString(w, search)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	p, err := jira.New(jira.Config{SiteURL: srv.URL, Email: "bot@example.com", Token: "t-0123456789",
		Transport: atlassian.Options{Rate: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CheckGroups(ctx, []string{"jdog-developers", "juvenal-bot"}); err != nil {
		t.Fatalf("groups from the bulk example: %v", err)
	}
	got, err := p.Members(ctx, "jdog-developers")
	if err != nil || fmt.Sprint(got) != "[mia@example.com will@example.com]" {
		t.Fatalf("members from the member example: %v %v", got, err)
	}
	if want := "/rest/api/3/group/member?groupId=276f955c-63d7-42c8-9520-92d01dca0625&includeInactiveUsers=true&maxResults=50&startAt=2"; asked[len(asked)-1] != want {
		t.Errorf("second page: asked %q, want %q", asked[len(asked)-1], want)
	}
	// The search example carries no emailAddress (profile visibility):
	// the display name "Mia Krystof" must not be taken for mia@example.com.
	_, err = p.AccountID(ctx, "mia@example.com")
	if !approvals.IsPermanent(err) || !strings.Contains(err.Error(), "no Jira account") {
		t.Fatalf("account from the search example: %v", err)
	}
}
