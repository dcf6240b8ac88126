package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner"
	"github.com/jonboulle/clockwork"
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

// slowProvider is a provider every call of which waits at a gate the test
// opens, and which counts its calls per person (one provisioning job per
// person) and by replica.
type slowProvider struct {
	replica string
	shared  *providerCalls
}

type providerCalls struct {
	mu      sync.Mutex
	calls   map[string][]string // person → the replicas that called, in order
	started chan string         // a call began (replica)
	gate    chan struct{}       // closed: calls return
}

func (p *slowProvider) call(ctx context.Context, m approvals.Membership) error {
	p.shared.mu.Lock()
	p.shared.calls[m.Person] = append(p.shared.calls[m.Person], p.replica)
	p.shared.mu.Unlock()
	select {
	case p.shared.started <- p.replica:
	default:
	}
	select {
	case <-p.shared.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *slowProvider) Add(ctx context.Context, m approvals.Membership) (bool, error) {
	return false, p.call(ctx, m)
}
func (p *slowProvider) AddMember(ctx context.Context, m approvals.Membership) error {
	return p.call(ctx, m)
}
func (p *slowProvider) RemoveMember(ctx context.Context, m approvals.Membership) error {
	return p.call(ctx, m)
}
func (p *slowProvider) IsMember(ctx context.Context, m approvals.Membership) (bool, error) {
	return false, p.call(ctx, m)
}

var (
	_ approvals.Provisioner = (*slowProvider)(nil)
	_ approvals.Adder       = (*slowProvider)(nil)
)

// Issue 20 finding 2: a job claimed by a busy replica runs on that replica
// alone. Two engines on one schema, one access worker each, a 3 s lease.
// Replica A claims its batch and its provider call hangs for longer than
// the lease (the injected clock moves 4 s) while the rest of the batch
// waits behind it. Replica B then starts: it must find A's jobs still
// leased — A renews the leases of the jobs it holds, waiting or running —
// and take only the others. Every job ends with exactly one provider
// call; before, B took A's waiting (and running) jobs once their lease ran
// out, and the provider was called twice for them.
func TestReplicas_SlowProviderOneCallPerJob(t *testing.T) {
	const n = 6
	var people strings.Builder
	for i := range n {
		fmt.Fprintf(&people, "    - {email: user%d@example.com, department: Engineering, employment: internal}\n", i)
	}
	pol, err := policies.Parse("policy.yaml", []byte(`directory:
  people:
`+people.String()+`resources:
  - id: wiki
    provider: dryrun
    group: wiki
rules:
  - name: automatic
    then: {auto_approve: true}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	db1, url := openTest(t)
	db2 := openURL(t, url)
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	calls := &providerCalls{calls: map[string][]string{}, started: make(chan string, 4*n), gate: make(chan struct{})}
	svc := func(db approvals.Store, name string) *approvals.Service {
		return approvals.New(approvals.Config{Store: db, Policy: pol, Clock: clock, Workers: 1, MessageWorkers: 1, Lease: 3 * time.Second,
			Providers: map[string]approvals.Provisioner{"dryrun": &slowProvider{replica: name, shared: calls}}})
	}
	a, b := svc(db1, "A"), svc(db2, "B")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	run := func(s *approvals.Service) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Run(ctx)
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	for i := range n {
		if _, err := a.Submit(ctx, approvals.SubmitInput{Requester: fmt.Sprintf("user%d@example.com", i), Resource: "wiki",
			Duration: time.Hour, Reason: "release notes"}); err != nil {
			t.Fatal(err)
		}
	}
	// A alone: its first job hangs at the provider.
	run(a)
	select {
	case <-calls.started:
	case <-time.After(30 * time.Second):
		t.Fatal("replica A made no provider call")
	}
	// 4 s pass on the clock, in steps, each taken by A's loops (sweep,
	// access lane, message lane) before the next.
	waitLoops := func(n int) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		defer wcancel()
		if err := clock.BlockUntilContext(wctx, n); err != nil {
			t.Fatalf("the engines' loops did not come back to their timers: %v", err)
		}
	}
	waitLoops(3)
	for range 8 {
		clock.Advance(500 * time.Millisecond)
		waitLoops(3)
	}
	// B starts: what it may take, it takes, and its first call hangs too.
	run(b)
	select {
	case who := <-calls.started:
		if who != "B" {
			t.Fatalf("a provider call by %s, want B's first", who)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("replica B made no provider call")
	}
	close(calls.gate)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var rs []*approvals.Request
		if err := db1.View(ctx, func(tx approvals.Tx) error {
			var err error
			rs, err = tx.ListRequests(approvals.RequestFilter{States: []approvals.State{approvals.StateActive}})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(rs) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests active after 30 s", len(rs), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	calls.mu.Lock()
	defer calls.mu.Unlock()
	by := map[string]int{}
	for i := range n {
		person := fmt.Sprintf("user%d@example.com", i)
		got := calls.calls[person]
		if len(got) != 1 {
			t.Errorf("%s: provider called %d times (by %v), want once", person, len(got), got)
		}
		for _, r := range got {
			by[r]++
		}
	}
	if by["A"] == 0 || by["B"] == 0 {
		t.Errorf("provider calls by replica: %v, want both to have worked", by)
	}
	t.Logf("provider calls by replica: %v", by)
}
