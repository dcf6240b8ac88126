package store

import (
	"context"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/groupcommit"
	"github.com/jitbot/jitbot/store/sqlstore"
)

// UpdateShared is Update for small independent writes made at the same
// moment by several goroutines (the engine's records of finished access
// changes, its lanes' claims): they share one transaction, each inside a
// savepoint of its own (internal/groupcommit). A write that fails undoes
// only its own changes and its error is its caller's alone; a failed commit
// fails them all. SQLite has one writer: many small transactions cost a
// commit each and write the pages they share (the jobs' and the audit
// chain's indexes) once each (approvals.SharedUpdater).
func (db *DB) UpdateShared(ctx context.Context, fn func(tx approvals.Tx) error) error {
	return db.shared.Do(ctx, fn, db.commitShared)
}

// commitShared runs a batch of writes in one transaction (sqlstore.CommitShared).
func (db *DB) commitShared(batch []*groupcommit.Write) {
	defer db.writeStmts.prepare(context.Background(), db.write)
	sqlTx, err := db.write.BeginTx(context.Background(), nil)
	if err != nil {
		sqlstore.CommitShared(batch, nil, err, db.explain)
		return
	}
	sqlstore.CommitShared(batch, &sharedTx{t: db.newTx(context.Background(), sqlTx, false)}, nil, db.explain)
}

// sharedTx is a shared transaction with SQLite's named savepoints.
type sharedTx struct {
	t         *Tx
	headKnown bool // the chain head before the write
	headSeq   int64
	headHash  string
}

func (b *sharedTx) Savepoint(ctx context.Context) error {
	b.t.ctx = ctx
	b.headKnown, b.headSeq, b.headHash = b.t.headKnown, b.t.headSeq, b.t.headHash
	_, err := b.t.tx.Exec(`SAVEPOINT shared`)
	return err
}

func (b *sharedTx) Run(w *groupcommit.Write) error { return w.Run(b.t) }

func (b *sharedTx) Undo() error {
	_, err := b.t.tx.Exec(`ROLLBACK TO shared; RELEASE shared`)
	b.t.headKnown, b.t.headSeq, b.t.headHash = b.headKnown, b.headSeq, b.headHash // its events are gone
	return err
}

func (b *sharedTx) Keep() error {
	_, err := b.t.tx.Exec(`RELEASE shared`)
	return err
}

func (b *sharedTx) Commit() error {
	if err := b.t.tx.Commit(); err != nil {
		return b.t.db.explain(err)
	}
	b.t.db.announce()
	return nil
}

func (b *sharedTx) Rollback() { b.t.tx.Rollback() }

var _ approvals.SharedUpdater = (*DB)(nil)
