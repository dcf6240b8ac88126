package bot

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/review"
)

// The review card says what the person did where the activity data says:
// products used since the grant, not before; and nothing typed renders.
func TestBreakGlassCard(t *testing.T) {
	at := time.Date(2026, 12, 8, 20, 0, 0, 0, time.UTC)
	v := &approvals.BreakGlassView{
		Request: &approvals.Request{ID: "11111111-2222-3333-4444-555555555555", Requester: "dave@example.com", Resource: "jira-admins",
			Duration: 30 * time.Minute, Reason: "prod is down <!channel> *now*", State: approvals.StateActive, CreatedAt: at, EndsAt: at.Add(30 * time.Minute)},
		Review: &approvals.BreakGlassReview{Reviewers: []string{"bob@example.com"}, State: approvals.BreakGlassOpen},
		Grants: []*approvals.Grant{{Group: "jira-admins", State: approvals.GrantActive}},
	}
	activity := []review.ProductActivity{{Key: "jira-software", LastActive: at.Add(10 * time.Minute)}, {Key: "confluence", LastActive: at.Add(-48 * time.Hour)}}
	_, blocks := breakGlassCard(v, "bob@example.com", "Jira administrators", activity)
	raw, _ := json.Marshal(blocks)
	all := string(raw)
	for _, want := range []string{"Break-glass review", "dave@example.com", "Jira administrators", "used jira-software", "bg_ack", "bg_flag", `"type":"plain_text","text":"prod is down \u003c!channel\u003e *now*"`} {
		if !strings.Contains(all, want) {
			t.Errorf("the card lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "used confluence") {
		t.Error("the card lists a product last used before the grant")
	}
	_, blocks = breakGlassCard(v, "bob@example.com", "Jira administrators", nil)
	raw, _ = json.Marshal(blocks)
	if !strings.Contains(string(raw), "shows no product use since the grant") {
		t.Errorf("without activity data the card does not say so:\n%s", raw)
	}
	v.Review.State, v.Review.AnsweredBy, v.Review.Reason = approvals.BreakGlassFlagged, "bob@example.com", "no incident open"
	_, blocks = breakGlassCard(v, "bob@example.com", "Jira administrators", nil)
	raw, _ = json.Marshal(blocks)
	if strings.Contains(string(raw), "bg_ack") || !strings.Contains(string(raw), "Flagged") || !strings.Contains(string(raw), "no incident open") {
		t.Errorf("the answered card:\n%s", raw)
	}
}
