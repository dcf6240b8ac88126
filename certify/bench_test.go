package certify_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/certify"
	"github.com/jitbot/jitbot/policies"
)

// BenchmarkCampaign_5000 lists a group of 5,000 standing members (and 500
// a grant covers) into a campaign and opens it: the provider's listing,
// the facts per member, the items committed, the prompts queued. Then the
// standing report over the same group.
//
//	go test -run '^$' -bench BenchmarkCampaign -benchtime 3x ./certify/
func BenchmarkCampaign_5000(b *testing.B) {
	members := make([]string, 0, 5500)
	for i := range 5500 {
		members = append(members, fmt.Sprintf("person%05d@example.com", i))
	}
	for b.Loop() {
		b.StopTimer()
		prov := newGroups(map[string][]string{"confluence-finance": members})
		w := newWorld(b, prov, b.TempDir()+"/jitbot.db", nil)
		if err := w.DB.Update(w.Ctx, func(tx approvals.Tx) error {
			for i := range 500 { // 500 covered by an active grant
				r := &approvals.Request{ID: fmt.Sprintf("r%05d", i), Requester: members[i], Resource: "confluence-finance", Duration: time.Hour,
					Reason: "x", Rule: "default", CorrelationID: fmt.Sprintf("c%05d", i), State: approvals.StateActive, CreatedAt: t0}
				if err := tx.InsertRequest(r); err != nil {
					return err
				}
				if err := tx.InsertGrant(&approvals.Grant{ID: fmt.Sprintf("g%05d", i), RequestID: r.ID, Person: members[i], Resource: "confluence-finance",
					Provider: "jira", Group: "confluence-finance", State: approvals.GrantActive, CreatedAt: t0, UpdatedAt: t0}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		r, _ := w.Policy.CertRule("finance quarterly")
		b.StartTimer()
		start := time.Now()
		c, err := w.cert.Start(w.Ctx, r, certify.TriggerCLI)
		if err != nil {
			b.Fatal(err)
		}
		campaign := time.Since(start)
		start = time.Now()
		rows, errs := w.cert.StandingReport(w.Ctx, w.Policy.Targets(&policies.CertRule{Resources: []string{"confluence-finance"}}))
		report := time.Since(start)
		b.StopTimer()
		_, items, _ := w.cert.Campaign(w.Ctx, c.ID)
		if len(items) != 5000 || len(rows) != 5000 || len(errs) > 0 {
			b.Fatalf("items %d, rows %d, errs %v; want 5000 each", len(items), len(rows), errs)
		}
		b.ReportMetric(campaign.Seconds(), "campaign-s")
		b.ReportMetric(report.Seconds(), "report-s")
		w.DB.Close()
		b.StartTimer()
	}
}
