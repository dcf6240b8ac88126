package store

import (
	"database/sql"
	"errors"

	"github.com/jitbot/jitbot/approvals"
)

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

// InsertMembership records a membership the bot manages, unless a record
// of it exists: a record is never overwritten, so bot never becomes
// standing (nor the reverse) behind the engine's back.
func (t *Tx) InsertMembership(rec *approvals.MembershipRecord) (bool, error) {
	res, err := t.exec(`INSERT INTO memberships (provider, grp, person, origin, since) VALUES (?,?,?,?,?)
		ON CONFLICT (provider, grp, person) DO NOTHING`,
		rec.Provider, rec.Group, rec.Person, string(rec.Origin), ms(rec.Since))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
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

// LiveGroups lists the groups with live grants (read from the partial
// index grants_live) or membership records.
func (t *Tx) LiveGroups() ([]approvals.GroupRef, error) {
	return queryAll(t, scanGroupRef, `SELECT provider, grp FROM grants WHERE state IN ('provisioning', 'active')
		UNION SELECT provider, grp FROM memberships ORDER BY 1, 2`)
}

func scanGroupRef(s scanner) (approvals.GroupRef, error) {
	var g approvals.GroupRef
	err := s.Scan(&g.Provider, &g.Group)
	return g, err
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
