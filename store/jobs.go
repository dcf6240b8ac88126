package store

import (
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/store/sqlstore"
)

// EnqueueJob adds an outbox job; j.ID is set. A coalescing job is folded
// into the newest pending job of its kind and key that no worker holds.
func (t *Tx) EnqueueJob(j *approvals.Job) error {
	if j.Lane == "" {
		return errors.New("store: a job needs a lane")
	}
	now := ms(t.Now())
	if j.Coalesce && j.Key != "" {
		// Look first, then fold: usually there is nothing to fold into,
		// and a read costs a fraction of an UPDATE that finds no row. The
		// write transaction holds the only write connection: nothing can
		// claim the job between the two.
		var id int64
		err := t.queryRow(`SELECT id FROM jobs INDEXED BY jobs_key WHERE job_key = ? AND job_key <> '' AND state = 'pending'
			AND kind = ? AND lease_owner = '' ORDER BY id DESC LIMIT 1`, j.Key, string(j.Kind)).Scan(&id)
		switch {
		case err == nil:
			n, err := (*conn)(t).Exec(`UPDATE jobs SET note = CASE WHEN note = '' THEN ?1 WHEN ?1 = '' THEN note ELSE note || ',' || ?1 END,
				updated_at = ?2 WHERE id = ?3`, j.Note, now, id)
			if err != nil {
				return err
			} else if n != 1 {
				return approvals.ErrConflict
			}
			j.ID = id
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
	}
	res, err := t.exec(`INSERT INTO jobs (kind, lane, job_key, request_id, grant_id, ref, note, attempts, run_at, created_at, updated_at)
		VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		string(j.Kind), string(j.Lane), j.Key, j.RequestID, j.GrantID, j.Ref, j.Note, j.Attempts, ms(j.RunAt), now, now)
	if err != nil {
		return err
	}
	j.ID, err = res.LastInsertId()
	return err
}

// skipClause returns "AND id NOT IN (…)" for ids, and its arguments.
func skipClause(col string, ids []int64) (string, []any) {
	if len(ids) == 0 {
		return "", nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return " AND " + col + " NOT IN (" + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")", args
}

// ClaimJobs leases the due jobs of a lane. It reads the partial index
// jobs_due in run_at order; the key check is one lookup in jobs_key.
func (t *Tx) ClaimJobs(lane approvals.Lane, now time.Time, limit int, owner string, leaseUntil time.Time, skip []int64) ([]*approvals.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	skipSQL, skipArgs := skipClause("j.id", skip)
	args := []any{owner, ms(leaseUntil), ms(t.Now()), string(lane), ms(now), ms(now), owner}
	args = append(args, skipArgs...)
	args = append(args, limit)
	rows, err := t.query(`UPDATE jobs SET lease_owner = ?, lease_until = ?, updated_at = ?, claims = claims + 1 WHERE id IN (
		SELECT j.id FROM jobs j INDEXED BY jobs_due WHERE j.state = 'pending' AND j.lane = ? AND j.run_at <= ?
		AND (j.lease_until <= ? OR j.lease_owner = ?)`+skipSQL+`
		AND (j.job_key = '' OR NOT EXISTS (SELECT 1 FROM jobs k INDEXED BY jobs_key
			WHERE k.job_key = j.job_key AND k.state = 'pending' AND k.job_key <> '' AND k.id < j.id))
		ORDER BY j.run_at, j.id LIMIT ?) RETURNING `+sqlstore.JobCols, args...)
	return sqlstore.ClaimedJobs(wrapRows(rows, err))
}

// NextJobAt returns the earliest run_at after now of a lane's pending jobs
// not in skip: one range read of jobs_due.
func (t *Tx) NextJobAt(lane approvals.Lane, now time.Time, skip []int64) (time.Time, bool, error) {
	skipSQL, skipArgs := skipClause("id", skip)
	var v sql.NullInt64
	args := append([]any{string(lane), ms(now)}, skipArgs...)
	err := t.queryRow(`SELECT min(run_at) FROM jobs INDEXED BY jobs_due WHERE state = 'pending' AND lane = ? AND run_at > ?`+skipSQL, args...).Scan(&v)
	if err != nil || !v.Valid {
		return time.Time{}, false, err
	}
	return sqlstore.FromMS(v.Int64), true, nil
}

// ReleaseJobs lets go of owner's leases on pending jobs.
func (t *Tx) ReleaseJobs(owner string, ids []int64) error {
	return t.ownJobs(`UPDATE jobs SET lease_owner = '', lease_until = 0`, nil, owner, ids)
}

// RenewJobs extends owner's leases on pending jobs to until.
func (t *Tx) RenewJobs(owner string, ids []int64, until time.Time) error {
	return t.ownJobs(`UPDATE jobs SET lease_until = max(lease_until, ?)`, []any{ms(until)}, owner, ids)
}

// ownJobs runs update (with its args) on those of the jobs ids that are
// pending and leased to owner.
func (t *Tx) ownJobs(update string, args []any, owner string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	in, inArgs := skipClause("id", ids) // " AND id NOT IN (…)"
	in = strings.Replace(in, "NOT IN", "IN", 1)
	args = append(append(args, owner), inArgs...)
	_, err := t.exec(update+` WHERE state = 'pending' AND lease_owner = ?`+in, args...)
	return err
}
