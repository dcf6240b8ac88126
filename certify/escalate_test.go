package certify_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/certify"
	"github.com/jitbot/jitbot/internal/testenv"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/store"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// escPolicy: bob manages alice and erin, carol manages bob and dave and
// has no manager; dave owns ops-admins. Members are reviewed by their
// manager; halfway the items go to the owner, the reviewer's manager and
// an empty Slack user group.
const escPolicy = `directory:
  people:
    - {email: carol@example.com, department: IT, employment: internal}
    - {email: bob@example.com, department: IT, manager: carol@example.com, employment: internal}
    - {email: alice@example.com, department: IT, manager: bob@example.com, employment: internal}
    - {email: erin@example.com, department: IT, manager: bob@example.com, employment: internal}
    - {email: dave@example.com, department: IT, manager: carol@example.com, employment: internal}
resources:
  - {id: ops-admins, provider: jira, group: ops-admins, max_duration: 4h, owners: [dave@example.com]}
rules:
  - {name: the manager approves, then: {approvals: [{approvers: [manager]}]}}
certifications:
  - name: ops
    resources: [ops-admins]
    reviewers: [manager]
    schedule: "@monthly"
    answer_within: 14d
    escalate_to: [owner, manager, group:empty]
`

// TestEngine_Escalation: halfway, owner and manager name the resource's
// owner and the reviewer's manager for each item, never the member; the
// terms that name nobody are recorded on the item and in its audit event;
// the people named may answer, and only they.
func TestEngine_Escalation(t *testing.T) {
	prov := newGroups(map[string][]string{"ops-admins": {"alice@example.com", "erin@example.com", "bob@example.com", "dave@example.com"}})
	env := testenv.New(t, testenv.Options{Policy: escPolicy, At: t0,
		Providers: func(*store.DB) map[string]approvals.Provisioner {
			return map[string]approvals.Provisioner{"jira": prov}
		}})
	for _, k := range certify.MessageJobs {
		env.Svc.Register(k, approvals.JobType{Lane: approvals.LaneMessage, Run: func(context.Context, *approvals.Job) error { return nil }})
	}
	core, logs := observer.New(zap.WarnLevel)
	eng := certify.New(certify.Config{Store: env.DB, Access: env.Svc, Clock: env.Clock, Resolver: slackGroups{"empty": nil}, Log: zap.New(core)})
	rule, _ := env.Policy.CertRule("ops")
	c, err := eng.Start(env.Ctx, rule, certify.TriggerCLI)
	if err != nil {
		t.Fatal(err)
	}
	items := func() map[string]*certify.Item {
		_, its, err := eng.Campaign(env.Ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*certify.Item{}
		for _, it := range its {
			out[strings.TrimSuffix(it.Person, "@example.com")] = it
		}
		return out
	}
	its := items()
	if its["alice"].Reviewer != "bob@example.com" || its["bob"].Reviewer != "carol@example.com" || its["dave"].Reviewer != "carol@example.com" {
		t.Fatalf("reviewers: alice %q, bob %q, dave %q", its["alice"].Reviewer, its["bob"].Reviewer, its["dave"].Reviewer)
	}

	// A millisecond before halfway nothing escalates, and carol may not
	// answer for alice (bob reviews her).
	env.Clock.Advance(7*24*time.Hour - time.Millisecond)
	if n, err := eng.Sweep(env.Ctx); err != nil || n != 0 {
		t.Fatalf("sweep before halfway: %d %v, want nothing", n, err)
	}
	if _, err := eng.Answer(env.Ctx, its["alice"].ID, "carol@example.com", policies.CertRemove, ""); code(err) != certify.ENotReviewer {
		t.Errorf("carol on alice before escalation: got %v, want not_reviewer", err)
	}
	env.Clock.Advance(time.Millisecond)
	if n, err := eng.Sweep(env.Ctx); err != nil || n != 4 {
		t.Fatalf("sweep at halfway: %d %v, want 4 escalated", n, err)
	}
	its = items()
	const empty = "group:empty: the Slack user group @empty has no members"
	for name, want := range map[string]string{
		"alice": empty,
		"erin":  empty,
		"bob":   "manager: the reviewer carol@example.com has no manager in the directory; " + empty,
		"dave": "owner: it names only dave@example.com, who may not certify their own access; " +
			"manager: the reviewer carol@example.com has no manager in the directory; " + empty,
	} {
		if it := its[name]; !it.Escalated || it.Unescalated != want {
			t.Errorf("%s: escalated %v, unescalated %q; want %q", name, it.Escalated, it.Unescalated, want)
		}
	}
	// Logged once per term, with how many items it left unescalated.
	logged := map[string]int64{}
	for _, e := range logs.FilterMessageSnippet("names nobody").All() {
		logged[e.ContextMap()["term"].(string)] = e.ContextMap()["items"].(int64)
	}
	if want := map[string]int64{"owner": 1, "manager": 2, "group:empty": 4}; len(logged) != len(want) ||
		logged["owner"] != 1 || logged["manager"] != 2 || logged["group:empty"] != 4 {
		t.Errorf("logged: got %v, want %v", logged, want)
	}

	// The cards: dave (the owner) gets alice, erin and bob, never himself;
	// carol (bob's manager) gets alice and erin.
	var all []*certify.Item
	for _, it := range its {
		all = append(all, it)
	}
	slices.SortFunc(all, func(a, b *certify.Item) int { return strings.Compare(a.Person, b.Person) })
	reach, err := eng.Escalations(env.Ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for p, rs := range reach {
		for _, r := range rs {
			got[p] = append(got[p], strings.TrimSuffix(r.Item.Person, "@example.com")+" as "+r.Term)
		}
	}
	want := map[string][]string{
		"dave@example.com":  {"alice as owner", "bob as owner", "erin as owner"},
		"carol@example.com": {"alice as manager", "erin as manager"},
	}
	if len(got) != len(want) || !slices.Equal(got["dave@example.com"], want["dave@example.com"]) ||
		!slices.Equal(got["carol@example.com"], want["carol@example.com"]) {
		t.Errorf("escalation cards: got %v, want %v", got, want)
	}

	// Who may answer now: the people named, not the member.
	if _, err := eng.Answer(env.Ctx, its["dave"].ID, "dave@example.com", policies.CertRemove, ""); code(err) != certify.ESelfReview {
		t.Errorf("dave on himself: got %v, want self_review", err)
	}
	if _, err := eng.Answer(env.Ctx, its["alice"].ID, "erin@example.com", policies.CertRemove, ""); code(err) != certify.ENotReviewer {
		t.Errorf("erin on alice: got %v, want not_reviewer", err)
	}
	if _, err := eng.Answer(env.Ctx, its["alice"].ID, "carol@example.com", policies.CertKeep, "on call"); err != nil {
		t.Errorf("carol (bob's manager) on alice after escalation: %v", err)
	}
	if _, err := eng.Answer(env.Ctx, its["bob"].ID, "dave@example.com", policies.CertKeep, "runs the upgrade"); err != nil {
		t.Errorf("dave (the owner) on bob after escalation: %v", err)
	}

	// The audit events say what named nobody: the escalation, and the
	// answer (the evidence pack reads it there).
	var unesc []string
	answered := "none"
	if err := env.DB.Events(env.Ctx, time.Time{}, time.Time{}, func(e *approvals.Event) error {
		if e.Action == certify.ActionEscalated && e.Subject == "dave@example.com" {
			unesc = append(unesc, e.Data["unescalated"])
		}
		if e.Action == certify.ActionAnswered && e.Subject == "alice@example.com" {
			answered = e.Data["unescalated"]
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if answered != empty {
		t.Errorf("the answer on alice: unescalated %q, want %q", answered, empty)
	}
	if len(unesc) != 1 || !strings.HasPrefix(unesc[0], "owner: it names only dave@example.com") {
		t.Errorf("dave's escalation event: unescalated %q", unesc)
	}
}
