package bot_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/review"
)

const rDay = policies.Day

// reviewPolicy: bob manages Engineering (alice, gina, erin), carol
// manages Finance and IT (hank, dave, frank); dave and frank are the IT
// group. Employees (example.com) are prompted, consultants (partner.io)
// warned and then suspended; both digest in #it-licences.
const reviewPolicy = `directory:
  people:
    - {email: bob@example.com, department: Engineering, employment: internal}
    - {email: alice@example.com, department: Engineering, manager: bob@example.com, employment: internal}
    - {email: gina@example.com, department: Engineering, manager: bob@example.com, employment: internal}
    - {email: carol@example.com, department: Finance, employment: internal}
    - {email: hank@example.com, department: Finance, manager: carol@example.com, employment: internal}
    - {email: dave@example.com, department: IT, manager: carol@example.com, employment: internal}
    - {email: frank@example.com, department: IT, manager: carol@example.com, employment: internal}
    - {email: erin@partner.io, department: Engineering, manager: bob@example.com, employment: external}
resources:
  - {id: ops-tools, name: Ops tools, provider: dryrun, group: ops-tools, max_duration: 1d}
rules:
  - {name: the manager approves, then: {approvals: [{approvers: [manager]}]}}
reviews:
  - name: employees
    if: {user: {email_domain: [example.com]}}
    products: [jira-software, confluence]
    inactive_for: 30d
    schedule: "@every 8760h"
    action: prompt_manager
    answer_within: 5d
    default: keep
    keep_for: 90d
    digest: "#it-licences"
  - name: consultants
    if: {user: {email_domain: [partner.io]}}
    inactive_for: 2d
    schedule: "@every 8760h"
    action: suspend
    warn_before: 1d
    digest: "#it-licences"
licence_costs: {jira-software: 8.60, confluence: 6.05}
`

const (
	uGina     = "U0GINA"
	uHank     = "U0HANK"
	cLicences = "C0LICENCES"
)

// org is an Atlassian organisation in memory: the directory the review
// syncs, and the v2 suspend and restore with group memberships.
type org struct {
	mu        sync.Mutex
	users     []review.DirectoryUser
	groups    map[string][]review.Group // account id → groups
	suspended map[string]bool
	suspends  int
}

var (
	_ review.Directory = (*org)(nil)
	_ review.Accounts  = (*org)(nil)
)

func (o *org) Users(_ context.Context, fn func([]review.DirectoryUser) error) error {
	o.mu.Lock()
	page := append([]review.DirectoryUser(nil), o.users...)
	o.mu.Unlock()
	return fn(page)
}

func (o *org) Suspend(_ context.Context, id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.suspended[id] = true
	o.suspends++
	return nil
}

func (o *org) Restore(_ context.Context, id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.suspended, id)
	return nil
}

func (o *org) GroupsOf(_ context.Context, id string) ([]review.Group, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]review.Group(nil), o.groups[id]...), nil
}

func (o *org) AddToGroup(_ context.Context, g review.Group, id, _ string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if g.Name == "old-project" {
		return review.ErrGroupNotFound
	}
	o.groups[id] = append(o.groups[id], g)
	return nil
}

func (o *org) isSuspended(email string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.suspended["acc-"+strings.Split(email, "@")[0]]
}

// reviewEnv is the bot env with the licence review engine over its store
// and the organisation above.
type reviewEnv struct {
	*env
	eng *review.Engine
	org *org
}

// person builds a directory user inactive for idle days in both products
// (confluence never used when never is set).
func (r *reviewEnv) person(email, name, dept string, idle int, never bool) review.DirectoryUser {
	now := r.clock.Now()
	u := review.DirectoryUser{AccountID: "acc-" + strings.Split(email, "@")[0], Email: email, Name: name, Department: dept,
		AccountType: review.AccountTypePerson, AccountStatus: review.AccountActive, MembershipStatus: "active",
		ManagementSource: "invited", AddedToOrg: now.Add(-400 * rDay)}
	u.Products = []review.ProductActivity{{Key: "jira-software", LastActive: now.Add(-time.Duration(idle) * rDay)}}
	if !never {
		u.Products = append(u.Products, review.ProductActivity{Key: "confluence", LastActive: now.Add(-time.Duration(idle+1) * rDay)})
	}
	return u
}

func newReviewEnv(t *testing.T, o envOptions) *reviewEnv {
	t.Helper()
	return newReviewEnvPolicy(t, o, reviewPolicy)
}

// newReviewEnvPolicy is newReviewEnv with another review policy.
func newReviewEnvPolicy(t *testing.T, o envOptions, policy string) *reviewEnv {
	t.Helper()
	r := &reviewEnv{org: &org{groups: map[string][]review.Group{}, suspended: map[string]bool{}}}
	o.policy = policy
	o.users = append(o.users,
		localslack.User{ID: uGina, Name: "gina", RealName: "Gina Gray", Email: "gina@example.com"},
		localslack.User{ID: uHank, Name: "hank", RealName: "Hank Hill", Email: "hank@example.com"})
	o.review = func(e *env) bot.Reviewer {
		p, err := policies.Parse("policy.yaml", []byte(policy), nil)
		if err != nil {
			t.Fatal(err)
		}
		r.eng = review.New(review.Config{Store: e.db, Policy: p, Directory: r.org, Accounts: r.org, Access: e.svc,
			Clock: e.clock, SyncMaxAge: -1})
		r.eng.RegisterJobs(e.svc)
		return r.eng
	}
	r.env = newEnvWith(t, o)
	r.srv.AddChannel(cLicences, "it-licences")
	r.org.users = []review.DirectoryUser{
		r.person("bob@example.com", "Bob Baker", "Engineering", 1, false),
		r.person("alice@example.com", "Alice Archer", "Engineering", 40, false),
		r.person("gina@example.com", "Gina *Gray* <!channel>", "Engineering", 35, true),
		r.person("carol@example.com", "Carol Chen", "Finance", 2, false),
		r.person("hank@example.com", "Hank Hill", "Finance", 60, false),
		r.person("dave@example.com", "Dave Dunn", "IT", 0, false),
		r.person("frank@example.com", "Frank Fox", "IT", 0, false),
		r.person("kim@example.com", "Kim Kay", "Sales", 90, false), // not in jitbot's directory: unassigned
		r.person("erin@partner.io", "Erin External", "Engineering", 5, false),
	}
	r.org.groups["acc-alice"] = []review.Group{{ID: "g1", Name: "staff"}, {ID: "g2", Name: "design"}}
	r.org.groups["acc-erin"] = []review.Group{{ID: "g1", Name: "staff"}, {ID: "g3", Name: "old-project"}}
	if _, err := r.eng.Sync(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return r
}

// run runs a rule now.
func (r *reviewEnv) run(rule string) *review.Run {
	r.t.Helper()
	rr, ok := r.eng.Policy().Review.Rule(rule)
	if !ok {
		r.t.Fatalf("no rule %s", rule)
	}
	run, err := r.eng.RunReview(context.Background(), rr, review.RunOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	return run
}

// item returns a run's item about email.
func (r *reviewEnv) item(runID, email string) *review.Item {
	r.t.Helper()
	its, err := r.eng.Items(context.Background(), review.ItemFilter{RunID: runID, Email: email})
	if err != nil || len(its) != 1 {
		r.t.Fatalf("item of %s in run %s: %v (%d)", email, runID, err, len(its))
	}
	return its[0]
}

func (r *reviewEnv) waitItem(runID, email string, want review.ItemState) *review.Item {
	r.t.Helper()
	var it *review.Item
	r.wait(email+" to be "+string(want), func() bool {
		it = r.item(runID, email)
		return it.State == want
	})
	return it
}

// sweep applies the review's deadlines at the clock's now.
func (r *reviewEnv) sweep() {
	r.t.Helper()
	if _, err := r.eng.Sweep(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// buttonOf finds, in a message, the action id of the button with prefix
// whose value is value.
func buttonOf(m localslack.Message, prefix, value string) (string, bool) {
	var blocks []struct {
		Elements []struct {
			ActionID string          `json:"action_id"`
			Value    string          `json:"value"`
			Confirm  json.RawMessage `json:"confirm"`
		} `json:"elements"`
	}
	if json.Unmarshal(m.Blocks, &blocks) != nil {
		return "", false
	}
	for _, bl := range blocks {
		for _, el := range bl.Elements {
			if strings.HasPrefix(el.ActionID, prefix) && el.Value == value {
				return el.ActionID, true
			}
		}
	}
	return "", false
}

// hasConfirm reports whether the button with actionID asks to confirm.
func hasConfirm(m localslack.Message, actionID string) bool {
	var blocks []struct {
		Elements []struct {
			ActionID string          `json:"action_id"`
			Confirm  json.RawMessage `json:"confirm"`
		} `json:"elements"`
	}
	_ = json.Unmarshal(m.Blocks, &blocks)
	for _, bl := range blocks {
		for _, el := range bl.Elements {
			if el.ActionID == actionID {
				return len(el.Confirm) > 0
			}
		}
	}
	return false
}

// modal waits for user's open modal with callback.
func (e *env) modal(user, callback string) localslack.View {
	e.t.Helper()
	var v localslack.View
	e.wait("the "+callback+" modal for "+user, func() bool {
		got, ok := e.srv.LastView(user)
		v = got
		return ok && got.Open && got.CallbackID == callback
	})
	return v
}

// submitReason submits a review modal with reason.
func (r *reviewEnv) submitReason(user string, v localslack.View, reason string) localslack.Ack {
	r.t.Helper()
	ack, err := r.srv.ViewSubmission(user, v.ID, localslack.Values{"reason": {"text": reason}})
	if err != nil {
		r.t.Fatal(err)
	}
	return ack
}

func (r *reviewEnv) clickItem(user string, m localslack.Message, prefix, itemID string) {
	r.t.Helper()
	action, ok := buttonOf(m, prefix, itemID)
	if !ok {
		r.t.Fatalf("no %s button for %s on the message: %s", prefix, itemID, m.AllText())
	}
	r.click(user, m, action)
}

// inPlainTextPart reports whether a plain_text object in blocks contains
// text; any mrkdwn object containing it fails the test.
func inPlainTextPart(t *testing.T, blocks json.RawMessage, text string) bool {
	t.Helper()
	found := false
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if s, ok := x["text"].(string); ok && strings.Contains(s, text) {
				switch x["type"] {
				case "plain_text":
					found = true
				case "mrkdwn":
					t.Errorf("text of the directory or of a person in mrkdwn: %q", s)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	var v any
	if err := json.Unmarshal(blocks, &v); err != nil {
		t.Fatal(err)
	}
	walk(v)
	return found
}
