// Package leader elects one leader among the replicas of jitbot on one
// database, over a lease the store keeps (the PostgreSQL store's leader
// row). It is split as client-go's leaderelection is: the Elector keeps the
// terms (campaign, renew, step down, hand fn a context per term) and knows
// nothing of the database; the store's Lease takes, renews and gives up
// the lease in one statement each.
//
// The holder renews every third of the lease; the others try again when
// the holder's lease runs out. A leader measures its own lease on its
// monotonic clock from the moment it sent the renewal, and stops leading
// when that runs out without a renewal, before the store would let another
// replica in.
package leader

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
)

// DefaultLease is how long a leader's lease runs without a renewal: when
// the leader dies, another replica takes over within it.
const DefaultLease = 15 * time.Second

// Lease is the store's side of an election: one lease per role.
type Lease interface {
	// Acquire takes or renews the lease for this replica. It returns the
	// term when this replica holds it, else how long until the holder's
	// lease runs out.
	Acquire(ctx context.Context) (term int64, wait time.Duration, err error)
	// Release ends this replica's lease now, so that another takes over.
	Release(ctx context.Context) error
}

// Options tune New.
type Options struct {
	// Name is the role elected (default "engine"): one leader per name.
	Name string
	// ID names this replica in the lease (default: a random id).
	ID string
	// Lease defaults to DefaultLease.
	Lease time.Duration
	Log   *zap.Logger
	// OnChange, when set, is told each time this replica starts or stops
	// leading (a metric: jitbot_leader).
	OnChange func(leading bool)
}

// Defaults returns opt with its defaults filled in.
func (opt Options) Defaults() Options {
	if opt.Name == "" {
		opt.Name = "engine"
	}
	if opt.ID == "" {
		opt.ID = uuid.NewString()
	}
	if opt.Lease <= 0 {
		opt.Lease = DefaultLease
	}
	if opt.Log == nil {
		opt.Log = zap.NewNop()
	}
	return opt
}

// Elector campaigns for a lease and runs the leader's work in its terms.
type Elector struct {
	lease Lease
	opt   Options

	mu      sync.Mutex
	term    *term         // nil: not leading
	changed chan struct{} // closed and replaced at every change of term
	terms   int64         // terms this process has led (tests, metrics)
}

type term struct {
	ctx    context.Context
	cancel context.CancelFunc
	number int64
}

// New returns an elector over lease. Start it with Run.
func New(lease Lease, opt Options) *Elector {
	return &Elector{lease: lease, opt: opt.Defaults(), changed: make(chan struct{})}
}

// ID returns this replica's id in the lease.
func (e *Elector) ID() string { return e.opt.ID }

// Leading reports whether this replica leads now.
func (e *Elector) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.term != nil
}

// Terms returns how many times this replica became the leader.
func (e *Elector) Terms() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.terms
}

// Run campaigns until ctx ends: it renews the lease while leading, and
// tries to take it while another replica's runs. At the end it gives the
// lease up, so that another replica takes over at once.
func (e *Elector) Run(ctx context.Context) error {
	defer e.resign()
	lease := e.opt.Lease
	var deadline time.Time // while leading: when our lease runs out, on our clock
	for {
		sent := time.Now()
		actx, cancel := context.WithTimeout(ctx, lease/3)
		number, wait, err := e.lease.Acquire(actx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			e.opt.Log.Warn("leader lease: the database did not answer", zap.Error(err))
			wait = min(lease/10, time.Second)
		case number > 0:
			deadline = sent.Add(lease)
			e.lead(number)
			wait = lease / 3
		default:
			e.step()
			wait = min(max(wait, 0), lease/3)
		}
		// A leader whose renewals fail stops leading before its lease can
		// run out on the store's clock.
		if e.Leading() && err != nil {
			if left := time.Until(deadline) - lease/5; left <= 0 {
				e.opt.Log.Error("leader lease: not renewed in time; stepping down")
				e.step()
			} else {
				wait = min(wait, left)
			}
		}
		t := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// lead starts (or continues) a term.
func (e *Elector) lead(number int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.term != nil && e.term.number == number {
		return
	}
	if e.term != nil {
		e.term.cancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.term = &term{ctx: ctx, cancel: cancel, number: number}
	e.terms++
	e.opt.Log.Info("leader: this replica leads", zap.String("role", e.opt.Name), zap.String("replica", e.opt.ID), zap.Int64("term", number))
	e.changedLocked(true)
}

// step ends the current term, if any.
func (e *Elector) step() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.term == nil {
		return
	}
	e.term.cancel()
	e.opt.Log.Info("leader: this replica no longer leads", zap.String("role", e.opt.Name), zap.String("replica", e.opt.ID), zap.Int64("term", e.term.number))
	e.term = nil
	e.changedLocked(false)
}

func (e *Elector) changedLocked(leading bool) {
	close(e.changed)
	e.changed = make(chan struct{})
	if e.opt.OnChange != nil {
		e.opt.OnChange(leading)
	}
}

// resign ends the term and gives the lease up.
func (e *Elector) resign() {
	leading := e.Leading()
	e.step()
	if !leading {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := e.lease.Release(ctx); err != nil {
		e.opt.Log.Warn("leader lease: could not give it up; another replica takes over when it runs out", zap.Error(err))
	}
}

// Lead runs fn for every term this replica leads until ctx ends
// (approvals.Elector).
func (e *Elector) Lead(ctx context.Context, fn func(ctx context.Context)) error {
	for {
		e.mu.Lock()
		t, changed := e.term, e.changed
		e.mu.Unlock()
		if t != nil {
			tctx, cancel := context.WithCancel(ctx)
			stop := context.AfterFunc(t.ctx, cancel)
			fn(tctx)
			stop()
			cancel()
			// fn may return before the term ends: wait for the next change
			// rather than run it again at once.
			select {
			case <-ctx.Done():
				return nil
			case <-t.ctx.Done():
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}
