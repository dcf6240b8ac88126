// Package groupcommit lets writes made at the same moment by several
// goroutines share one database transaction (group commit), for stores
// whose writes run one at a time: SQLite's one writer, PostgreSQL's audit
// chain head. The store runs each write in a savepoint of its own, so that
// one write's failure undoes only that write.
//
// No goroutine of its own: a write whose turn it is commits the batch
// queued by then, and hands the next turn to the first write queued after
// it. A write never waits for a batch to fill.
package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/jitbot/jitbot/approvals"
)

// MaxBatch bounds how many writes share one transaction.
const MaxBatch = 64

// Write is one caller's write in a batch.
type Write struct {
	Ctx context.Context
	Fn  func(tx approvals.Tx) error

	done     chan error
	lead     chan struct{}
	answered bool
}

// Answer gives the write its outcome. A store's commit answers each write
// of its batch once; writes it leaves unanswered (it panicked) are failed.
func (w *Write) Answer(err error) {
	if w.answered {
		return
	}
	w.answered = true
	w.done <- err
}

// Run runs w's write on tx. A panic in it becomes that write's error (a
// permanent one: it is a bug), so that it fails alone and not the writes it
// shares a transaction with, whose goroutine it runs on.
func (w *Write) Run(tx approvals.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = approvals.Permanent(fmt.Errorf("a write crashed (a bug in jitbot: %v)\n%s", p, debug.Stack()))
		}
	}()
	return w.Fn(tx)
}

// ErrNotCommitted is the outcome of a write whose batch ended without a
// word about it (its store's commit panicked).
var ErrNotCommitted = errors.New("store: the shared transaction ended without committing this write")

// Queue holds the writes waiting for their turn. The zero Queue is ready.
type Queue struct {
	mu      sync.Mutex
	pending []*Write
	running bool
}

// Do queues fn and returns its outcome. commit runs a batch in one
// transaction and answers every write of it; it is called by whichever
// caller's turn it is, never by two at once.
func (q *Queue) Do(ctx context.Context, fn func(tx approvals.Tx) error, commit func(batch []*Write)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &Write{Ctx: ctx, Fn: fn, done: make(chan error, 1), lead: make(chan struct{})}
	q.mu.Lock()
	q.pending = append(q.pending, w)
	if q.running {
		q.mu.Unlock()
		select {
		case err := <-w.done:
			return err
		case <-w.lead: // the batch before ours handed over: commit ours
		}
		q.mu.Lock()
	}
	q.running = true
	n := min(len(q.pending), MaxBatch)
	batch := q.pending[:n:n]
	q.pending = q.pending[n:]
	q.mu.Unlock()
	func() {
		defer func() { // even when commit panicked: nobody waits for ever
			for _, b := range batch {
				b.Answer(ErrNotCommitted)
			}
			q.mu.Lock()
			if len(q.pending) > 0 {
				close(q.pending[0].lead) // the first write queued since commits the next batch
			} else {
				q.running = false
			}
			q.mu.Unlock()
		}()
		commit(batch)
	}()
	return <-w.done
}
