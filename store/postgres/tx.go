package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
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
	return tag, err
}

func (t *Tx) query(q string, args ...any) (pgx.Rows, error) {
	if err := t.serialise(); err != nil {
		return nil, err
	}
	return t.tx.Query(t.ctx, q, args...)
}

// row is a pgx.Row that may carry the error of serialise.
type row struct {
	r   pgx.Row
	err error
}

func (r row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.r.Scan(dest...)
}

func (t *Tx) queryRow(q string, args ...any) pgx.Row {
	if err := t.serialise(); err != nil {
		return row{err: err}
	}
	return t.tx.QueryRow(t.ctx, q, args...)
}

// casExec runs an UPDATE that must change exactly one row.
func (t *Tx) casExec(q string, args ...any) error {
	tag, err := t.exec(q, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return approvals.ErrConflict
	}
	return nil
}

// jobExec records the outcome of a job the caller holds: one row's
// compare-and-set, atomic on its own, so it does not take the chain head.
// A transaction that goes on to other writes takes the head after it while
// holding that job's row; no transaction that holds the head waits for a
// held job's row (coalescing skips held jobs, hurrying skips jobs already
// due), so the order cannot deadlock.
func (t *Tx) jobExec(q string, args ...any) error {
	if t.readOnly {
		return errors.New("postgres: write in a read transaction")
	}
	tag, err := t.tx.Exec(t.ctx, q, args...)
	if err != nil {
		return t.fail(err)
	}
	if tag.RowsAffected() != 1 {
		return approvals.ErrConflict
	}
	return nil
}

const requestCols = `id, requester, resource, admin, duration_ms, reason, ticket, rule, steps, current_step,
	notify, allow_self, auto_approved, extends_id, correlation_id, state, state_reason, decided_by,
	created_at, expires_at, remind_at, reminded, decided_at, starts_at, ends_at, warn_at, warned, ended_at, version, allow_repeat`

type scanner interface{ Scan(dest ...any) error }

// queryAll runs q and scans every row it returns with scan.
func queryAll[T any](t *Tx, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// byID reads the row of table whose id is id or, failing that, the one row
// whose id starts with id when id has at least 8 characters (the short form
// people see); ErrNotFound when there is none, or more than one.
func byID[T any](t *Tx, table, cols string, scan func(scanner) (T, error), id string) (T, error) {
	var zero T
	v, err := scan(t.queryRow(`SELECT `+cols+` FROM `+table+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) && len(id) >= 8 && len(id) < 36 {
		vs, err := queryAll(t, scan, `SELECT `+cols+` FROM `+table+` WHERE id LIKE $1 LIMIT 2`, likePrefix(id))
		if err != nil {
			return zero, err
		}
		if len(vs) == 1 {
			return vs[0], nil
		}
		return zero, approvals.ErrNotFound
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return zero, approvals.ErrNotFound
	}
	return v, err
}

func scanRequest(s scanner) (*approvals.Request, error) {
	var (
		r                                                            approvals.Request
		durMS                                                        int64
		steps, notify, state                                         string
		created, expires, remind, decided, starts, ends, warn, ended int64
		version                                                      int64
	)
	err := s.Scan(&r.ID, &r.Requester, &r.Resource, &r.Admin, &durMS, &r.Reason, &r.Ticket, &r.Rule, &steps,
		&r.CurrentStep, &notify, &r.AllowSelf, &r.AutoApproved, &r.ExtendsID, &r.CorrelationID, &state, &r.StateReason,
		&r.DecidedBy, &created, &expires, &remind, &r.Reminded, &decided, &starts, &ends, &warn, &r.Warned, &ended, &version, &r.AllowRepeat)
	if err != nil {
		return nil, err
	}
	r.Version = int(version)
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

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// likePrefix escapes s for a LIKE prefix match.
func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s) + "%"
}

// GetRequest returns a request by id, or by an unambiguous prefix of at
// least 8 characters (the short form people see).
func (t *Tx) GetRequest(id string) (*approvals.Request, error) {
	return byID(t, "requests", requestCols, scanRequest, id)
}

func (t *Tx) queryRequests(q string, args ...any) ([]*approvals.Request, error) {
	return queryAll(t, scanRequest, q, args...)
}

// InsertRequest stores a new request.
func (t *Tx) InsertRequest(r *approvals.Request) error {
	notify := r.Notify
	if notify == nil {
		notify = []string{}
	}
	_, err := t.exec(`INSERT INTO requests (`+requestCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,
		$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30)`,
		r.ID, r.Requester, r.Resource, r.Admin, r.Duration.Milliseconds(), r.Reason, r.Ticket, r.Rule, jsonText(r.Steps),
		r.CurrentStep, jsonText(notify), r.AllowSelf, r.AutoApproved, r.ExtendsID, r.CorrelationID, string(r.State),
		r.StateReason, r.DecidedBy, ms(r.CreatedAt), ms(r.ExpiresAt), ms(r.RemindAt), r.Reminded, ms(r.DecidedAt),
		ms(r.StartsAt), ms(r.EndsAt), ms(r.WarnAt), r.Warned, ms(r.EndedAt), r.Version, r.AllowRepeat)
	return err
}

// UpdateRequest writes the mutable fields of r when the stored row still has
// state from and r's version.
func (t *Tx) UpdateRequest(r *approvals.Request, from approvals.State) error {
	err := t.casExec(`UPDATE requests SET current_step=$1, auto_approved=$2, state=$3, state_reason=$4, decided_by=$5,
		reminded=$6, decided_at=$7, starts_at=$8, ends_at=$9, warn_at=$10, warned=$11, ended_at=$12, version=version+1
		WHERE id=$13 AND state=$14 AND version=$15`,
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
		args = append(args, strings.ToLower(f.Requester))
		where = append(where, fmt.Sprintf("requester = $%d", len(args)))
	}
	states := f.States
	if f.Approver != "" {
		states = []approvals.State{approvals.StatePending}
	}
	if len(states) > 0 {
		ss := make([]string, len(states))
		for i, s := range states {
			ss[i] = string(s)
		}
		args = append(args, ss)
		where = append(where, fmt.Sprintf("state = ANY($%d)", len(args)))
	}
	q := `SELECT ` + requestCols + ` FROM requests`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += ` ORDER BY created_at DESC, id COLLATE "C"`
	rs, err := t.queryRequests(q, args...)
	if err != nil {
		return nil, err
	}
	if f.Approver != "" {
		me := strings.ToLower(f.Approver)
		kept := rs[:0]
		for _, r := range rs {
			if !slices.Contains(r.Steps[r.CurrentStep].Approvers, me) || (me == r.Requester && !r.AllowSelf) {
				continue
			}
			if r.CurrentStep > 0 && !r.AllowRepeat {
				// One person is never two approvers: who approved an
				// earlier step does not see the later one as theirs.
				var approved bool
				if err := t.queryRow(`SELECT EXISTS (SELECT 1 FROM decisions WHERE request_id = $1 AND approver = $2 AND step < $3 AND approve)`,
					r.ID, me, r.CurrentStep).Scan(&approved); err != nil {
					return nil, err
				}
				if approved {
					continue
				}
			}
			kept = append(kept, r)
		}
		rs = kept
	}
	if f.Limit > 0 && len(rs) > f.Limit {
		rs = rs[:f.Limit]
	}
	return rs, nil
}

// InsertDecision records one approver's answer on one step. A second answer
// of the same approver on the same step is ErrDuplicate; the statement does
// not abort the transaction (ON CONFLICT), so the caller may go on.
func (t *Tx) InsertDecision(d *approvals.Decision) error {
	tag, err := t.exec(`INSERT INTO decisions (request_id, step, approver, approve, reason, at) VALUES ($1,$2,$3,$4,$5,$6)
		ON CONFLICT (request_id, step, approver) DO NOTHING`,
		d.RequestID, d.Step, d.Approver, d.Approve, d.Reason, ms(d.At))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return approvals.ErrDuplicate
	}
	return nil
}

// Decisions returns every decision on a request in step order.
func (t *Tx) Decisions(requestID string) ([]*approvals.Decision, error) {
	rows, err := t.query(`SELECT request_id, step, approver, approve, reason, at FROM decisions WHERE request_id = $1 ORDER BY step, at`, requestID)
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
	return queryAll(t, scanGrant, q, args...)
}

// InsertGrant stores a new grant.
func (t *Tx) InsertGrant(g *approvals.Grant) error {
	_, err := t.exec(`INSERT INTO grants (`+grantCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
		g.ID, g.RequestID, g.Person, g.Resource, g.Provider, g.Group, string(g.State), g.Standing, g.Note, ms(g.CreatedAt), ms(g.UpdatedAt))
	return err
}

// GetGrant returns a grant by id.
func (t *Tx) GetGrant(id string) (*approvals.Grant, error) {
	g, err := scanGrant(t.queryRow(`SELECT `+grantCols+` FROM grants WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, approvals.ErrNotFound
	}
	return g, err
}

// GrantsOf returns the grants of a request.
func (t *Tx) GrantsOf(requestID string) ([]*approvals.Grant, error) {
	return t.queryGrants(`SELECT `+grantCols+` FROM grants WHERE request_id = $1 ORDER BY resource COLLATE "C"`, requestID)
}

// RequestLive reports whether a grant of the request is still live.
func (t *Tx) RequestLive(requestID string) (bool, error) {
	var live bool
	err := t.queryRow(`SELECT EXISTS (SELECT 1 FROM grants WHERE request_id = $1 AND state IN ('provisioning', 'active', 'revoking'))`, requestID).Scan(&live)
	return live, t.fail(err)
}

// UpdateGrant writes g when its stored state is still from.
func (t *Tx) UpdateGrant(g *approvals.Grant, from approvals.GrantState) error {
	return t.casExec(`UPDATE grants SET state=$1, standing=$2, note=$3, updated_at=$4 WHERE id=$5 AND state=$6`,
		string(g.State), g.Standing, g.Note, ms(g.UpdatedAt), g.ID, string(from))
}

// CoveringGrants returns the other live grants of the same membership.
func (t *Tx) CoveringGrants(m approvals.Membership, excludeID string) ([]*approvals.Grant, error) {
	return t.queryGrants(`SELECT `+grantCols+` FROM grants WHERE provider=$1 AND grp=$2 AND person=$3
		AND state IN ('provisioning', 'active') AND id <> $4 ORDER BY id COLLATE "C"`, m.Provider, m.Group, m.Person, excludeID)
}

// LiveGrants returns the provisioning and active grants of one group.
func (t *Tx) LiveGrants(provider, group string) ([]*approvals.Grant, error) {
	return t.queryGrants(`SELECT `+grantCols+` FROM grants WHERE provider=$1 AND grp=$2 AND state IN ('provisioning', 'active')
		ORDER BY person COLLATE "C"`, provider, group)
}

// LiveGroups lists the groups with live grants (the partial index
// grants_live) or membership records.
func (t *Tx) LiveGroups() ([]approvals.GroupRef, error) {
	return queryAll(t, func(s scanner) (approvals.GroupRef, error) {
		var g approvals.GroupRef
		err := s.Scan(&g.Provider, &g.Group)
		return g, err
	}, `SELECT provider, grp FROM (SELECT provider, grp FROM grants WHERE state IN ('provisioning', 'active')
		UNION SELECT provider, grp FROM memberships) g ORDER BY provider COLLATE "C", grp COLLATE "C"`)
}

func scanMembership(s scanner) (*approvals.MembershipRecord, error) {
	var (
		rec    approvals.MembershipRecord
		origin string
		since  int64
	)
	if err := s.Scan(&rec.Provider, &rec.Group, &rec.Person, &origin, &since); err != nil {
		return nil, err
	}
	rec.Origin, rec.Since = approvals.Origin(origin), fromMS(since)
	return &rec, nil
}

// GetMembership returns the bot's record of a membership.
func (t *Tx) GetMembership(m approvals.Membership) (*approvals.MembershipRecord, error) {
	rec, err := scanMembership(t.queryRow(`SELECT provider, grp, person, origin, since FROM memberships
		WHERE provider=$1 AND grp=$2 AND person=$3`, m.Provider, m.Group, m.Person))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, approvals.ErrNotFound
	}
	return rec, err
}

// Memberships lists the membership records of one group (drift reconciliation).
func (t *Tx) Memberships(provider, group string) ([]*approvals.MembershipRecord, error) {
	rows, err := t.query(`SELECT provider, grp, person, origin, since FROM memberships WHERE provider=$1 AND grp=$2
		ORDER BY person COLLATE "C"`, provider, group)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*approvals.MembershipRecord
	for rows.Next() {
		rec, err := scanMembership(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// InsertMembership records a membership the bot manages unless a record
// of it exists: a record is never overwritten. It reports whether it
// inserted.
func (t *Tx) InsertMembership(rec *approvals.MembershipRecord) (bool, error) {
	tag, err := t.exec(`INSERT INTO memberships (provider, grp, person, origin, since) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT (provider, grp, person) DO NOTHING`,
		rec.Provider, rec.Group, rec.Person, string(rec.Origin), ms(rec.Since))
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// DeleteMembership forgets a membership.
func (t *Tx) DeleteMembership(m approvals.Membership) error {
	_, err := t.exec(`DELETE FROM memberships WHERE provider=$1 AND grp=$2 AND person=$3`, m.Provider, m.Group, m.Person)
	return err
}

const jobCols = `id, kind, lane, job_key, request_id, grant_id, ref, note, attempts, run_at, last_error, claims`

func scanJob(s scanner) (*approvals.Job, error) {
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

func collectJobs(rows pgx.Rows) ([]*approvals.Job, error) {
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

// EnqueueJob adds an outbox job; j.ID is set. A coalescing job is folded
// into the newest pending job of its kind and key that no worker holds. The
// outer WHERE repeats the conditions so that a claim committed between the
// lookup and the update (another replica's) is seen: the job is then
// queued anew instead of being folded into one already running.
func (t *Tx) EnqueueJob(j *approvals.Job) error {
	if j.Lane == "" {
		return errors.New("postgres: a job needs a lane")
	}
	now := ms(t.db.now())
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
		ORDER BY j.run_at, j.id LIMIT $7 FOR UPDATE SKIP LOCKED) RETURNING `+jobCols,
		owner, ms(leaseUntil), ms(t.db.now()), string(lane), ms(now), skip, limit)
	if err != nil {
		return nil, t.fail(err)
	}
	out, err := collectJobs(rows)
	if err != nil {
		return nil, t.fail(err)
	}
	sortJobs(out)
	return out, nil
}

func sortJobs(js []*approvals.Job) {
	for i := 1; i < len(js); i++ {
		for k := i; k > 0 && jobBefore(js[k], js[k-1]); k-- {
			js[k], js[k-1] = js[k-1], js[k]
		}
	}
}

func jobBefore(a, b *approvals.Job) bool {
	if !a.RunAt.Equal(b.RunAt) {
		return a.RunAt.Before(b.RunAt)
	}
	return a.ID < b.ID
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

// PendingJobs returns every pending job of a lane ("" for all), oldest
// first (tests and the CLI).
func (t *Tx) PendingJobs(lane approvals.Lane) ([]*approvals.Job, error) {
	rows, err := t.query(`SELECT `+jobCols+` FROM jobs WHERE state = 'pending' AND ($1 = '' OR lane = $1) ORDER BY id`, string(lane))
	if err != nil {
		return nil, err
	}
	return collectJobs(rows)
}

// CompleteJob marks a job done. Completing a job that is not pending is a conflict.
func (t *Tx) CompleteJob(id int64) error {
	return t.jobExec(`UPDATE jobs SET state='done', lease_owner='', lease_until=0, updated_at=$1 WHERE id=$2 AND state='pending'`, ms(t.db.now()), id)
}

// HoldsJob reports whether job id is pending with the given claim count,
// and locks its row until the transaction ends so no claim slips between
// the answer and what the caller records on it.
func (t *Tx) HoldsJob(id int64, claims int) (bool, error) {
	var n int
	err := t.queryRow(`SELECT claims FROM jobs WHERE id = $1 AND state = 'pending' FOR UPDATE`, id).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil && n == claims, t.fail(err)
}

// RetryJob schedules another attempt.
func (t *Tx) RetryJob(id int64, attempts int, runAt time.Time, lastErr string) error {
	return t.jobExec(`UPDATE jobs SET attempts=$1, run_at=$2, last_error=$3, lease_owner='', lease_until=0, updated_at=$4 WHERE id=$5 AND state='pending'`,
		attempts, ms(runAt), lastErr, ms(t.db.now()), id)
}

// DeferJob puts a job back until runAt without counting an attempt.
func (t *Tx) DeferJob(id int64, runAt time.Time, why string) error {
	return t.jobExec(`UPDATE jobs SET run_at=$1, last_error=$2, lease_owner='', lease_until=0, updated_at=$3 WHERE id=$4 AND state='pending'`,
		ms(runAt), why, ms(t.db.now()), id)
}

// FailJob gives up on a job.
func (t *Tx) FailJob(id int64, lastErr string) error {
	return t.jobExec(`UPDATE jobs SET state='failed', attempts=attempts+1, last_error=$1, lease_owner='', lease_until=0, updated_at=$2 WHERE id=$3 AND state='pending'`,
		lastErr, ms(t.db.now()), id)
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

// HurryDeferred makes lane's pending jobs put back for why due now.
func (t *Tx) HurryDeferred(lane approvals.Lane, why string, now time.Time) (int, error) {
	tag, err := t.exec(`UPDATE jobs SET run_at = $1, updated_at = $2 WHERE lane = $3 AND state = 'pending' AND run_at > $1 AND last_error = $4`,
		ms(now), ms(t.db.now()), string(lane), why)
	return int(tag.RowsAffected()), err
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

// HurryGrantJobs makes a grant's pending jobs due now.
func (t *Tx) HurryGrantJobs(grantID string, now time.Time) error {
	_, err := t.exec(`UPDATE jobs SET run_at = $1, updated_at = $2 WHERE grant_id = $3 AND grant_id <> '' AND state = 'pending' AND run_at > $1`,
		ms(now), ms(t.db.now()), grantID)
	return err
}

// DueActive returns active requests whose time is up (partial index requests_due_active).
func (t *Tx) DueActive(now time.Time, limit int) ([]*approvals.Request, error) {
	return t.queryRequests(`SELECT `+requestCols+` FROM requests WHERE state = 'active' AND ends_at <= $1 ORDER BY ends_at LIMIT $2`, ms(now), limit)
}

// DueStarted returns approved requests whose clock started (a bundle's
// first membership is in) and whose time is up.
func (t *Tx) DueStarted(now time.Time, limit int) ([]*approvals.Request, error) {
	return t.queryRequests(`SELECT `+requestCols+` FROM requests WHERE state = 'approved' AND ends_at > 0 AND ends_at <= $1 ORDER BY ends_at LIMIT $2`, ms(now), limit)
}

// DuePending returns pending requests past their TTL.
func (t *Tx) DuePending(now time.Time, limit int) ([]*approvals.Request, error) {
	return t.queryRequests(`SELECT `+requestCols+` FROM requests WHERE state = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2`, ms(now), limit)
}

// DueReminders returns pending requests whose approvers should be reminded.
func (t *Tx) DueReminders(now time.Time, limit int) ([]*approvals.Request, error) {
	return t.queryRequests(`SELECT `+requestCols+` FROM requests WHERE state = 'pending' AND NOT reminded AND remind_at <= $1 ORDER BY remind_at LIMIT $2`, ms(now), limit)
}

// DueWarnings returns active requests whose requester should be warned.
func (t *Tx) DueWarnings(now time.Time, limit int) ([]*approvals.Request, error) {
	return t.queryRequests(`SELECT `+requestCols+` FROM requests WHERE state = 'active' AND NOT warned AND warn_at <= $1 ORDER BY warn_at LIMIT $2`, ms(now), limit)
}

// NextDeadline returns the earliest request deadline of any kind; each
// term is one lookup in a partial index.
func (t *Tx) NextDeadline() (time.Time, bool, error) {
	var v *int64
	err := t.queryRow(`SELECT least(
		(SELECT min(ends_at) FROM requests WHERE state = 'active'),
		(SELECT min(ends_at) FROM requests WHERE state = 'approved' AND ends_at > 0),
		(SELECT min(warn_at) FROM requests WHERE state = 'active' AND NOT warned),
		(SELECT min(expires_at) FROM requests WHERE state = 'pending'),
		(SELECT min(remind_at) FROM requests WHERE state = 'pending' AND NOT reminded))`).Scan(&v)
	if err != nil || v == nil {
		return time.Time{}, false, err
	}
	return fromMS(*v), true, nil
}

// Append seals e onto the audit chain. The transaction holds the head row
// (serialise), so no other replica appends between the read of the head
// and the write of the new one.
func (t *Tx) Append(e *approvals.Event) error {
	if t.readOnly {
		return errors.New("postgres: append in a read transaction")
	}
	if err := t.serialise(); err != nil {
		return err
	}
	e.Seq = t.headSeq + 1
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	if e.Time.IsZero() {
		e.Time = t.db.now()
	}
	audit.Seal(t.headHash, e)
	data := e.Data
	if data == nil {
		data = map[string]string{}
	}
	if _, err := t.tx.Exec(t.ctx, `INSERT INTO audit_events (seq, id, time, actor, action, subject, resource, request_id, grant_id,
		reason, rule, correlation_id, data, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)`,
		e.Seq, e.ID, ms(e.Time), e.Actor, e.Action, e.Subject, e.Resource, e.RequestID, e.GrantID, e.Reason,
		e.Rule, e.CorrelationID, jsonText(data), e.PrevHash, e.Hash); err != nil {
		return t.fail(err)
	}
	t.headSeq, t.headHash, t.appended = e.Seq, e.Hash, true
	return nil
}

// finish writes the new chain head, once per transaction, before commit.
func (t *Tx) finish() error {
	if !t.appended {
		return nil
	}
	_, err := t.tx.Exec(t.ctx, `UPDATE audit_head SET seq = $1, hash = $2`, t.headSeq, t.headHash)
	return t.fail(err)
}
