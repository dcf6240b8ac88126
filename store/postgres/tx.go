package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/store/sqlstore"
)

// Tx is one transaction; it implements approvals.Tx. The queries both
// engines share are sqlstore.Tx's.
type Tx struct {
	sqlstore.Tx
	tx       pgx.Tx
	ctx      context.Context
	db       *DB
	readOnly bool

	serial   bool   // this transaction holds the chain head row
	headSeq  int64  // the chain head while serial
	headHash string // ″
	appended bool   // the head moved: finish writes it
	err      error  // a failure that must roll the transaction back
}

var _ approvals.Tx = (*Tx)(nil)

// serialise locks the chain head row, once per write transaction: see
// DB.Update. Every Tx method but the job claims calls it first.
func (t *Tx) serialise() error {
	if t.readOnly || t.serial {
		return nil
	}
	if err := t.tx.QueryRow(t.ctx, `SELECT seq, hash FROM audit_head FOR UPDATE`).Scan(&t.headSeq, &t.headHash); err != nil {
		return t.fail(fmt.Errorf("lock the audit chain head: %w", err))
	}
	t.serial = true
	return nil
}

// fail records err so that Update rolls back even if the caller ignores it
// (a failed statement aborts a PostgreSQL transaction anyway).
func (t *Tx) fail(err error) error {
	if err != nil && t.err == nil {
		t.err = err
	}
	return err
}

func (t *Tx) exec(q string, args ...any) (pgconn.CommandTag, error) {
	if t.readOnly {
		return pgconn.CommandTag{}, errors.New("postgres: write in a read transaction")
	}
	if err := t.serialise(); err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := t.tx.Exec(t.ctx, q, args...)
	return tag, t.fail(err)
}

func (t *Tx) query(q string, args ...any) (pgx.Rows, error) {
	if err := t.serialise(); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(t.ctx, q, args...)
	return rows, t.fail(err)
}

// row is a pgx.Row that may carry the error of serialise, and records
// a failed statement's (no row is no failure).
type row struct {
	r   pgx.Row
	t   *Tx
	err error
}

func (r row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	err := r.r.Scan(dest...)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		r.t.fail(err)
	}
	return err
}

func (t *Tx) queryRow(q string, args ...any) pgx.Row {
	if err := t.serialise(); err != nil {
		return row{err: err}
	}
	return row{r: t.tx.QueryRow(t.ctx, q, args...), t: t}
}

// jobExec records the outcome of a job the caller holds: one row's
// compare-and-set, atomic on its own, so it does not take the chain head.
// A transaction that goes on to other writes takes the head after it while
// holding that job's row; no transaction that holds the head waits for a
// held job's row (coalescing skips held jobs, hurrying skips jobs already
// due), so the order cannot deadlock.
func (t *Tx) jobExec(q string, args ...any) (int64, error) {
	if t.readOnly {
		return 0, errors.New("postgres: write in a read transaction")
	}
	tag, err := t.tx.Exec(t.ctx, q, args...)
	return tag.RowsAffected(), t.fail(err)
}

// EnqueueJob adds an outbox job; j.ID is set. A coalescing job is folded
// into the newest pending job of its kind and key that no worker holds. The
// outer WHERE repeats the conditions so that a claim committed between the
// lookup and the update (another replica's) is seen: the job is then
// queued anew instead of being folded into one already running.
func (t *Tx) EnqueueJob(j *approvals.Job) error {
	if j.Lane == "" {
		return errors.New("postgres: a job needs a lane")
	}
	now := ms(t.Now())
	if !j.Coalesce || j.Key == "" {
		return t.queryRow(`INSERT INTO jobs (kind, lane, job_key, request_id, grant_id, ref, note, attempts, run_at, created_at, updated_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING id`,
			string(j.Kind), string(j.Lane), j.Key, j.RequestID, j.GrantID, j.Ref, j.Note, j.Attempts, ms(j.RunAt), now, now).Scan(&j.ID)
	}
	// Fold, or else insert: one statement, one round trip.
	return t.queryRow(`WITH folded AS (
			UPDATE jobs SET note = CASE WHEN note = '' THEN $7 WHEN $7 = '' THEN note ELSE note || ',' || $7 END, updated_at = $10
			WHERE id = (SELECT id FROM jobs WHERE job_key = $3 AND job_key <> '' AND state = 'pending'
				AND kind = $1 AND lease_owner = '' ORDER BY id DESC LIMIT 1) AND state = 'pending' AND lease_owner = ''
			RETURNING id),
		queued AS (
			INSERT INTO jobs (kind, lane, job_key, request_id, grant_id, ref, note, attempts, run_at, created_at, updated_at)
			SELECT $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$10 WHERE NOT EXISTS (SELECT 1 FROM folded)
			RETURNING id)
		SELECT id FROM folded UNION ALL SELECT id FROM queued`,
		string(j.Kind), string(j.Lane), j.Key, j.RequestID, j.GrantID, j.Ref, j.Note, j.Attempts, ms(j.RunAt), now).Scan(&j.ID)
}

// ClaimJobs leases the due jobs of a lane. The rows are taken FOR UPDATE
// SKIP LOCKED: a job another replica is claiming or finishing at this
// moment is passed over, never waited for; a job whose key has an older
// pending job waits for it, whoever holds it. A claim does not take the
// chain head lock (see DB.Update).
func (t *Tx) ClaimJobs(lane approvals.Lane, now time.Time, limit int, owner string, leaseUntil time.Time, skip []int64) ([]*approvals.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	if t.readOnly {
		return nil, errors.New("postgres: claim in a read transaction")
	}
	if skip == nil {
		skip = []int64{}
	}
	rows, err := t.tx.Query(t.ctx, `UPDATE jobs SET lease_owner = $1, lease_until = $2, updated_at = $3, claims = claims + 1 WHERE id IN (
		SELECT j.id FROM jobs j WHERE j.state = 'pending' AND j.lane = $4 AND j.run_at <= $5
		AND (j.lease_until <= $5 OR j.lease_owner = $1) AND NOT (j.id = ANY($6))
		AND (j.job_key = '' OR NOT EXISTS (SELECT 1 FROM jobs k
			WHERE k.job_key = j.job_key AND k.state = 'pending' AND k.job_key <> '' AND k.id < j.id))
		ORDER BY j.run_at, j.id LIMIT $7 FOR UPDATE SKIP LOCKED) RETURNING `+sqlstore.JobCols,
		owner, ms(leaseUntil), ms(t.Now()), string(lane), ms(now), skip, limit)
	if err != nil {
		return nil, t.fail(err)
	}
	out, err := sqlstore.ClaimedJobs(rows, nil)
	return out, t.fail(err)
}

// NextJobAt returns the earliest run_at after now of a lane's pending jobs
// not in skip. Like a claim, it takes no lock.
func (t *Tx) NextJobAt(lane approvals.Lane, now time.Time, skip []int64) (time.Time, bool, error) {
	if skip == nil {
		skip = []int64{}
	}
	var v *int64
	err := t.tx.QueryRow(t.ctx, `SELECT min(run_at) FROM jobs WHERE state = 'pending' AND lane = $1 AND run_at > $2
		AND NOT (id = ANY($3))`, string(lane), ms(now), skip).Scan(&v)
	if err != nil || v == nil {
		return time.Time{}, false, t.fail(err)
	}
	return fromMS(*v), true, nil
}

// ReleaseJobs lets go of owner's leases on pending jobs. Like a claim, it
// changes only the jobs' leases and takes no chain head lock.
func (t *Tx) ReleaseJobs(owner string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if t.readOnly {
		return errors.New("postgres: write in a read transaction")
	}
	_, err := t.tx.Exec(t.ctx, `UPDATE jobs SET lease_owner = '', lease_until = 0 WHERE state = 'pending' AND lease_owner = $1 AND id = ANY($2)`,
		owner, ids)
	return t.fail(err)
}

// RenewJobs extends owner's leases on pending jobs to until. Like a claim
// it takes no chain head lock, and it skips a row another transaction
// holds (a worker recording that job's outcome, another replica claiming
// it) instead of waiting for it: a renewal made inside a transaction that
// holds the head must never wait for a row whose holder waits for the head.
func (t *Tx) RenewJobs(owner string, ids []int64, until time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if t.readOnly {
		return errors.New("postgres: write in a read transaction")
	}
	_, err := t.tx.Exec(t.ctx, `UPDATE jobs SET lease_until = GREATEST(lease_until, $1) WHERE id IN (
		SELECT id FROM jobs WHERE id = ANY($2) AND state = 'pending' AND lease_owner = $3 FOR UPDATE SKIP LOCKED)`,
		ms(until), ids, owner)
	return t.fail(err)
}

// finish writes the new chain head, once per transaction, before commit.
func (t *Tx) finish() error {
	if !t.appended {
		return nil
	}
	_, err := t.tx.Exec(t.ctx, `UPDATE audit_head SET seq = $1, hash = $2`, t.headSeq, t.headHash)
	return t.fail(err)
}
