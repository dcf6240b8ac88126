package store

import (
	"context"
	"fmt"
	"sync"

	"github.com/jitbot/jitbot/approvals"
)

// maxShared bounds how many writes share one transaction.
const maxShared = 64

// sharedWrites queues the writes waiting to share a transaction.
type sharedWrites struct {
	mu      sync.Mutex
	pending []*sharedWrite
	running bool // a caller is committing a batch
}

type sharedWrite struct {
	ctx  context.Context
	fn   func(tx approvals.Tx) error
	done chan error    // its outcome
	lead chan struct{} // it is to commit the next batch
}

// UpdateShared is Update for small independent writes made at the same
// moment by several goroutines (the engine's records of finished access
// changes): they share one transaction, each inside a savepoint of its own
// (group commit). A write that fails undoes only its own changes and its
// error is its caller's alone; a failed commit fails them all. SQLite has
// one writer: many small transactions cost a commit each, and write the
// pages they share (the jobs' and the audit chain's indexes) once each.
// A write waits for no other: when no batch is being committed, its caller
// commits at once whatever is queued by then (approvals.SharedUpdater).
func (db *DB) UpdateShared(ctx context.Context, fn func(tx approvals.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &sharedWrite{ctx: ctx, fn: fn, done: make(chan error, 1), lead: make(chan struct{})}
	sh := &db.shared
	sh.mu.Lock()
	sh.pending = append(sh.pending, w)
	if sh.running {
		sh.mu.Unlock()
		select {
		case err := <-w.done:
			return err
		case <-w.lead: // the batch before ours handed over: commit ours
		}
		sh.mu.Lock()
	}
	sh.running = true
	n := min(len(sh.pending), maxShared)
	batch := sh.pending[:n:n]
	sh.pending = sh.pending[n:]
	sh.mu.Unlock()
	func() {
		defer func() { // even if a write panicked: nobody waits forever
			sh.mu.Lock()
			if len(sh.pending) > 0 {
				close(sh.pending[0].lead) // the next caller waiting commits the next batch
			} else {
				sh.running = false
			}
			sh.mu.Unlock()
		}()
		db.commitShared(batch)
	}()
	return <-w.done
}

// commitShared runs a batch of writes in one transaction, each in a
// savepoint, and answers every one of them.
func (db *DB) commitShared(batch []*sharedWrite) {
	defer db.writeStmts.prepare(context.Background(), db.write)
	answered := 0
	var ok []*sharedWrite
	answerAll := func(err error) {
		for _, w := range ok {
			w.done <- err
		}
		for _, w := range batch[answered:] {
			w.done <- err
		}
		ok, answered = nil, len(batch)
	}
	sqlTx, err := db.write.BeginTx(context.Background(), nil)
	if err != nil {
		answerAll(db.explain(err))
		return
	}
	defer func() {
		if p := recover(); p != nil {
			sqlTx.Rollback()
			answerAll(fmt.Errorf("store: a write sharing this transaction crashed: %v", p))
			panic(p)
		}
	}()
	t := &Tx{tx: sqlTx, db: db}
	for i, w := range batch {
		answered = i
		if err := w.ctx.Err(); err != nil {
			w.done <- err
			continue
		}
		// Statements run without the caller's cancellation: interrupting
		// one would roll back the whole transaction, the others' writes
		// included.
		t.ctx = context.WithoutCancel(w.ctx)
		if _, err := sqlTx.Exec(`SAVEPOINT shared`); err != nil {
			sqlTx.Rollback()
			answerAll(db.explain(err))
			return
		}
		headKnown, headSeq, headHash := t.headKnown, t.headSeq, t.headHash
		if err := w.fn(t); err != nil {
			if _, rerr := sqlTx.Exec(`ROLLBACK TO shared; RELEASE shared`); rerr != nil {
				sqlTx.Rollback()
				w.done <- err
				answered = i + 1
				answerAll(db.explain(rerr))
				return
			}
			t.headKnown, t.headSeq, t.headHash = headKnown, headSeq, headHash
			w.done <- err
			continue
		}
		if _, err := sqlTx.Exec(`RELEASE shared`); err != nil {
			sqlTx.Rollback()
			answerAll(db.explain(err))
			return
		}
		ok = append(ok, w)
	}
	answered = len(batch)
	err = sqlTx.Commit()
	if err != nil {
		err = db.explain(err)
	}
	for _, w := range ok {
		w.done <- err
	}
}

var _ approvals.SharedUpdater = (*DB)(nil)
