package sqlstore

import (
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
)

// The engine's deadlines, the outbox jobs' outcomes and the audit chain.
// Enqueueing, claiming and leasing jobs is each engine's own (its write
// path); so is where the chain's head comes from (Conn.Head).

// DueActive returns active requests whose time is up. The partial index
// requests_due_active means only due rows are read.
func (t *Tx) DueActive(now time.Time, limit int) ([]*approvals.Request, error) {
	return queryAll(t, scanRequest, `SELECT `+RequestCols+` FROM requests INDEXED BY requests_due_active WHERE state = 'active' AND ends_at <= ? ORDER BY ends_at LIMIT ?`, ms(now), limit)
}

// DueStarted returns approved requests whose clock started (a bundle's
// first membership is in) and whose time is up.
func (t *Tx) DueStarted(now time.Time, limit int) ([]*approvals.Request, error) {
	return queryAll(t, scanRequest, `SELECT `+RequestCols+` FROM requests INDEXED BY requests_due_started WHERE state = 'approved' AND ends_at > 0 AND ends_at <= ? ORDER BY ends_at LIMIT ?`, ms(now), limit)
}

// DuePending returns pending requests past their TTL.
func (t *Tx) DuePending(now time.Time, limit int) ([]*approvals.Request, error) {
	return queryAll(t, scanRequest, `SELECT `+RequestCols+` FROM requests INDEXED BY requests_due_pending WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at LIMIT ?`, ms(now), limit)
}

// DueReminders returns pending requests whose approvers should be reminded.
func (t *Tx) DueReminders(now time.Time, limit int) ([]*approvals.Request, error) {
	return queryAll(t, scanRequest, `SELECT `+RequestCols+` FROM requests INDEXED BY requests_due_remind WHERE state = 'pending' AND reminded = false AND remind_at <= ? ORDER BY remind_at LIMIT ?`, ms(now), limit)
}

// DueWarnings returns active requests whose requester should be warned.
func (t *Tx) DueWarnings(now time.Time, limit int) ([]*approvals.Request, error) {
	return queryAll(t, scanRequest, `SELECT `+RequestCols+` FROM requests INDEXED BY requests_due_warn WHERE state = 'active' AND warned = false AND warn_at <= ? ORDER BY warn_at LIMIT ?`, ms(now), limit)
}

// NextDeadline returns the earliest request deadline of any kind. Each
// term is one lookup in a partial index.
func (t *Tx) NextDeadline() (time.Time, bool, error) {
	var v *int64
	err := t.queryRow(`SELECT min(x) FROM (
		SELECT min(ends_at) AS x FROM requests INDEXED BY requests_due_active WHERE state = 'active'
		UNION ALL SELECT min(ends_at) FROM requests INDEXED BY requests_due_started WHERE state = 'approved' AND ends_at > 0
		UNION ALL SELECT min(warn_at) FROM requests INDEXED BY requests_due_warn WHERE state = 'active' AND warned = false
		UNION ALL SELECT min(expires_at) FROM requests INDEXED BY requests_due_pending WHERE state = 'pending'
		UNION ALL SELECT min(remind_at) FROM requests INDEXED BY requests_due_remind WHERE state = 'pending' AND reminded = false) AS d`).Scan(&v)
	if err != nil || v == nil {
		return time.Time{}, false, err
	}
	return fromMS(*v), true, nil
}

// JobCols are the jobs table's columns in ScanJob's order.
const JobCols = `id, kind, lane, job_key, request_id, grant_id, ref, note, attempts, run_at, last_error, claims`

// ScanJob reads a row of JobCols.
func ScanJob(s Scanner) (*approvals.Job, error) {
	var (
		j          approvals.Job
		kind, lane string
		runAt      int64
	)
	if err := s.Scan(&j.ID, &kind, &lane, &j.Key, &j.RequestID, &j.GrantID, &j.Ref, &j.Note, &j.Attempts, &runAt, &j.LastError, &j.Claims); err != nil {
		return nil, err
	}
	j.Kind, j.Lane, j.RunAt = approvals.JobKind(kind), approvals.Lane(lane), fromMS(runAt)
	return &j, nil
}

// ClaimedJobs reads the jobs a claim returned, in run_at then id order.
func ClaimedJobs(rows Rows, err error) ([]*approvals.Job, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*approvals.Job
	for rows.Next() {
		j, err := ScanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].RunAt.Equal(out[b].RunAt) {
			return out[a].RunAt.Before(out[b].RunAt)
		}
		return out[a].ID < out[b].ID
	})
	return out, rows.Err()
}

// PendingJobs returns every pending job of a lane ("" for all), oldest
// first (tests and the CLI).
func (t *Tx) PendingJobs(lane approvals.Lane) ([]*approvals.Job, error) {
	return queryAll(t, ScanJob, `SELECT `+JobCols+` FROM jobs WHERE state = 'pending' AND (? = '' OR lane = ?) ORDER BY id`, string(lane), string(lane))
}

// ownJob records the outcome of a job the caller holds: a compare-and-set
// of its one row (Conn.Own).
func (t *Tx) ownJob(q string, args ...any) error {
	n, err := t.C.Own(t.D.SQL(q), args...)
	if err != nil {
		return err
	}
	if n != 1 {
		return approvals.ErrConflict
	}
	return nil
}

// CompleteJob marks a job done. Completing a job that is not pending is a conflict.
func (t *Tx) CompleteJob(id int64) error {
	return t.ownJob(`UPDATE jobs SET state='done', lease_owner='', lease_until=0, updated_at=? WHERE id=? AND state='pending'`, ms(t.Now()), id)
}

// RetryJob schedules another attempt.
func (t *Tx) RetryJob(id int64, attempts int, runAt time.Time, lastErr string) error {
	return t.ownJob(`UPDATE jobs SET attempts=?, run_at=?, last_error=?, lease_owner='', lease_until=0, updated_at=? WHERE id=? AND state='pending'`,
		attempts, ms(runAt), lastErr, ms(t.Now()), id)
}

// DeferJob puts a job back until runAt without counting an attempt.
func (t *Tx) DeferJob(id int64, runAt time.Time, why string) error {
	return t.ownJob(`UPDATE jobs SET run_at=?, last_error=?, lease_owner='', lease_until=0, updated_at=? WHERE id=? AND state='pending'`,
		ms(runAt), why, ms(t.Now()), id)
}

// FailJob gives up on a job.
func (t *Tx) FailJob(id int64, lastErr string) error {
	return t.ownJob(`UPDATE jobs SET state='failed', attempts=attempts+1, last_error=?, lease_owner='', lease_until=0, updated_at=? WHERE id=? AND state='pending'`,
		lastErr, ms(t.Now()), id)
}

// HoldsJob reports whether job id is pending with the given claim count,
// and (PostgreSQL) locks its row until the transaction ends so no claim
// slips between the answer and what the caller records on it.
func (t *Tx) HoldsJob(id int64, claims int) (bool, error) {
	var n int
	err := t.queryRow(`SELECT claims FROM jobs WHERE id = ? AND state = 'pending'`+t.D.ForUpdate, id).Scan(&n)
	if noRows(err) {
		return false, nil
	}
	return err == nil && n == claims, err
}

// HurryDeferred makes lane's pending jobs put back for why due now.
func (t *Tx) HurryDeferred(lane approvals.Lane, why string, now time.Time) (int, error) {
	n, err := t.exec(`UPDATE jobs SET run_at = ?1, updated_at = ?2 WHERE lane = ?3 AND state = 'pending' AND run_at > ?1 AND last_error = ?4`,
		ms(now), ms(t.Now()), string(lane), why)
	return int(n), err
}

// HurryGrantJobs makes a grant's pending jobs due now.
func (t *Tx) HurryGrantJobs(grantID string, now time.Time) error {
	_, err := t.exec(`UPDATE jobs SET run_at = ?1, updated_at = ?2 WHERE grant_id = ?3 AND grant_id <> '' AND state = 'pending' AND run_at > ?1`,
		ms(now), ms(t.Now()), grantID)
	return err
}

// Append seals e onto the audit chain after the head this transaction
// holds (Conn.Head: no other writer can move it before commit).
func (t *Tx) Append(e *approvals.Event) error {
	prev, seq, err := t.C.Head()
	if err != nil {
		return err
	}
	e.Seq = seq + 1
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	if e.Time.IsZero() {
		e.Time = t.Now()
	}
	audit.Seal(prev, e)
	data := e.Data
	if data == nil {
		data = map[string]string{}
	}
	if _, err := t.exec(`INSERT INTO audit_events (seq, id, time, actor, action, subject, resource, request_id, grant_id,
		reason, rule, correlation_id, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		e.Seq, e.ID, ms(e.Time), e.Actor, e.Action, e.Subject, e.Resource, e.RequestID, e.GrantID, e.Reason,
		e.Rule, e.CorrelationID, jsonText(data), e.PrevHash, e.Hash); err != nil {
		return err
	}
	t.C.Moved(e.Seq, e.Hash)
	return nil
}
