package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/groupcommit"
)

// UpdateShared is Update for small independent writes made at the same
// moment by several goroutines of this replica (the engine's records of
// finished access changes, its lanes' claims): they share one transaction,
// each inside a savepoint of its own (internal/groupcommit). Every write
// transaction holds the audit chain head until it commits, so writes run
// one at a time across replicas; sharing takes that lock, and waits for
// that commit's WAL flush, once for many. A write that fails undoes only
// its own changes (approvals.SharedUpdater).
func (db *DB) UpdateShared(ctx context.Context, fn func(tx approvals.Tx) error) error {
	if db.readOnly {
		return fmt.Errorf("%s is open read-only", db.name)
	}
	return db.shared.Do(ctx, fn, db.commitShared)
}

// commitShared runs a batch of writes in one transaction, each in a
// savepoint (pgx's nested transaction), and answers every one of them.
func (db *DB) commitShared(batch []*groupcommit.Write) {
	bg := context.Background()
	pgTx, err := db.pool.BeginTx(bg, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		for _, w := range batch {
			w.Answer(db.explain(err))
		}
		return
	}
	fail := func(err error) { // the transaction is lost: every write not yet answered fails
		pgTx.Rollback(bg)
		for _, w := range batch {
			w.Answer(err)
		}
	}
	defer func() {
		if p := recover(); p != nil {
			pgTx.Rollback(bg) // the others are failed by the queue
			panic(p)
		}
	}()
	t := db.newTx(bg, pgTx, false)
	// The chain head first, before any write of the batch takes a row:
	// a claim (which alone takes no head lock) followed by a write that
	// needs it would lock a job row and then wait for the head, while
	// another replica holding the head waits for that job row — a
	// deadlock PostgreSQL breaks by failing a write a second later, and
	// then the batch's next write, and the next.
	if err := t.serialise(); err != nil {
		fail(db.explain(err))
		return
	}
	var ok []*groupcommit.Write
	for _, w := range batch {
		if err := w.Ctx.Err(); err != nil {
			w.Answer(err)
			continue
		}
		sp, err := pgTx.Begin(bg) // SAVEPOINT
		if err != nil {
			fail(db.explain(err))
			return
		}
		saved := *t
		// Statements run without the caller's cancellation: a cancelled
		// statement aborts the whole transaction, the others' writes
		// included.
		t.tx, t.ctx = sp, context.WithoutCancel(w.Ctx)
		werr := w.Run(t)
		if werr == nil {
			werr = t.err // a failed statement the write did not report
		}
		if werr != nil {
			if rerr := sp.Rollback(bg); rerr != nil { // ROLLBACK TO SAVEPOINT
				w.Answer(werr)
				fail(db.explain(rerr))
				return
			}
			// Its changes are gone, and with them the chain head lock
			// if it was the one that took it.
			*t = saved
			w.Answer(werr)
			continue
		}
		if err := sp.Commit(bg); err != nil { // RELEASE SAVEPOINT
			fail(db.explain(err))
			return
		}
		t.tx, t.ctx = pgTx, bg
		ok = append(ok, w)
	}
	if t.err == nil {
		_ = t.finish()
	}
	if t.err == nil {
		t.announce()
	}
	if t.err != nil {
		fail(t.err)
		return
	}
	err = pgTx.Commit(bg)
	if err != nil {
		err = db.explain(err)
	}
	for _, w := range ok {
		w.Answer(err)
	}
}

var _ approvals.SharedUpdater = (*DB)(nil)
