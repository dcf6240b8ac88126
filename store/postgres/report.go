package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
)

var _ audit.Source = (*DB)(nil)

// Events streams audit events in chain order. One Event value is reused
// for every row, so memory stays flat however long the chain is.
func (db *DB) Events(ctx context.Context, since, until time.Time, fn func(e *approvals.Event) error) error {
	return streamEvents(ctx, db.read, db.explain, since, until, fn)
}

// rowsQuerier is a pool or a transaction: where events are read from.
type rowsQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// txEvents is the audit.Source of one transaction: db copy verifies the
// chain it wrote before it commits.
type txEvents struct{ tx pgx.Tx }

func (s txEvents) Events(ctx context.Context, since, until time.Time, fn func(e *approvals.Event) error) error {
	return streamEvents(ctx, s.tx, func(err error) error { return err }, since, until, fn)
}

// streamEvents reads audit events from q in chain order, reusing one Event;
// explain words a failed query.
func streamEvents(ctx context.Context, q rowsQuerier, explain func(error) error, since, until time.Time, fn func(e *approvals.Event) error) error {
	query := `SELECT seq, id, time, actor, action, subject, resource, request_id, grant_id, reason, rule,
		correlation_id, data, prev_hash, hash FROM audit_events`
	var (
		where []string
		args  []any
	)
	if !since.IsZero() {
		args = append(args, since.UnixMilli())
		where = append(where, fmt.Sprintf("time >= $%d", len(args)))
	}
	if !until.IsZero() {
		args = append(args, until.UnixMilli())
		where = append(where, fmt.Sprintf("time < $%d", len(args)))
	}
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY seq"
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return explain(err)
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
func (db *DB) Head(ctx context.Context) (audit.Anchor, error) {
	var a audit.Anchor
	err := db.read.QueryRow(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&a.Seq, &a.Hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return audit.Anchor{Hash: audit.GenesisHash}, nil
	}
	return a, err
}

const accessQuery = `SELECT g.id, g.request_id, g.person, g.resource, r.resource, r.reason, r.ticket, r.rule,
	r.auto_approved, r.extends_id, r.state, r.state_reason, r.ends_at, g.standing, g.note, r.created_at, r.duration_ms,
	coalesce((SELECT min(time) FROM audit_events a WHERE a.grant_id = g.id AND a.action = 'grant.provisioned'), 0),
	coalesce((SELECT min(time) FROM audit_events a WHERE a.grant_id = g.id AND (a.action IN ('grant.removed', 'grant.kept')
		OR (a.action = 'grant.failed' AND coalesce(a.data::jsonb->>'job', '') <> 'revoke'))), 0),
	EXISTS (SELECT 1 FROM audit_events a WHERE a.grant_id = g.id AND a.action = 'grant.failed' AND a.data::jsonb->>'job' = 'revoke')
	FROM grants g JOIN requests r ON r.id = g.request_id`

type accessRow struct {
	audit.Access
	state, stateReason, note string
	auto                     bool
	removalFailed            bool // the bot gave up removing the membership
	filed                    time.Time
	duration                 time.Duration
}

func (db *DB) accessRows(ctx context.Context, where string, args ...any) ([]accessRow, error) {
	rows, err := db.read.Query(ctx, accessQuery+" WHERE "+where+" ORDER BY r.created_at, g.resource COLLATE \"C\"", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []accessRow
	for rows.Next() {
		var (
			a                        accessRow
			ends, created, from, til int64
			durMS                    int64
		)
		if err := rows.Scan(&a.GrantID, &a.RequestID, &a.Person, &a.Resource, &a.Requested, &a.Reason, &a.Ticket,
			&a.Rule, &a.auto, &a.ExtendsID, &a.state, &a.stateReason, &ends, &a.Standing, &a.note, &created, &durMS,
			&from, &til, &a.removalFailed); err != nil {
			return nil, err
		}
		a.PlannedUntil, a.filed, a.From, a.Until = fromMS(ends), fromMS(created), fromMS(from), fromMS(til)
		a.duration = time.Duration(durMS) * time.Millisecond
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if err := db.explainAccess(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// explainAccess fills who approved and how the grant ended.
func (db *DB) explainAccess(ctx context.Context, a *accessRow) error {
	if a.auto {
		a.ApprovedBy = []string{"auto-approved by rule " + a.Rule}
	} else {
		rows, err := db.read.Query(ctx, `SELECT approver FROM decisions WHERE request_id = $1 AND approve ORDER BY step, at`, a.RequestID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var who string
			if err := rows.Scan(&who); err != nil {
				rows.Close()
				return err
			}
			a.ApprovedBy = append(a.ApprovedBy, who)
		}
		rows.Close()
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
	err := db.read.QueryRow(ctx, `SELECT actor, action, reason FROM audit_events WHERE request_id = $1
		AND action IN ('request.expired', 'request.revoked', 'request.released', 'request.failed') ORDER BY seq LIMIT 1`, a.RequestID).Scan(&actor, &action, &reason)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
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
func (db *DB) AccessAt(ctx context.Context, resource string, at time.Time) ([]audit.Access, error) {
	rows, err := db.accessRows(ctx, "(g.resource = $1 OR r.resource = $1)", resource)
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
func (db *DB) PersonHistory(ctx context.Context, email string) (*audit.PersonReport, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	rep := &audit.PersonReport{Email: email}
	rs, err := db.read.Query(ctx, `SELECT id, resource, state, created_at, duration_ms, reason, ticket, rule, auto_approved, state_reason
		FROM requests WHERE requester = $1 ORDER BY created_at`, email)
	if err != nil {
		return nil, err
	}
	for rs.Next() {
		var (
			q       audit.PersonRequest
			created int64
			durMS   int64
			auto    bool
		)
		if err := rs.Scan(&q.RequestID, &q.Resource, &q.State, &created, &durMS, &q.Reason, &q.Ticket, &q.Rule, &auto, &q.Outcome); err != nil {
			rs.Close()
			return nil, err
		}
		q.Filed, q.Duration = fromMS(created), time.Duration(durMS)*time.Millisecond
		rep.Requests = append(rep.Requests, q)
	}
	rs.Close()
	grants, err := db.accessRows(ctx, "g.person = $1", email)
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
			var who []string
			rows, err := db.read.Query(ctx, `SELECT approver, approve FROM decisions WHERE request_id = $1 ORDER BY step, at`, q.RequestID)
			if err != nil {
				return nil, err
			}
			for rows.Next() {
				var (
					a  string
					ok bool
				)
				rows.Scan(&a, &ok)
				if ok {
					who = append(who, a)
				} else {
					who = append(who, a+" (declined)")
				}
			}
			rows.Close()
			q.ApprovedBy = who
		}
	}
	ev, err := db.read.Query(ctx, `SELECT time, actor, action, reason FROM audit_events
		WHERE subject = $1 AND request_id = '' AND action NOT IN ('request.refused') ORDER BY seq`, email)
	if err != nil {
		return nil, err
	}
	defer ev.Close()
	for ev.Next() {
		var (
			o  audit.OtherEvent
			at int64
		)
		if err := ev.Scan(&at, &o.Actor, &o.Action, &o.Reason); err != nil {
			return nil, err
		}
		o.Time = fromMS(at)
		rep.Other = append(rep.Other, o)
	}
	return rep, ev.Err()
}

// ResourceSeen reports whether any audit event names resource (a report on
// a resource jitbot never saw says so instead of listing nobody).
func (db *DB) ResourceSeen(ctx context.Context, resource string) (bool, error) {
	var seen bool
	err := db.read.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit_events WHERE resource = $1)`, resource).Scan(&seen)
	return seen, err
}
