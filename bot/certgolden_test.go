package bot

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jitbot/jitbot/certify"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jitbot/jitbot/policies"
	"github.com/slack-go/slack"
)

var gCampaign = &certify.Campaign{ID: "ce7f0000-0000-4000-8000-000000000001", Rule: "admin groups quarterly", State: certify.CampaignOpen,
	Trigger: certify.TriggerSchedule, StartedAt: gNow, AnswerBy: gNow.Add(14 * policies.Day)}

// gCertItems are n standing members: the first few in every outcome, the
// rest waiting; one is the viewer's own, one left the company, one has a
// hostile reason.
func gCertItems(n int) []*certify.Item {
	states := []certify.ItemState{certify.ItemKept, certify.ItemRemoved, certify.ItemRemoving, certify.ItemGone, certify.ItemCovered,
		certify.ItemFailed, certify.ItemKept}
	out := make([]*certify.Item, 0, n)
	for i := range n {
		it := &certify.Item{ID: fmt.Sprintf("ce710000-0000-4000-8000-%012d", i), CampaignID: gCampaign.ID, Rule: gCampaign.Rule,
			Resource: "jira-admins", Provider: "jira", Group: "jira-admins", Person: fmt.Sprintf("person%03d@example.com", i),
			Reviewer: "bob@example.com", State: certify.ItemPending, AnswerBy: gCampaign.AnswerBy, EscalateAt: gNow.Add(7 * policies.Day),
			MemberSince: gNow.Add(-time.Duration(100+i) * policies.Day), EverJIT: i%3 == 0, Standing: i%4 == 1, InDirectory: i != 8}
		if i%5 != 4 {
			it.LastActive = gNow.Add(-time.Duration(i) * policies.Day)
		}
		if i < len(states) {
			it.State = states[i]
			it.Answer, it.DecidedBy, it.DecidedAt = policies.CertRemove, "bob@example.com", gNow.Add(time.Hour)
		}
		switch i {
		case 0:
			it.Answer, it.Reason = policies.CertKeep, hostile
		case 2:
			it.Answer = policies.CertConvert
		case 6:
			it.Answer, it.DecidedBy, it.Defaulted = policies.CertKeep, "system", true
		case 9:
			it.Person = "bob@example.com" // the viewer's own
		}
		out = append(out, it)
	}
	return out
}

// gEscalated is frank's escalation card: three items, each reaching him
// through another escalate_to term.
func gEscalated() certView {
	items := gCertItems(12)[9:]
	items[2].Reviewer = "group:finance-leads"
	return certView{Campaign: gCampaign, Rule: nil, Items: items, Viewer: "frank@example.com", Escalated: true,
		Why: map[string]string{items[0].ID: "group:it-leads", items[1].ID: "manager", items[2].ID: "owner"}}
}

func goldenCert() map[string][]reviewMsg {
	rule := &policies.CertRule{Name: gCampaign.Rule, Default: policies.CertConvert, EscalateTo: []string{"group:it-leads"}}
	closed := *gCampaign
	closed.State, closed.ClosedAt = certify.CampaignClosed, gNow.Add(14*policies.Day)
	return map[string][]reviewMsg{
		"cert_card_12":      certPages(certView{Campaign: gCampaign, Rule: rule, Items: gCertItems(12), Viewer: "bob@example.com"}, 0),
		"cert_card_300":     certPages(certView{Campaign: gCampaign, Rule: rule, Items: gCertItems(300), Viewer: "bob@example.com"}, 0),
		"cert_escalated":    certPages(gEscalated(), 0),
		"cert_progress":     {certProgress(gCampaign, gCertItems(12)), certProgress(&closed, gCertItems(12))},
		"cert_converted":    {certConverted(gCertItems(3)[2], 4*time.Hour)},
		"cert_empty_no_bug": certPages(certView{Campaign: &certify.Campaign{ID: "x"}}, 0),
	}
}

func TestGolden_Cert(t *testing.T) {
	for name, msgs := range goldenCert() {
		t.Run(name, func(t *testing.T) { golden(t, name, msgs) })
	}
	golden(t, "modal_cert_keep", certKeepModal(gCertItems(12)[10]))
	golden(t, "home_cert_53_waiting", gHomeCert())
}

// gHomeCert is App Home with 53 memberships waiting: cut to Slack's limit.
func gHomeCert() slack.HomeTabViewRequest {
	v := homeView(nil, nil, nil)
	v.Blocks.BlockSet = append(v.Blocks.BlockSet, homeCertBlocks(gCertItems(60)[7:], "bob@example.com", maxViewBlocks-len(v.Blocks.BlockSet))...)
	return v
}

// Every certification message, a 300-member card included, is accepted
// by the local Slack with its Block Kit limits enforced strictly.
func TestGolden_CertWithinBlockKitLimits(t *testing.T) {
	srv := localslack.New(t, localslack.Options{StrictBlocks: true, PostRate: -1})
	srv.AddUser(localslack.User{ID: "U1", Name: "bob", Email: "bob@example.com"})
	srv.AddChannel("C1", "it-access-reviews")
	api := slack.New(srv.BotToken(), slack.OptionAPIURL(srv.APIURL()))
	ctx := context.Background()
	for name, msgs := range goldenCert() {
		for i, m := range msgs {
			if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText(m.Text, true), slack.MsgOptionBlocks(m.Blocks...)); err != nil {
				t.Errorf("%s[%d]: Slack refused it: %v", name, i, err)
			}
		}
	}
	if _, err := api.OpenViewContext(ctx, srv.NewTriggerID("U1"), certKeepModal(gCertItems(12)[10])); err != nil {
		t.Errorf("the Keep form: Slack refused it: %v", err)
	}
	if v := gHomeCert(); len(v.Blocks.BlockSet) > maxViewBlocks {
		t.Errorf("App Home: %d blocks", len(v.Blocks.BlockSet))
	} else if _, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U1", View: gHomeCert()}); err != nil {
		t.Errorf("App Home: Slack refused it: %v", err)
	}
	if got, want := len(goldenCert()["cert_card_300"]), (300+reviewPageSize-1)/reviewPageSize; got != want {
		t.Errorf("a card of 300 members is %d messages, want %d", got, want)
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("violations: %+v", v)
	}
}
