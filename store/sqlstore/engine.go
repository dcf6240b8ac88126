package sqlstore

import (
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

// The approvals engine's persistence: requests, decisions, grants and the
// memberships the bot manages (schema in each engine's migration 0001).

// RequestCols are the requests table's columns in scanRequest's order.
const RequestCols = `id, requester, resource, admin, duration_ms, reason, ticket, rule, steps, current_step,
	notify, allow_self, auto_approved, extends_id, correlation_id, state, state_reason, decided_by,
	created_at, expires_at, remind_at, reminded, decided_at, starts_at, ends_at, warn_at, warned, ended_at, version, allow_repeat`

func scanRequest(s Scanner) (*approvals.Request, error) {
	var (
		r                                                            approvals.Request
		durMS                                                        int64
		steps, notify, state                                         string
		created, expires, remind, decided, starts, ends, warn, ended int64
	)
	err := s.Scan(&r.ID, &r.Requester, &r.Resource, &r.Admin, &durMS, &r.Reason, &r.Ticket, &r.Rule, &steps,
		&r.CurrentStep, &notify, &r.AllowSelf, &r.AutoApproved, &r.ExtendsID, &r.CorrelationID, &state, &r.StateReason,
		&r.DecidedBy, &created, &expires, &remind, &r.Reminded, &decided, &starts, &ends, &warn, &r.Warned, &ended, &r.Version, &r.AllowRepeat)
	if err != nil {
		return nil, err
	}
	r.Duration = time.Duration(durMS) * time.Millisecond
	r.State = approvals.State(state)
	r.CreatedAt, r.ExpiresAt, r.RemindAt, r.DecidedAt = fromMS(created), fromMS(expires), fromMS(remind), fromMS(decided)
	r.StartsAt, r.EndsAt, r.WarnAt, r.EndedAt = fromMS(starts), fromMS(ends), fromMS(warn), fromMS(ended)
	return &r, fromJSON(steps, &r.Steps, notify, &r.Notify)
}

// GetRequest returns a request by id, or by an unambiguous prefix of at
// least 8 characters (the short form people see).
func (t *Tx) GetRequest(id string) (*approvals.Request, error) {
	return byID(t, "requests", RequestCols, scanRequest, id)
}

// InsertRequest stores a new request.
func (t *Tx) InsertRequest(r *approvals.Request) error {
	notify := r.Notify
	if notify == nil {
		notify = []string{}
	}
	_, err := t.exec(`INSERT INTO requests (`+RequestCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
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
func (t *Tx) ListRequests(rf approvals.RequestFilter) ([]*approvals.Request, error) {
	var f filter
	if rf.Requester != "" {
		f.add("requester = ?", strings.ToLower(rf.Requester))
	}
	states := rf.States
	if rf.Approver != "" {
		states = []approvals.State{approvals.StatePending}
	}
	in(&f, "state", states)
	rs, err := queryAll(t, scanRequest, f.sql(`SELECT `+RequestCols+` FROM requests`, `created_at DESC, id COLLATE "C"`, 0), f.args...)
	if err != nil {
		return nil, err
	}
	if rf.Approver != "" {
		me := strings.ToLower(rf.Approver)
		kept := rs[:0]
		for _, r := range rs {
			if !slices.Contains(r.Steps[r.CurrentStep].Approvers, me) || (me == r.Requester && !r.AllowSelf) {
				continue
			}
			if r.CurrentStep > 0 && !r.AllowRepeat {
				// One person is never two approvers: who approved an
				// earlier step does not see the later one as theirs.
				var approved bool
				if err := t.queryRow(`SELECT EXISTS (SELECT 1 FROM decisions WHERE request_id = ? AND approver = ? AND step < ? AND approve)`,
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
	if rf.Limit > 0 && len(rs) > rf.Limit {
		rs = rs[:rf.Limit]
	}
	return rs, nil
}

// InsertDecision records one approver's answer on one step. A second answer
// of the same approver on the same step is ErrDuplicate; the statement does
// not abort the transaction (ON CONFLICT), so the caller may go on.
func (t *Tx) InsertDecision(d *approvals.Decision) error {
	n, err := t.exec(`INSERT INTO decisions (request_id, step, approver, approve, reason, at) VALUES (?,?,?,?,?,?)
		ON CONFLICT (request_id, step, approver) DO NOTHING`,
		d.RequestID, d.Step, d.Approver, d.Approve, d.Reason, ms(d.At))
	if err == nil && n == 0 {
		return approvals.ErrDuplicate
	}
	return err
}

// Decisions returns every decision on a request in step order.
func (t *Tx) Decisions(requestID string) ([]*approvals.Decision, error) {
	return queryAll(t, func(s Scanner) (*approvals.Decision, error) {
		var (
			d  approvals.Decision
			at int64
		)
		err := s.Scan(&d.RequestID, &d.Step, &d.Approver, &d.Approve, &d.Reason, &at)
		d.At = fromMS(at)
		return &d, err
	}, `SELECT request_id, step, approver, approve, reason, at FROM decisions WHERE request_id = ? ORDER BY step, at`, requestID)
}

const grantCols = `id, request_id, person, resource, provider, grp, state, standing, note, created_at, updated_at`

func scanGrant(s Scanner) (*approvals.Grant, error) {
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

// InsertGrant stores a new grant.
func (t *Tx) InsertGrant(g *approvals.Grant) error {
	_, err := t.exec(`INSERT INTO grants (`+grantCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		g.ID, g.RequestID, g.Person, g.Resource, g.Provider, g.Group, string(g.State), g.Standing, g.Note, ms(g.CreatedAt), ms(g.UpdatedAt))
	return err
}

// GetGrant returns a grant by id.
func (t *Tx) GetGrant(id string) (*approvals.Grant, error) {
	g, err := scanGrant(t.queryRow(`SELECT `+grantCols+` FROM grants WHERE id = ?`, id))
	if noRows(err) {
		return nil, approvals.ErrNotFound
	}
	return g, err
}

// GrantsOf returns the grants of a request.
func (t *Tx) GrantsOf(requestID string) ([]*approvals.Grant, error) {
	return queryAll(t, scanGrant, `SELECT `+grantCols+` FROM grants WHERE request_id = ? ORDER BY resource COLLATE "C"`, requestID)
}

// RequestLive reports whether a grant of the request is still live.
func (t *Tx) RequestLive(requestID string) (bool, error) {
	var live bool
	err := t.queryRow(`SELECT EXISTS (SELECT 1 FROM grants WHERE request_id = ? AND state IN ('provisioning', 'active', 'revoking'))`, requestID).Scan(&live)
	return live, err
}

// UpdateGrant writes g when its stored state is still from.
func (t *Tx) UpdateGrant(g *approvals.Grant, from approvals.GrantState) error {
	return t.casExec(`UPDATE grants SET state=?, standing=?, note=?, updated_at=? WHERE id=? AND state=?`,
		string(g.State), g.Standing, g.Note, ms(g.UpdatedAt), g.ID, string(from))
}

// CoveringGrants returns the other live grants of the same membership, by
// id (sorted here: asked to order them, SQLite reads more than the few
// rows of grants_live).
func (t *Tx) CoveringGrants(m approvals.Membership, excludeID string) ([]*approvals.Grant, error) {
	gs, err := queryAll(t, scanGrant, `SELECT `+grantCols+` FROM grants INDEXED BY grants_live WHERE provider=? AND grp=? AND person=?
		AND state IN ('provisioning', 'active') AND id <> ?`, m.Provider, m.Group, m.Person, excludeID)
	slices.SortFunc(gs, func(a, b *approvals.Grant) int { return strings.Compare(a.ID, b.ID) })
	return gs, err
}

// Revoking reports whether a grant of m is being revoked.
func (t *Tx) Revoking(m approvals.Membership) (bool, error) {
	gs, err := queryAll(t, func(s Scanner) (int, error) {
		var n int
		err := s.Scan(&n)
		return n, err
	}, `SELECT count(*) FROM grants WHERE provider=? AND grp=? AND person=? AND state = 'revoking'`, m.Provider, m.Group, m.Person)
	return err == nil && len(gs) == 1 && gs[0] > 0, err
}

// LiveGrants returns the provisioning and active grants of one group.
func (t *Tx) LiveGrants(provider, group string) ([]*approvals.Grant, error) {
	return queryAll(t, scanGrant, `SELECT `+grantCols+` FROM grants WHERE provider=? AND grp=? AND state IN ('provisioning', 'active')
		ORDER BY person COLLATE "C"`, provider, group)
}

// LiveGroups lists the groups with live grants (the partial index
// grants_live) or membership records.
func (t *Tx) LiveGroups() ([]approvals.GroupRef, error) {
	return queryAll(t, func(s Scanner) (approvals.GroupRef, error) {
		var g approvals.GroupRef
		err := s.Scan(&g.Provider, &g.Group)
		return g, err
	}, `SELECT provider, grp FROM (SELECT provider, grp FROM grants WHERE state IN ('provisioning', 'active')
		UNION SELECT provider, grp FROM memberships) g ORDER BY provider COLLATE "C", grp COLLATE "C"`)
}

func scanMembership(s Scanner) (*approvals.MembershipRecord, error) {
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
		WHERE provider=? AND grp=? AND person=?`, m.Provider, m.Group, m.Person))
	if noRows(err) {
		return nil, approvals.ErrNotFound
	}
	return rec, err
}

// Memberships lists the membership records of one group (drift reconciliation).
func (t *Tx) Memberships(provider, group string) ([]*approvals.MembershipRecord, error) {
	return queryAll(t, scanMembership, `SELECT provider, grp, person, origin, since FROM memberships WHERE provider=? AND grp=?
		ORDER BY person COLLATE "C"`, provider, group)
}

// InsertMembership records a membership the bot manages, unless a record
// of it exists: a record is never overwritten, so bot never becomes
// standing (nor the reverse) behind the engine's back. It reports whether
// it inserted.
func (t *Tx) InsertMembership(rec *approvals.MembershipRecord) (bool, error) {
	n, err := t.exec(`INSERT INTO memberships (provider, grp, person, origin, since) VALUES (?,?,?,?,?)
		ON CONFLICT (provider, grp, person) DO NOTHING`,
		rec.Provider, rec.Group, rec.Person, string(rec.Origin), ms(rec.Since))
	return n == 1, err
}

// DeleteMembership forgets a membership.
func (t *Tx) DeleteMembership(m approvals.Membership) error {
	_, err := t.exec(`DELETE FROM memberships WHERE provider=? AND grp=? AND person=?`, m.Provider, m.Group, m.Person)
	return err
}
