package sqlstore

import (
	"context"

	"github.com/jitbot/jitbot/internal/groupcommit"
)

// Batch is an engine's transaction that a batch of shared writes
// (approvals.SharedUpdater, internal/groupcommit) runs in, each write in a
// savepoint of the engine's flavour.
type Batch interface {
	// Savepoint starts one write's savepoint; its statements run in ctx.
	Savepoint(ctx context.Context) error
	// Run runs the write, and reports a failed statement it did not.
	Run(w *groupcommit.Write) error
	// Undo rolls back to the savepoint: the write's changes are gone.
	Undo() error
	// Keep releases the savepoint.
	Keep() error
	// Commit commits the transaction; on an error it is rolled back.
	Commit() error
	Rollback()
}

// CommitShared runs batch in b, each write in a savepoint, and answers
// every one of them: a write that fails undoes only its own changes and
// its error is its caller's alone; a failed commit fails them all. begun
// is the error of beginning b.
func CommitShared(batch []*groupcommit.Write, b Batch, begun error, explain func(error) error) {
	fail := func(err error) { // the transaction is lost: every write not yet answered fails
		if b != nil {
			b.Rollback()
		}
		for _, w := range batch {
			w.Answer(err)
		}
	}
	if begun != nil {
		fail(explain(begun))
		return
	}
	defer func() {
		if p := recover(); p != nil {
			b.Rollback() // the others are failed by the queue
			panic(p)
		}
	}()
	var ok []*groupcommit.Write
	for _, w := range batch {
		if err := w.Ctx.Err(); err != nil {
			w.Answer(err)
			continue
		}
		// Statements run without the caller's cancellation: interrupting
		// one would roll back the whole transaction, the others' writes
		// included.
		if err := b.Savepoint(context.WithoutCancel(w.Ctx)); err != nil {
			fail(explain(err))
			return
		}
		if err := b.Run(w); err != nil {
			if rerr := b.Undo(); rerr != nil {
				w.Answer(err)
				fail(explain(rerr))
				return
			}
			w.Answer(err)
			continue
		}
		if err := b.Keep(); err != nil {
			fail(explain(err))
			return
		}
		ok = append(ok, w)
	}
	err := b.Commit()
	for _, w := range ok {
		w.Answer(err)
	}
}
