package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
)

var _ audit.Source = (*Store)(nil)

// Events streams audit events in chain order. One Event value is reused
// for every row, so memory stays flat however long the chain is.
func (s *Store) Events(ctx context.Context, since, until time.Time, fn func(e *approvals.Event) error) error {
	return s.EventsIn(ctx, s.Read, since, until, fn)
}

// EventsIn is Events read from q: db copy verifies the chain it wrote in
// its own transaction before it commits.
func (s *Store) EventsIn(ctx context.Context, q Querier, since, until time.Time, fn func(e *approvals.Event) error) error {
	var f filter
	if !since.IsZero() {
		f.add("time >= ?", since.UnixMilli())
	}
	if !until.IsZero() {
		f.add("time < ?", until.UnixMilli())
	}
	rows, err := dq{ctx, q, s.D}.query(f.sql(`SELECT seq, id, time, actor, action, subject, resource, request_id, grant_id, reason, rule,
		correlation_id, data, prev_hash, hash FROM audit_events`, "seq", 0), f.args...)
	if err != nil {
		return s.Explain(err)
	}
	defer rows.Close()
	var (
		e    approvals.Event
		at   int64
		data []byte
	)
	for rows.Next() {
		if err := rows.Scan(&e.Seq, &e.ID, &at, &e.Actor, &e.Action, &e.Subject, &e.Resource, &e.RequestID,
			&e.GrantID, &e.Reason, &e.Rule, &e.CorrelationID, &data, &e.PrevHash, &e.Hash); err != nil {
			return err
		}
		e.Time = fromMS(at)
		e.Data = nil
		if len(data) > 2 {
			if err := json.Unmarshal(data, &e.Data); err != nil {
				return fmt.Errorf("audit event %d: data is not JSON: %w", e.Seq, err)
			}
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Head returns the newest event's sequence number and hash.
func (s *Store) Head(ctx context.Context) (audit.Anchor, error) {
	var a audit.Anchor
	err := s.read(ctx).queryRow(`SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&a.Seq, &a.Hash)
	if noRows(err) {
		return audit.Anchor{Hash: audit.GenesisHash}, nil
	}
	return a, err
}

// accessQuery reads grants with their request and the times the chain
// gives them; JSON is the dialect's reading of a key of a JSON column.
func (s *Store) accessQuery() string {
	job := s.D.JSON("a.data", "job")
	return `SELECT g.id, g.request_id, g.person, g.resource, r.resource, r.reason, r.ticket, r.rule,
	r.auto_approved, r.extends_id, r.state, r.state_reason, r.ends_at, g.standing, g.note, r.created_at, r.duration_ms,
	coalesce((SELECT min(time) FROM audit_events a WHERE a.grant_id = g.id AND a.action = 'grant.provisioned'), 0),
	coalesce((SELECT min(time) FROM audit_events a WHERE a.grant_id = g.id AND (a.action IN ('grant.removed', 'grant.kept')
		OR (a.action = 'grant.failed' AND coalesce(` + job + `, '') <> 'revoke'))), 0),
	EXISTS (SELECT 1 FROM audit_events a WHERE a.grant_id = g.id AND a.action = 'grant.failed' AND ` + job + ` = 'revoke')
	FROM grants g JOIN requests r ON r.id = g.request_id`
}

type accessRow struct {
	audit.Access
	state, stateReason, note string
	auto                     bool
	removalFailed            bool // the bot gave up removing the membership
	filed                    time.Time
	duration                 time.Duration
}

func (s *Store) accessRows(ctx context.Context, where string, args ...any) ([]accessRow, error) {
	out, err := queryAll(s.read(ctx), func(r Scanner) (accessRow, error) {
		var (
			a                        accessRow
			ends, created, from, til int64
			durMS                    int64
		)
		err := r.Scan(&a.GrantID, &a.RequestID, &a.Person, &a.Resource, &a.Requested, &a.Reason, &a.Ticket,
			&a.Rule, &a.auto, &a.ExtendsID, &a.state, &a.stateReason, &ends, &a.Standing, &a.note, &created, &durMS,
			&from, &til, &a.removalFailed)
		a.PlannedUntil, a.filed, a.From, a.Until = fromMS(ends), fromMS(created), fromMS(from), fromMS(til)
		a.duration = time.Duration(durMS) * time.Millisecond
		return a, err
	}, s.accessQuery()+" WHERE "+where+` ORDER BY r.created_at, g.resource COLLATE "C"`, args...)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if err := s.explainAccess(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// explainAccess fills who approved and how the grant ended.
func (s *Store) explainAccess(ctx context.Context, a *accessRow) error {
	if a.auto {
		a.ApprovedBy = []string{"auto-approved by rule " + a.Rule}
	} else {
		who, err := queryAll(s.read(ctx), scanString, `SELECT approver FROM decisions WHERE request_id = ? AND approve ORDER BY step, at`, a.RequestID)
		if err != nil {
			return err
		}
		a.ApprovedBy = append(a.ApprovedBy, who...)
	}
	if a.Until.IsZero() {
		if a.removalFailed {
			// The bot could not take the membership away: the evidence must
			// not claim the access ended, so it stays open (Until zero).
			a.Ended = "removal failed: " + a.note + "; the membership may still be there"
		}
		return nil
	}
	var actor, action, reason string
	err := s.read(ctx).queryRow(`SELECT actor, action, reason FROM audit_events WHERE request_id = ?
		AND action IN ('request.expired', 'request.revoked', 'request.released', 'request.failed') ORDER BY seq LIMIT 1`, a.RequestID).Scan(&actor, &action, &reason)
	switch {
	case noRows(err):
		a.Ended = a.note
	case err != nil:
		return err
	default:
		how := strings.TrimPrefix(action, "request.")
		if action == "request.revoked" || action == "request.released" {
			how += " by " + actor
		}
		if reason != "" && action != "request.expired" {
			how += ": " + reason
		}
		if a.note != "" && a.note != "removed" {
			how += "; " + a.note
		}
		a.Ended = how
	}
	return nil
}

// AccessAt returns the grants that covered resource (a leaf, or a bundle's
// requests) at time at.
func (s *Store) AccessAt(ctx context.Context, resource string, at time.Time) ([]audit.Access, error) {
	rows, err := s.accessRows(ctx, "(g.resource = ? OR r.resource = ?)", resource, resource)
	if err != nil {
		return nil, err
	}
	var out []audit.Access
	for _, r := range rows {
		if r.ActiveAt(at) {
			out = append(out, r.Access)
		}
	}
	return out, nil
}

// PersonHistory returns every request, grant, review answer and suspension
// of one person.
func (s *Store) PersonHistory(ctx context.Context, email string) (*audit.PersonReport, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	rep := &audit.PersonReport{Email: email}
	var err error
	rep.Requests, err = queryAll(s.read(ctx), func(r Scanner) (audit.PersonRequest, error) {
		var (
			q       audit.PersonRequest
			created int64
			durMS   int64
			auto    bool
		)
		err := r.Scan(&q.RequestID, &q.Resource, &q.State, &created, &durMS, &q.Reason, &q.Ticket, &q.Rule, &auto, &q.Outcome)
		q.Filed, q.Duration = fromMS(created), time.Duration(durMS)*time.Millisecond
		return q, err
	}, `SELECT id, resource, state, created_at, duration_ms, reason, ticket, rule, auto_approved, state_reason
		FROM requests WHERE requester = ? ORDER BY created_at`, email)
	if err != nil {
		return nil, err
	}
	grants, err := s.accessRows(ctx, "g.person = ?", email)
	if err != nil {
		return nil, err
	}
	for i := range rep.Requests {
		q := &rep.Requests[i]
		for _, g := range grants {
			if g.RequestID == q.RequestID {
				q.Grants = append(q.Grants, g.Access)
				q.ApprovedBy = g.ApprovedBy
			}
		}
		if q.ApprovedBy == nil {
			q.ApprovedBy, err = queryAll(s.read(ctx), func(r Scanner) (string, error) {
				var (
					a  string
					ok bool
				)
				err := r.Scan(&a, &ok)
				if !ok {
					a += " (declined)"
				}
				return a, err
			}, `SELECT approver, approve FROM decisions WHERE request_id = ? ORDER BY step, at`, q.RequestID)
			if err != nil {
				return nil, err
			}
		}
	}
	rep.Other, err = queryAll(s.read(ctx), func(r Scanner) (audit.OtherEvent, error) {
		var (
			o  audit.OtherEvent
			at int64
		)
		err := r.Scan(&at, &o.Actor, &o.Action, &o.Reason)
		o.Time = fromMS(at)
		return o, err
	}, `SELECT time, actor, action, reason FROM audit_events
		WHERE subject = ? AND request_id = '' AND action NOT IN ('request.refused') ORDER BY seq`, email)
	if err != nil {
		return nil, err
	}
	return rep, nil
}
