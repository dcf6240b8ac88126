package jira_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

// statStore wraps the engine's store to count its write transactions by
// what they did and to time them: how long each waited for SQLite's one
// write connection (from the call to the start of fn, i.e. after BEGIN
// IMMEDIATE) and how long it held it (from there to the commit's return).
// Benchmarks only (JITBOT_BENCH_TX_STATS=1): two clock reads per
// transaction.
type statStore struct {
	approvals.Store
	mu    sync.Mutex
	kinds map[string]*txKind
	views int
}

type txKind struct {
	n          int
	jobs       int // jobs claimed, for claims
	wait, hold time.Duration
}

func newStatStore(s approvals.Store) *statStore {
	return &statStore{Store: s, kinds: map[string]*txKind{}}
}

// reset forgets what was counted so far.
func (s *statStore) reset() {
	s.mu.Lock()
	s.kinds, s.views = map[string]*txKind{}, 0
	s.mu.Unlock()
}

func (s *statStore) Update(ctx context.Context, fn func(tx approvals.Tx) error) error {
	return s.timed(ctx, s.Store.Update, fn)
}

// UpdateDurable keeps the store's optional ability (approvals.DurableUpdater)
// visible through the wrapper.
func (s *statStore) UpdateDurable(ctx context.Context, fn func(tx approvals.Tx) error) error {
	if d, ok := s.Store.(approvals.DurableUpdater); ok {
		return s.timed(ctx, d.UpdateDurable, fn)
	}
	return s.Update(ctx, fn)
}

func (s *statStore) timed(ctx context.Context, update func(context.Context, func(approvals.Tx) error) error, fn func(tx approvals.Tx) error) error {
	called := time.Now()
	var began time.Time
	var t *statTx
	err := update(ctx, func(tx approvals.Tx) error {
		began = time.Now()
		t = &statTx{Tx: tx}
		return fn(t)
	})
	end := time.Now()
	if t == nil {
		return err
	}
	s.mu.Lock()
	k := s.kinds[t.kind()]
	if k == nil {
		k = &txKind{}
		s.kinds[t.kind()] = k
	}
	k.n++
	k.jobs += t.claimed
	k.wait += began.Sub(called)
	k.hold += end.Sub(began)
	s.mu.Unlock()
	return err
}

func (s *statStore) View(ctx context.Context, fn func(tx approvals.Tx) error) error {
	s.mu.Lock()
	s.views++
	s.mu.Unlock()
	return s.Store.View(ctx, fn)
}

// report says, for a phase of wall time d, how busy the write connection was.
func (s *statStore) report(d time.Duration) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	var hold time.Duration
	n := 0
	for name, k := range s.kinds {
		names = append(names, name)
		hold += k.hold
		n += k.n
	}
	slices.Sort(names)
	var parts []string
	for _, name := range names {
		k := s.kinds[name]
		p := fmt.Sprintf("%s %d (hold %v, mean %v, wait %v", name, k.n, k.hold.Round(time.Millisecond),
			(k.hold / time.Duration(k.n)).Round(time.Microsecond), k.wait.Round(time.Millisecond))
		if k.jobs > 0 {
			p += fmt.Sprintf(", %.1f jobs each", float64(k.jobs)/float64(k.n))
		}
		parts = append(parts, p+")")
	}
	return fmt.Sprintf("write transactions %d, the write connection held %v of %v (%.0f %%), read transactions %d: %s",
		n, hold.Round(time.Millisecond), d.Round(time.Millisecond), 100*hold.Seconds()/d.Seconds(), s.views, strings.Join(parts, "; "))
}

// statTx notes what a write transaction did.
type statTx struct {
	approvals.Tx
	lane                          approvals.Lane
	claimed                       int
	grant, complete, enqueue, due bool
}

func (t *statTx) kind() string {
	switch {
	case t.lane != "":
		return "claim:" + string(t.lane)
	case t.due:
		return "sweep"
	case t.grant:
		return "grant-change"
	case t.complete && t.enqueue:
		return "complete+enqueue"
	case t.complete:
		return "complete"
	case t.enqueue:
		return "enqueue"
	}
	return "other"
}

func (t *statTx) ClaimJobs(lane approvals.Lane, now time.Time, limit int, owner string, leaseUntil time.Time, skip []int64) ([]*approvals.Job, error) {
	js, err := t.Tx.ClaimJobs(lane, now, limit, owner, leaseUntil, skip)
	t.lane = lane
	t.claimed += len(js)
	return js, err
}

func (t *statTx) UpdateGrant(g *approvals.Grant, from approvals.GrantState) error {
	t.grant = true
	return t.Tx.UpdateGrant(g, from)
}

func (t *statTx) CompleteJob(id int64) error {
	t.complete = true
	return t.Tx.CompleteJob(id)
}

func (t *statTx) EnqueueJob(j *approvals.Job) error {
	t.enqueue = true
	return t.Tx.EnqueueJob(j)
}

func (t *statTx) DueActive(now time.Time, limit int) ([]*approvals.Request, error) {
	t.due = true
	return t.Tx.DueActive(now, limit)
}
