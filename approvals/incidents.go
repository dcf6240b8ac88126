package approvals

import (
	"errors"
	"time"
)

// What incidents add to a request, kept beside it (keyed by its id) rather
// than in it: who filed it for the requester, whether it was a break-glass
// grant and its review after the fact; and the delegations of approvers.

// Filing is how a request was filed, recorded when it was not simply by
// its requester for approval: on behalf of the requester (Filer), or
// break-glass.
type Filing struct {
	RequestID  string
	Requester  string
	Filer      string // who filed it for the requester; "" when the requester did
	BreakGlass bool
	CreatedAt  time.Time
}

// Delegation says that while it holds (until Until), requests waiting on
// Person wait on Delegate too.
type Delegation struct {
	Person    string
	Delegate  string
	Until     time.Time
	CreatedAt time.Time
}

// BreakGlassState is the state of the review of a break-glass grant.
type BreakGlassState string

// Review states of a break-glass grant.
const (
	BreakGlassOpen         BreakGlassState = "open"
	BreakGlassAcknowledged BreakGlassState = "acknowledged"
	BreakGlassFlagged      BreakGlassState = "flagged"
)

// BreakGlassReview is the review after the fact of a break-glass grant.
type BreakGlassReview struct {
	RequestID  string
	Reviewers  []string // emails who may answer; grows when it escalates
	State      BreakGlassState
	DueAt      time.Time // unanswered then, it escalates
	Escalated  bool
	AnsweredBy string
	Reason     string // a Flag's reason
	AnsweredAt time.Time
	Version    int // the compare-and-set token
}

// IncidentTx is the persistence of incidents: an optional ability of a Tx
// (both stores have it). Without it, filing on behalf, delegation and
// break-glass are refused.
type IncidentTx interface {
	InsertFiling(f *Filing) error
	GetFiling(requestID string) (*Filing, error) // ErrNotFound when the requester filed it for approval
	// BreakGlassUses counts person's break-glass requests filed at or after since.
	BreakGlassUses(person string, since time.Time) (int, error)

	// PutDelegation records d, replacing person's delegation if any.
	PutDelegation(d *Delegation) error
	DeleteDelegation(person string) error
	DelegationOf(person string) (*Delegation, error) // ErrNotFound; may have run out
	// DelegationsTo returns the delegations to delegate, which may have run out.
	DelegationsTo(delegate string) ([]*Delegation, error)

	InsertBreakGlassReview(v *BreakGlassReview) error
	GetBreakGlassReview(requestID string) (*BreakGlassReview, error) // ErrNotFound
	// UpdateBreakGlassReview writes v if its stored version is still
	// v.Version (ErrConflict otherwise) and increments v.Version.
	UpdateBreakGlassReview(v *BreakGlassReview) error
}

// errNoIncidents refuses what needs IncidentTx on a store without it.
var errNoIncidents = Errorf(EInvalid, "this jitbot's store does not keep incidents (filing for others, delegation, break-glass)")

func incidentTx(tx Tx) (IncidentTx, error) {
	if it, ok := tx.(IncidentTx); ok {
		return it, nil
	}
	return nil, errNoIncidents
}

// filingOf returns how request id was filed; a zero Filing (but its id)
// when plainly.
func filingOf(tx Tx, id string) (*Filing, error) {
	it, ok := tx.(IncidentTx)
	if !ok {
		return &Filing{RequestID: id}, nil
	}
	f, err := it.GetFiling(id)
	if errors.Is(err, ErrNotFound) {
		return &Filing{RequestID: id}, nil
	}
	return f, err
}

// filerOf returns who filed request id for its requester, "" when nobody.
func filerOf(tx Tx, id string) (string, error) {
	f, err := filingOf(tx, id)
	if err != nil {
		return "", err
	}
	return f.Filer, nil
}

// recordFiling records how r was filed, when on behalf or break-glass.
func (s *Service) recordFiling(tx Tx, r *Request, in SubmitInput) error {
	if in.Filer == "" && !in.BreakGlass {
		return nil
	}
	it, err := incidentTx(tx)
	if err != nil {
		return err
	}
	return it.InsertFiling(&Filing{RequestID: r.ID, Requester: r.Requester, Filer: in.Filer, BreakGlass: in.BreakGlass, CreatedAt: r.CreatedAt})
}
