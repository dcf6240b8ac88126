package sqlstore

import (
	"encoding/json"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

// Incidents (approvals.IncidentTx): how a request was filed, delegations,
// and the reviews of break-glass grants. Side tables, migration 0006 on
// both engines.

// InsertFiling records how a request was filed.
func (t *Tx) InsertFiling(f *approvals.Filing) error {
	_, err := t.exec(`INSERT INTO request_filings (request_id, requester, filer, break_glass, created_at) VALUES (?,?,?,?,?)`,
		f.RequestID, f.Requester, f.Filer, f.BreakGlass, ms(f.CreatedAt))
	return err
}

// GetFiling returns how request id was filed; ErrNotFound when plainly.
func (t *Tx) GetFiling(id string) (*approvals.Filing, error) {
	f := &approvals.Filing{}
	var at int64
	err := t.queryRow(`SELECT request_id, requester, filer, break_glass, created_at FROM request_filings WHERE request_id = ?`, id).
		Scan(&f.RequestID, &f.Requester, &f.Filer, &f.BreakGlass, &at)
	if noRows(err) {
		return nil, approvals.ErrNotFound
	}
	f.CreatedAt = fromMS(at)
	return f, err
}

// BreakGlassUses counts person's break-glass requests since a time.
func (t *Tx) BreakGlassUses(person string, since time.Time) (int, error) {
	var n int
	err := t.queryRow(`SELECT count(*) FROM request_filings WHERE requester = ? AND break_glass = true AND created_at >= ?`,
		person, ms(since)).Scan(&n)
	return n, err
}

// PutDelegation records d, replacing the person's delegation.
func (t *Tx) PutDelegation(d *approvals.Delegation) error {
	_, err := t.exec(`INSERT INTO delegations (person, delegate, until, created_at) VALUES (?,?,?,?)
		ON CONFLICT (person) DO UPDATE SET delegate = excluded.delegate, until = excluded.until, created_at = excluded.created_at`,
		d.Person, d.Delegate, ms(d.Until), ms(d.CreatedAt))
	return err
}

// DeleteDelegation ends person's delegation, if any.
func (t *Tx) DeleteDelegation(person string) error {
	_, err := t.exec(`DELETE FROM delegations WHERE person = ?`, person)
	return err
}

const delegationCols = `person, delegate, until, created_at`

func scanDelegation(s Scanner) (*approvals.Delegation, error) {
	d := &approvals.Delegation{}
	var until, at int64
	if err := s.Scan(&d.Person, &d.Delegate, &until, &at); err != nil {
		return nil, err
	}
	d.Until, d.CreatedAt = fromMS(until), fromMS(at)
	return d, nil
}

// DelegationOf returns person's delegation; ErrNotFound when none.
func (t *Tx) DelegationOf(person string) (*approvals.Delegation, error) {
	return orNotFound(scanDelegation(t.queryRow(`SELECT `+delegationCols+` FROM delegations WHERE person = ?`, person)))
}

// DelegationsTo returns the delegations to delegate.
func (t *Tx) DelegationsTo(delegate string) ([]*approvals.Delegation, error) {
	return queryAll(t, scanDelegation, `SELECT `+delegationCols+` FROM delegations WHERE delegate = ? ORDER BY person`, delegate)
}

// InsertBreakGlassReview records the review of a break-glass grant.
func (t *Tx) InsertBreakGlassReview(v *approvals.BreakGlassReview) error {
	_, err := t.exec(`INSERT INTO breakglass_reviews (request_id, reviewers, state, due_at, escalated, answered_by, reason, answered_at, version)
		VALUES (?,?,?,?,?,?,?,?,?)`,
		v.RequestID, jsonText(v.Reviewers), string(v.State), ms(v.DueAt), v.Escalated, v.AnsweredBy, v.Reason, ms(v.AnsweredAt), v.Version)
	return err
}

// GetBreakGlassReview returns the review of request id; ErrNotFound when none.
func (t *Tx) GetBreakGlassReview(id string) (*approvals.BreakGlassReview, error) {
	v := &approvals.BreakGlassReview{}
	var reviewers, state string
	var due, answered int64
	err := t.queryRow(`SELECT request_id, reviewers, state, due_at, escalated, answered_by, reason, answered_at, version
		FROM breakglass_reviews WHERE request_id = ?`, id).
		Scan(&v.RequestID, &reviewers, &state, &due, &v.Escalated, &v.AnsweredBy, &v.Reason, &answered, &v.Version)
	if noRows(err) {
		return nil, approvals.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	v.State, v.DueAt, v.AnsweredAt = approvals.BreakGlassState(state), fromMS(due), fromMS(answered)
	return v, json.Unmarshal([]byte(reviewers), &v.Reviewers)
}

// UpdateBreakGlassReview writes v when its stored version is v.Version.
func (t *Tx) UpdateBreakGlassReview(v *approvals.BreakGlassReview) error {
	return bumped(&v.Version, t.casExec(`UPDATE breakglass_reviews SET reviewers=?, state=?, due_at=?, escalated=?, answered_by=?, reason=?, answered_at=?,
		version=version+1 WHERE request_id=? AND version=?`,
		jsonText(v.Reviewers), string(v.State), ms(v.DueAt), v.Escalated, v.AnsweredBy, v.Reason, ms(v.AnsweredAt), v.RequestID, v.Version))
}
