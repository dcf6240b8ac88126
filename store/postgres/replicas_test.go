package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner"
)

const quorumPolicy = `
directory:
  people:
    - {email: alice@example.com, department: Engineering, employment: internal}
    - {email: dave@example.com, department: IT, employment: internal}
    - {email: frank@example.com, department: IT, employment: internal}
    - {email: gina@example.com, department: IT, employment: internal}
resources:
  - id: it-tools
    name: IT tools
    provider: dryrun
    group: it-tools
    max_duration: 7d
rules:
  - name: two of IT
    then:
      approvals:
        - approvers: [dave@example.com, frank@example.com, gina@example.com]
          quorum: 2
limits:
  pending_per_requester: 1000
`

// Writes on two replicas are serialised as SQLite's are in one process:
// three approvers of a two-of-three step answer at the same moment through
// two replicas, and every request is approved by exactly the first two —
// no quorum is lost to two transactions that each saw only their own
// decision, and nobody is told to look again.
func TestReplicas_QuorumAcrossReplicas(t *testing.T) {
	db1, url := openTest(t)
	db2 := openURL(t, url)
	pol, err := policies.Parse("policy.yaml", []byte(quorumPolicy), nil)
	if err != nil {
		t.Fatal(err)
	}
	dry := provisioner.NewDryRun(nil, nil)
	svc := func(db approvals.Store) *approvals.Service {
		return approvals.New(approvals.Config{Store: db, Policy: pol, Providers: map[string]approvals.Provisioner{"dryrun": dry}})
	}
	a, b := svc(db1), svc(db2)
	ctx := context.Background()
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		r, err := a.Submit(ctx, approvals.SubmitInput{Requester: "alice@example.com", Resource: "it-tools", Duration: time.Hour, Reason: fmt.Sprint("r", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = r.ID
	}
	var (
		mu       sync.Mutex
		wins     = map[string]int{}
		refusals = map[string]int{}
		wg       sync.WaitGroup
		gate     = make(chan struct{})
	)
	for _, id := range ids {
		for k, who := range []string{"dave@example.com", "frank@example.com", "gina@example.com"} {
			s := []*approvals.Service{a, b}[k%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				_, err := s.Approve(ctx, id, who, "")
				mu.Lock()
				defer mu.Unlock()
				var de *approvals.Error
				switch {
				case err == nil:
					wins[id]++
				case errors.As(err, &de) && de.Code == approvals.EConflict && de.Message != "":
					// "already approved": the third answer came after the quorum.
					refusals[id]++
					if de.Message == "this request changed while you were deciding; nothing was recorded, look again" {
						t.Errorf("%s by %s: %v (a lost race, not serialised)", id, who, err)
					}
				default:
					t.Errorf("%s by %s: %v", id, who, err)
				}
			}()
		}
	}
	close(gate)
	wg.Wait()
	for _, id := range ids {
		r, err := a.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := b.Decisions(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != approvals.StateApproved || wins[id] != 2 || refusals[id] != 1 || len(ds) != 2 {
			t.Errorf("%s: state %s, %d approvals recorded, %d refused, %d decisions; want approved, 2, 1, 2", id, r.State, wins[id], refusals[id], len(ds))
		}
	}
	if _, err := audit.Verify(ctx, db2); err != nil {
		t.Fatal(err)
	}
}
