package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jitbot/jitbot/approvals"
)

var (
	_ approvals.StatsReader    = (*DB)(nil)
	_ approvals.DurableUpdater = (*DB)(nil)
)

// UpdateDurable is Update: a PostgreSQL commit is on disk when it returns
// (synchronous_commit on, the server's default, which jitbot leaves as
// it is), so every write transaction is already what the engine asks for
// here.
func (db *DB) UpdateDurable(ctx context.Context, fn func(tx approvals.Tx) error) error {
	return db.Update(ctx, fn)
}

// Stats reads the counts metrics show, from one snapshot: requests by
// state, pending jobs by lane with the oldest due, the chain head.
func (db *DB) Stats(ctx context.Context, now time.Time) (approvals.Stats, error) {
	st := approvals.Stats{Requests: map[approvals.State]int{}, Pending: map[approvals.Lane]int{}, OldestDue: map[approvals.Lane]time.Time{}}
	err := pgx.BeginTxFunc(ctx, db.read, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT state, count(*) FROM requests GROUP BY state`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				s string
				n int
			)
			if err := rows.Scan(&s, &n); err != nil {
				rows.Close()
				return err
			}
			st.Requests[approvals.State(s)] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT lane, count(*), min(CASE WHEN run_at <= $1 THEN run_at END) FROM jobs
			WHERE state = 'pending' GROUP BY lane`, ms(now))
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				lane   string
				n      int
				oldest *int64
			)
			if err := rows.Scan(&lane, &n, &oldest); err != nil {
				rows.Close()
				return err
			}
			st.Pending[approvals.Lane(lane)] = n
			if oldest != nil {
				st.OldestDue[approvals.Lane(lane)] = fromMS(*oldest)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT seq FROM audit_head`).Scan(&st.AuditHead)
	})
	return st, err
}
