package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/groupcommit"
	"github.com/jitbot/jitbot/store/sqlstore"
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

// commitShared runs a batch of writes in one transaction (sqlstore.CommitShared).
func (db *DB) commitShared(batch []*groupcommit.Write) {
	bg := context.Background()
	pgTx, err := db.pool.BeginTx(bg, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		sqlstore.CommitShared(batch, nil, err, db.explain)
		return
	}
	t := db.newTx(bg, pgTx, false)
	// The chain head first, before any write of the batch takes a row:
	// a claim (which alone takes no head lock) followed by a write that
	// needs it would lock a job row and then wait for the head, while
	// another replica holding the head waits for that job row — a
	// deadlock PostgreSQL breaks by failing a write a second later, and
	// then the batch's next write, and the next.
	if err := t.serialise(); err != nil {
		pgTx.Rollback(bg)
		sqlstore.CommitShared(batch, nil, err, db.explain)
		return
	}
	sqlstore.CommitShared(batch, &sharedTx{t: t, top: pgTx}, nil, db.explain)
}

// sharedTx is a shared transaction with pgx's nested transactions as
// savepoints.
type sharedTx struct {
	t     *Tx
	top   pgx.Tx
	sp    pgx.Tx
	saved Tx // the transaction's state before the write
}

func (b *sharedTx) Savepoint(ctx context.Context) error {
	sp, err := b.top.Begin(context.Background()) // SAVEPOINT
	if err != nil {
		return err
	}
	b.sp, b.saved = sp, *b.t
	b.t.tx, b.t.ctx = sp, ctx
	return nil
}

// Run runs w, and fails it on a failed statement it did not report.
func (b *sharedTx) Run(w *groupcommit.Write) error {
	err := w.Run(b.t)
	if err == nil {
		err = b.t.err
	}
	return err
}

// Undo rolls back to the savepoint: the write's changes are gone, and
// with them the chain head lock if it was the one that took it.
func (b *sharedTx) Undo() error {
	err := b.sp.Rollback(context.Background()) // ROLLBACK TO SAVEPOINT
	*b.t = b.saved
	return err
}

func (b *sharedTx) Keep() error {
	err := b.sp.Commit(context.Background()) // RELEASE SAVEPOINT
	b.t.tx, b.t.ctx = b.top, context.Background()
	return err
}

func (b *sharedTx) Commit() error {
	t, bg := b.t, context.Background()
	if t.err == nil {
		_ = t.finish()
	}
	if t.err == nil {
		t.announce()
	}
	if t.err != nil {
		b.top.Rollback(bg)
		return t.err
	}
	return t.db.explain(b.top.Commit(bg))
}

func (b *sharedTx) Rollback() { b.top.Rollback(context.Background()) }

var _ approvals.SharedUpdater = (*DB)(nil)
