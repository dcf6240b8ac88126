package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	sqlite3 "github.com/mattn/go-sqlite3"
)

const requestCols = `id, requester, resource, admin, duration_ms, reason, ticket, rule, steps, current_step,
	notify, allow_self, auto_approved, extends_id, correlation_id, state, state_reason, decided_by,
	created_at, expires_at, remind_at, reminded, decided_at, starts_at, ends_at, warn_at, warned, ended_at, version`

type scanner interface{ Scan(dest ...any) error }

func scanRequest(s scanner) (*approvals.Request, error) {
	var (
		r                                                            approvals.Request
		durMS                                                        int64
		steps, notify, state                                         string
		created, expires, remind, decided, starts, ends, warn, ended int64
		admin, allowSelf, auto, reminded, warned                     bool
	)
	err := s.Scan(&r.ID, &r.Requester, &r.Resource, &admin, &durMS, &r.Reason, &r.Ticket, &r.Rule, &steps,
		&r.CurrentStep, &notify, &allowSelf, &auto, &r.ExtendsID, &r.CorrelationID, &state, &r.StateReason,
		&r.DecidedBy, &created, &expires, &remind, &reminded, &decided, &starts, &ends, &warn, &warned, &ended, &r.Version)
	if err != nil {
		return nil, err
	}
	r.Admin, r.AllowSelf, r.AutoApproved, r.Reminded, r.Warned = admin, allowSelf, auto, reminded, warned
	r.Duration = time.Duration(durMS) * time.Millisecond
	r.State = approvals.State(state)
	r.CreatedAt, r.ExpiresAt, r.RemindAt, r.DecidedAt = fromMS(created), fromMS(expires), fromMS(remind), fromMS(decided)
	r.StartsAt, r.EndsAt, r.WarnAt, r.EndedAt = fromMS(starts), fromMS(ends), fromMS(warn), fromMS(ended)
	if err := json.Unmarshal([]byte(steps), &r.Steps); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(notify), &r.Notify); err != nil {
		return nil, err
	}
	return &r, nil
}

// GetRequest returns a request by id, or by an unambiguous prefix of at
// least 8 characters (the short form people see).
func (t *Tx) GetRequest(id string) (*approvals.Request, error) {
	r, err := scanRequest(t.queryRow(`SELECT `+requestCols+` FROM requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) && len(id) >= 8 && len(id) < 36 {
		rs, err := t.queryRequests(`SELECT `+requestCols+` FROM requests WHERE id >= ? AND id < ? LIMIT 2`, id, id+"\xff")
		if err != nil {
			return nil, err
		}
		if len(rs) == 1 {
			return rs[0], nil
		}
		return nil, approvals.ErrNotFound
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, approvals.ErrNotFound
	}
	return r, err
}

func (t *Tx) queryRequests(q string, args ...any) ([]*approvals.Request, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*approvals.Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// InsertRequest stores a new request.
func (t *Tx) InsertRequest(r *approvals.Request) error {
	notify := r.Notify
	if notify == nil {
		notify = []string{}
	}
	_, err := t.exec(`INSERT INTO requests (`+requestCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		r.ID, r.Requester, r.Resource, r.Admin, r.Duration.Milliseconds(), r.Reason, r.Ticket, r.Rule, jsonText(r.Steps),
		r.CurrentStep, jsonText(notify), r.AllowSelf, r.AutoApproved, r.ExtendsID, r.CorrelationID, string(r.State),
		r.StateReason, r.DecidedBy, ms(r.CreatedAt), ms(r.ExpiresAt), ms(r.RemindAt), r.Reminded, ms(r.DecidedAt),
		ms(r.StartsAt), ms(r.EndsAt), ms(r.WarnAt), r.Warned, ms(r.EndedAt), r.Version)
	return err
}

// UpdateRequest writes the mutable fields of r when the stored row still has
// state from and r's version.
func (t *Tx) UpdateRequest(r *approvals.Request, from approvals.State) error {
	err := t.casExec(`UPDATE requests SET current_step=?, auto_approved=?, state=?, state_reason=?, decided_by=?,
		reminded=?, decided_at=?, starts_at=?, ends_at=?, warn_at=?, warned=?, ended_at=?, version=version+1
		WHERE id=? AND state=? AND version=?`,
		r.CurrentStep, r.AutoApproved, string(r.State), r.StateReason, r.DecidedBy, r.Reminded, ms(r.DecidedAt),
		ms(r.StartsAt), ms(r.EndsAt), ms(r.WarnAt), r.Warned, ms(r.EndedAt), r.ID, string(from), r.Version)
	if err == nil {
		r.Version++
	}
	return err
}

// ListRequests returns requests matching f, newest first.
func (t *Tx) ListRequests(f approvals.RequestFilter) ([]*approvals.Request, error) {
	var (
		where []string
		args  []any
	)
	if f.Requester != "" {
		where = append(where, "requester = ?")
		args = append(args, strings.ToLower(f.Requester))
	}
	states := f.States
	if f.Approver != "" {
		states = []approvals.State{approvals.StatePending}
	}
	if len(states) > 0 {
		ph := strings.TrimSuffix(strings.Repeat("?,", len(states)), ",")
		where = append(where, "state IN ("+ph+")")
		for _, s := range states {
			args = append(args, string(s))
		}
	}
	q := `SELECT ` + requestCols + ` FROM requests`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id"
	rs, err := t.queryRequests(q, args...)
	if err != nil {
		return nil, err
	}
	if f.Approver != "" {
		me := strings.ToLower(f.Approver)
		kept := rs[:0]
		for _, r := range rs {
			for _, a := range r.Steps[r.CurrentStep].Approvers {
				if a == me && (me != r.Requester || r.AllowSelf) {
					kept = append(kept, r)
					break
				}
			}
		}
		rs = kept
	}
	if f.Limit > 0 && len(rs) > f.Limit {
		rs = rs[:f.Limit]
	}
	return rs, nil
}

// InsertDecision records one approver's answer on one step.
func (t *Tx) InsertDecision(d *approvals.Decision) error {
	_, err := t.exec(`INSERT INTO decisions (request_id, step, approver, approve, reason, at) VALUES (?,?,?,?,?,?)`,
		d.RequestID, d.Step, d.Approver, d.Approve, d.Reason, ms(d.At))
	var se sqlite3.Error
	if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey {
		return approvals.ErrDuplicate
	}
	return err
}

// Decisions returns every decision on a request in step order.
func (t *Tx) Decisions(requestID string) ([]*approvals.Decision, error) {
	rows, err := t.query(`SELECT request_id, step, approver, approve, reason, at FROM decisions WHERE request_id = ? ORDER BY step, at`, requestID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*approvals.Decision
	for rows.Next() {
		var (
			d  approvals.Decision
			at int64
		)
		if err := rows.Scan(&d.RequestID, &d.Step, &d.Approver, &d.Approve, &d.Reason, &at); err != nil {
			return nil, err
		}
		d.At = fromMS(at)
		out = append(out, &d)
	}
	return out, rows.Err()
}

const grantCols = `id, request_id, person, resource, provider, grp, state, standing, note, created_at, updated_at`

func scanGrant(s scanner) (*approvals.Grant, error) {
	var (
		g                approvals.Grant
		state            string
		created, updated int64
	)
	if err := s.Scan(&g.ID, &g.RequestID, &g.Person, &g.Resource, &g.Provider, &g.Group, &state, &g.Standing, &g.Note, &created, &updated); err != nil {
		return nil, err
	}
	g.State = approvals.GrantState(state)
	g.CreatedAt, g.UpdatedAt = fromMS(created), fromMS(updated)
	return &g, nil
}

func (t *Tx) queryGrants(q string, args ...any) ([]*approvals.Grant, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*approvals.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// InsertGrant stores a new grant.
func (t *Tx) InsertGrant(g *approvals.Grant) error {
	_, err := t.exec(`INSERT INTO grants (`+grantCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		g.ID, g.RequestID, g.Person, g.Resource, g.Provider, g.Group, string(g.State), g.Standing, g.Note, ms(g.CreatedAt), ms(g.UpdatedAt))
	return err
}

// GetGrant returns a grant by id.
func (t *Tx) GetGrant(id string) (*approvals.Grant, error) {
	g, err := scanGrant(t.queryRow(`SELECT `+grantCols+` FROM grants WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, approvals.ErrNotFound
	}
	return g, err
}

// GrantsOf returns the grants of a request.
func (t *Tx) GrantsOf(requestID string) ([]*approvals.Grant, error) {
	return t.queryGrants(`SELECT `+grantCols+` FROM grants WHERE request_id = ? ORDER BY resource`, requestID)
}

// UpdateGrant writes g when its stored state is still from.
func (t *Tx) UpdateGrant(g *approvals.Grant, from approvals.GrantState) error {
	return t.casExec(`UPDATE grants SET state=?, standing=?, note=?, updated_at=? WHERE id=? AND state=?`,
		string(g.State), g.Standing, g.Note, ms(g.UpdatedAt), g.ID, string(from))
}

// CoveringGrants returns the other live grants of the same membership.
func (t *Tx) CoveringGrants(m approvals.Membership, excludeID string) ([]*approvals.Grant, error) {
	return t.queryGrants(`SELECT `+grantCols+` FROM grants WHERE provider=? AND grp=? AND person=?
		AND state IN ('provisioning', 'active') AND id <> ?`, m.Provider, m.Group, m.Person, excludeID)
}

// GetMembership returns the bot's record of a membership.
func (t *Tx) GetMembership(m approvals.Membership) (*approvals.MembershipRecord, error) {
	var (
		rec    approvals.MembershipRecord
		origin string
		since  int64
	)
	err := t.queryRow(`SELECT provider, grp, person, origin, since FROM memberships WHERE provider=? AND grp=? AND person=?`,
		m.Provider, m.Group, m.Person).Scan(&rec.Provider, &rec.Group, &rec.Person, &origin, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, approvals.ErrNotFound
	}
	rec.Origin, rec.Since = approvals.Origin(origin), fromMS(since)
	return &rec, err
}

// PutMembership records a membership the bot manages.
func (t *Tx) PutMembership(rec *approvals.MembershipRecord) error {
	_, err := t.exec(`INSERT INTO memberships (provider, grp, person, origin, since) VALUES (?,?,?,?,?)
		ON CONFLICT (provider, grp, person) DO UPDATE SET origin=excluded.origin, since=excluded.since`,
		rec.Provider, rec.Group, rec.Person, string(rec.Origin), ms(rec.Since))
	return err
}

// DeleteMembership forgets a membership.
func (t *Tx) DeleteMembership(m approvals.Membership) error {
	_, err := t.exec(`DELETE FROM memberships WHERE provider=? AND grp=? AND person=?`, m.Provider, m.Group, m.Person)
	return err
}

// LiveGrants returns the provisioning and active grants of one group.
func (t *Tx) LiveGrants(provider, group string) ([]*approvals.Grant, error) {
	return t.queryGrants(`SELECT `+grantCols+` FROM grants WHERE provider=? AND grp=? AND state IN ('provisioning', 'active') ORDER BY person`, provider, group)
}

// Memberships lists the membership records of one group (drift reconciliation).
func (t *Tx) Memberships(provider, group string) ([]*approvals.MembershipRecord, error) {
	rows, err := t.query(`SELECT provider, grp, person, origin, since FROM memberships WHERE provider=? AND grp=? ORDER BY person`, provider, group)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*approvals.MembershipRecord
	for rows.Next() {
		var (
			rec    approvals.MembershipRecord
			origin string
			since  int64
		)
		if err := rows.Scan(&rec.Provider, &rec.Group, &rec.Person, &origin, &since); err != nil {
			return nil, err
		}
		rec.Origin, rec.Since = approvals.Origin(origin), fromMS(since)
		out = append(out, &rec)
	}
	return out, rows.Err()
}

const jobCols = `id, kind, lane, job_key, request_id, grant_id, ref, note, attempts, run_at, last_error`

func scanJob(s scanner) (*approvals.Job, error) {
	var (
		j          approvals.Job
		kind, lane string
		runAt      int64
	)
	if err := s.Scan(&j.ID, &kind, &lane, &j.Key, &j.RequestID, &j.GrantID, &j.Ref, &j.Note, &j.Attempts, &runAt, &j.LastError); err != nil {
		return nil, err
	}
	j.Kind, j.Lane, j.RunAt = approvals.JobKind(kind), approvals.Lane(lane), fromMS(runAt)
	return &j, nil
}

// EnqueueJob adds an outbox job; j.ID is set. A coalescing job is folded
// into the newest pending job of its kind and key that no worker holds.
func (t *Tx) EnqueueJob(j *approvals.Job) error {
	if j.Lane == "" {
		return errors.New("store: a job needs a lane")
	}
	now := ms(t.db.now())
	if j.Coalesce && j.Key != "" {
		var id int64
		err := t.queryRow(`UPDATE jobs SET note = CASE WHEN note = '' THEN ?1 WHEN ?1 = '' THEN note ELSE note || ',' || ?1 END,
			updated_at = ?2 WHERE id = (SELECT id FROM jobs INDEXED BY jobs_key WHERE job_key = ?3 AND job_key <> '' AND state = 'pending'
			AND kind = ?4 AND lease_owner = '' ORDER BY id DESC LIMIT 1) RETURNING id`,
			j.Note, now, j.Key, string(j.Kind)).Scan(&id)
		if err == nil {
			j.ID = id
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
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
	args := []any{owner, ms(leaseUntil), ms(t.db.now()), string(lane), ms(now), ms(now), owner}
	args = append(args, skipArgs...)
	args = append(args, limit)
	rows, err := t.query(`UPDATE jobs SET lease_owner = ?, lease_until = ?, updated_at = ? WHERE id IN (
		SELECT j.id FROM jobs j INDEXED BY jobs_due WHERE j.state = 'pending' AND j.lane = ? AND j.run_at <= ?
		AND (j.lease_until <= ? OR j.lease_owner = ?)`+skipSQL+`
		AND (j.job_key = '' OR NOT EXISTS (SELECT 1 FROM jobs k INDEXED BY jobs_key
			WHERE k.job_key = j.job_key AND k.state = 'pending' AND k.job_key <> '' AND k.id < j.id))
		ORDER BY j.run_at, j.id LIMIT ?) RETURNING `+jobCols, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*approvals.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].RunAt.Equal(out[b].RunAt) {
			return out[a].RunAt.Before(out[b].RunAt)
		}
		return out[a].ID < out[b].ID
	})
	return out, nil
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
	return fromMS(v.Int64), true, nil
}

// PendingJobs returns every pending job of a lane ("" for all), oldest
// first (tests and the CLI).
func (t *Tx) PendingJobs(lane approvals.Lane) ([]*approvals.Job, error) {
	rows, err := t.query(`SELECT `+jobCols+` FROM jobs WHERE state = 'pending' AND (? = '' OR lane = ?) ORDER BY id`, string(lane), string(lane))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*approvals.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// CompleteJob marks a job done. Completing a job that is not pending is a conflict.
func (t *Tx) CompleteJob(id int64) error {
	return t.casExec(`UPDATE jobs SET state='done', lease_owner='', lease_until=0, updated_at=? WHERE id=? AND state='pending'`, ms(t.db.now()), id)
}

// RetryJob schedules another attempt.
func (t *Tx) RetryJob(id int64, attempts int, runAt time.Time, lastErr string) error {
	return t.casExec(`UPDATE jobs SET attempts=?, run_at=?, last_error=?, lease_owner='', lease_until=0, updated_at=? WHERE id=? AND state='pending'`,
		attempts, ms(runAt), lastErr, ms(t.db.now()), id)
}

// DeferJob puts a job back until runAt without counting an attempt.
func (t *Tx) DeferJob(id int64, runAt time.Time, why string) error {
	return t.casExec(`UPDATE jobs SET run_at=?, last_error=?, lease_owner='', lease_until=0, updated_at=? WHERE id=? AND state='pending'`,
		ms(runAt), why, ms(t.db.now()), id)
}

// FailJob gives up on a job.
func (t *Tx) FailJob(id int64, lastErr string) error {
	return t.casExec(`UPDATE jobs SET state='failed', attempts=attempts+1, last_error=?, lease_owner='', lease_until=0, updated_at=? WHERE id=? AND state='pending'`,
		lastErr, ms(t.db.now()), id)
}

// HurryGrantJobs makes a grant's pending jobs due now.
func (t *Tx) HurryGrantJobs(grantID string, now time.Time) error {
	_, err := t.exec(`UPDATE jobs SET run_at = ?, updated_at = ? WHERE grant_id = ? AND grant_id <> '' AND state = 'pending' AND run_at > ?`,
		ms(now), ms(t.db.now()), grantID, ms(now))
	return err
}

// DueActive returns active requests whose time is up. The partial index
// requests_due_active means only due rows are read.
func (t *Tx) DueActive(now time.Time, limit int) ([]*approvals.Request, error) {
	return t.queryRequests(`SELECT `+requestCols+` FROM requests INDEXED BY requests_due_active WHERE state = 'active' AND ends_at <= ? ORDER BY ends_at LIMIT ?`, ms(now), limit)
}

// DuePending returns pending requests past their TTL.
func (t *Tx) DuePending(now time.Time, limit int) ([]*approvals.Request, error) {
	return t.queryRequests(`SELECT `+requestCols+` FROM requests INDEXED BY requests_due_pending WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at LIMIT ?`, ms(now), limit)
}

// DueReminders returns pending requests whose approvers should be reminded.
func (t *Tx) DueReminders(now time.Time, limit int) ([]*approvals.Request, error) {
	return t.queryRequests(`SELECT `+requestCols+` FROM requests INDEXED BY requests_due_remind WHERE state = 'pending' AND reminded = 0 AND remind_at <= ? ORDER BY remind_at LIMIT ?`, ms(now), limit)
}

// DueWarnings returns active requests whose requester should be warned.
func (t *Tx) DueWarnings(now time.Time, limit int) ([]*approvals.Request, error) {
	return t.queryRequests(`SELECT `+requestCols+` FROM requests INDEXED BY requests_due_warn WHERE state = 'active' AND warned = 0 AND warn_at <= ? ORDER BY warn_at LIMIT ?`, ms(now), limit)
}

// NextDeadline returns the earliest request deadline of any kind. Each
// term is one lookup in a partial index.
func (t *Tx) NextDeadline() (time.Time, bool, error) {
	var v sql.NullInt64
	err := t.queryRow(`SELECT min(x) FROM (
		SELECT min(ends_at) AS x FROM requests INDEXED BY requests_due_active WHERE state = 'active'
		UNION ALL SELECT min(warn_at) FROM requests INDEXED BY requests_due_warn WHERE state = 'active' AND warned = 0
		UNION ALL SELECT min(expires_at) FROM requests INDEXED BY requests_due_pending WHERE state = 'pending'
		UNION ALL SELECT min(remind_at) FROM requests INDEXED BY requests_due_remind WHERE state = 'pending' AND reminded = 0)`).Scan(&v)
	if err != nil || !v.Valid {
		return time.Time{}, false, err
	}
	return fromMS(v.Int64), true, nil
}

// Append seals e onto the audit chain: it reads the head inside this write
// transaction, so the chain stays linear across processes.
func (t *Tx) Append(e *approvals.Event) error {
	var (
		prev string
		seq  int64
	)
	err := t.queryRow(`SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	e.Seq = seq + 1
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	if e.Time.IsZero() {
		e.Time = t.db.now()
	}
	audit.Seal(prev, e)
	data := e.Data
	if data == nil {
		data = map[string]string{}
	}
	_, err = t.exec(`INSERT INTO audit_events (seq, id, time, actor, action, subject, resource, request_id, grant_id,
		reason, rule, correlation_id, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		e.Seq, e.ID, ms(e.Time), e.Actor, e.Action, e.Subject, e.Resource, e.RequestID, e.GrantID, e.Reason,
		e.Rule, e.CorrelationID, jsonText(data), e.PrevHash, e.Hash)
	return err
}
