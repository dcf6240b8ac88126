package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

var _ approvals.StatsReader = (*DB)(nil)

// Stats reads the counts metrics show, in one read transaction: requests
// by state (a scan of the state index), pending jobs by lane with the
// oldest due (the partial jobs_due index), and the audit chain's head.
func (db *DB) Stats(ctx context.Context, now time.Time) (approvals.Stats, error) {
	st := approvals.Stats{Requests: map[approvals.State]int{}, Pending: map[approvals.Lane]int{}, OldestDue: map[approvals.Lane]time.Time{}}
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return st, db.explain(err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT state, count(*) FROM requests GROUP BY state`)
	if err != nil {
		return st, err
	}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			rows.Close()
			return st, err
		}
		st.Requests[approvals.State(s)] = n
	}
	rows.Close()
	rows, err = tx.QueryContext(ctx, `SELECT lane, count(*), min(CASE WHEN run_at <= ? THEN run_at END) FROM jobs
		WHERE state = 'pending' GROUP BY lane`, ms(now))
	if err != nil {
		return st, err
	}
	for rows.Next() {
		var lane string
		var n int
		var oldest sql.NullInt64
		if err := rows.Scan(&lane, &n, &oldest); err != nil {
			rows.Close()
			return st, err
		}
		st.Pending[approvals.Lane(lane)] = n
		if oldest.Valid {
			st.OldestDue[approvals.Lane(lane)] = fromMS(oldest.Int64)
		}
	}
	rows.Close()
	err = tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM audit_events`).Scan(&st.AuditHead)
	return st, err
}
