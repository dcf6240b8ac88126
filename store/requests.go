package store

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	sqlite3 "github.com/mattn/go-sqlite3"
)

const requestCols = `id, requester, resource, admin, duration_ms, reason, ticket, rule, steps, current_step,
	notify, allow_self, auto_approved, extends_id, correlation_id, state, state_reason, decided_by,
	created_at, expires_at, remind_at, reminded, decided_at, starts_at, ends_at, warn_at, warned, ended_at, version, allow_repeat`

func scanRequest(s scanner) (*approvals.Request, error) {
	var (
		r                                                            approvals.Request
		durMS                                                        int64
		steps, notify, state                                         string
		created, expires, remind, decided, starts, ends, warn, ended int64
		admin, allowSelf, auto, reminded, warned, allowRepeat        bool
	)
	err := s.Scan(&r.ID, &r.Requester, &r.Resource, &admin, &durMS, &r.Reason, &r.Ticket, &r.Rule, &steps,
		&r.CurrentStep, &notify, &allowSelf, &auto, &r.ExtendsID, &r.CorrelationID, &state, &r.StateReason,
		&r.DecidedBy, &created, &expires, &remind, &reminded, &decided, &starts, &ends, &warn, &warned, &ended, &r.Version, &allowRepeat)
	if err != nil {
		return nil, err
	}
	r.Admin, r.AllowSelf, r.AutoApproved, r.Reminded, r.Warned, r.AllowRepeat = admin, allowSelf, auto, reminded, warned, allowRepeat
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
	return byID(t, "requests", requestCols, scanRequest, id)
}

func (t *Tx) queryRequests(q string, args ...any) ([]*approvals.Request, error) {
	return queryAll(t, scanRequest, q, args...)
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
	_, err := t.exec(`INSERT INTO requests (`+requestCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		r.ID, r.Requester, r.Resource, r.Admin, r.Duration.Milliseconds(), r.Reason, r.Ticket, r.Rule, jsonText(r.Steps),
		r.CurrentStep, jsonText(notify), r.AllowSelf, r.AutoApproved, r.ExtendsID, r.CorrelationID, string(r.State),
		r.StateReason, r.DecidedBy, ms(r.CreatedAt), ms(r.ExpiresAt), ms(r.RemindAt), r.Reminded, ms(r.DecidedAt),
		ms(r.StartsAt), ms(r.EndsAt), ms(r.WarnAt), r.Warned, ms(r.EndedAt), r.Version, r.AllowRepeat)
	return err
}

// UpdateRequest writes the mutable fields of r when the stored row still has
// state from and r's version. The steps are among them: escalation and
// delegation add approvers to a waiting step.
func (t *Tx) UpdateRequest(r *approvals.Request, from approvals.State) error {
	err := t.casExec(`UPDATE requests SET steps=?, current_step=?, auto_approved=?, state=?, state_reason=?, decided_by=?,
		reminded=?, decided_at=?, starts_at=?, ends_at=?, warn_at=?, warned=?, ended_at=?, version=version+1
		WHERE id=? AND state=? AND version=?`,
		jsonText(r.Steps), r.CurrentStep, r.AutoApproved, string(r.State), r.StateReason, r.DecidedBy, r.Reminded, ms(r.DecidedAt),
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
			if !slices.Contains(r.Steps[r.CurrentStep].Approvers, me) || (me == r.Requester && !r.AllowSelf) {
				continue
			}
			if r.CurrentStep > 0 && !r.AllowRepeat {
				// One person is never two approvers: who approved an
				// earlier step does not see the later one as theirs.
				var n int
				if err := t.queryRow(`SELECT count(*) FROM decisions WHERE request_id = ? AND approver = ? AND step < ? AND approve = 1`,
					r.ID, me, r.CurrentStep).Scan(&n); err != nil {
					return nil, err
				}
				if n > 0 {
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
