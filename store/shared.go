package store

import (
	"context"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/groupcommit"
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

// commitShared runs a batch of writes in one transaction, each in a
// savepoint, and answers every one of them.
func (db *DB) commitShared(batch []*groupcommit.Write) {
	defer db.writeStmts.prepare(context.Background(), db.write)
	sqlTx, err := db.write.BeginTx(context.Background(), nil)
	if err != nil {
		for _, w := range batch {
			w.Answer(db.explain(err))
		}
		return
	}
	var ok []*groupcommit.Write
	fail := func(err error) { // the transaction is lost: every write not yet answered fails
		sqlTx.Rollback()
		for _, w := range batch {
			w.Answer(err)
		}
	}
	defer func() {
		if p := recover(); p != nil {
			sqlTx.Rollback() // the others are failed by the queue
			panic(p)
		}
	}()
	t := db.newTx(context.Background(), sqlTx, false)
	for _, w := range batch {
		if err := w.Ctx.Err(); err != nil {
			w.Answer(err)
			continue
		}
		// Statements run without the caller's cancellation: interrupting
		// one would roll back the whole transaction, the others' writes
		// included.
		t.ctx = context.WithoutCancel(w.Ctx)
		if _, err := sqlTx.Exec(`SAVEPOINT shared`); err != nil {
			fail(db.explain(err))
			return
		}
		headKnown, headSeq, headHash := t.headKnown, t.headSeq, t.headHash
		if err := w.Run(t); err != nil {
			if _, rerr := sqlTx.Exec(`ROLLBACK TO shared; RELEASE shared`); rerr != nil {
				w.Answer(err)
				fail(db.explain(rerr))
				return
			}
			t.headKnown, t.headSeq, t.headHash = headKnown, headSeq, headHash // its events are gone
			w.Answer(err)
			continue
		}
		if _, err := sqlTx.Exec(`RELEASE shared`); err != nil {
			fail(db.explain(err))
			return
		}
		ok = append(ok, w)
	}
	err = sqlTx.Commit()
	if err != nil {
		err = db.explain(err)
	} else {
		db.announce()
	}
	for _, w := range ok {
		w.Answer(err)
	}
}

var _ approvals.SharedUpdater = (*DB)(nil)
