package approvals

import (
	"context"
	"time"
)

// Store is the persistence the engine needs. Every write happens inside
// Update, one transaction; the implementation appends each event the
// callback gives it to the audit chain in that same transaction.
type Store interface {
	// Update runs fn in one write transaction and commits if fn returns nil.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// View runs fn against a consistent read snapshot.
	View(ctx context.Context, fn func(tx Tx) error) error
}

// RequestFilter selects requests for listings.
type RequestFilter struct {
	Requester string  // email; empty = anyone
	Approver  string  // pending requests whose current step this email may decide
	States    []State // empty = any
	Limit     int     // 0 = no limit
}

// Tx is one transaction. Update methods are compare-and-set: they return
// ErrConflict when the row is not in the expected state any more.
type Tx interface {
	GetRequest(id string) (*Request, error) // ErrNotFound
	InsertRequest(r *Request) error
	// UpdateRequest writes r if the stored row still has state from and
	// version r.Version; on success r.Version is incremented.
	UpdateRequest(r *Request, from State) error
	ListRequests(f RequestFilter) ([]*Request, error)

	InsertDecision(d *Decision) error // ErrDuplicate when this approver already answered this step
	Decisions(requestID string) ([]*Decision, error)

	InsertGrant(g *Grant) error
	GetGrant(id string) (*Grant, error)
	GrantsOf(requestID string) ([]*Grant, error)
	// UpdateGrant writes g if its stored state is still from.
	UpdateGrant(g *Grant, from GrantState) error
	// CoveringGrants returns the other grants (not excludeID) of the same
	// membership that are provisioning or active.
	CoveringGrants(m Membership, excludeID string) ([]*Grant, error)

	// LiveGrants returns the provisioning and active grants of one group.
	LiveGrants(provider, group string) ([]*Grant, error)

	GetMembership(m Membership) (*MembershipRecord, error) // ErrNotFound
	// Memberships returns the bot's records of one group's memberships.
	Memberships(provider, group string) ([]*MembershipRecord, error)
	PutMembership(rec *MembershipRecord) error
	DeleteMembership(m Membership) error

	EnqueueJob(j *Job) error
	// DueJobs returns pending jobs with RunAt <= now in id order.
	DueJobs(now time.Time, limit int) ([]*Job, error)
	CompleteJob(id int64) error
	RetryJob(id int64, attempts int, runAt time.Time, lastErr string) error
	FailJob(id int64, lastErr string) error

	// DueActive returns active requests whose EndsAt <= now, oldest first.
	DueActive(now time.Time, limit int) ([]*Request, error)
	// DuePending returns pending requests whose ExpiresAt <= now.
	DuePending(now time.Time, limit int) ([]*Request, error)
	// DueReminders returns pending, not yet reminded requests with RemindAt <= now.
	DueReminders(now time.Time, limit int) ([]*Request, error)
	// DueWarnings returns active, not yet warned requests with WarnAt <= now.
	DueWarnings(now time.Time, limit int) ([]*Request, error)
	// NextDeadline returns the earliest pending deadline of any kind
	// (request expiry, timeout, reminder, warning, job retry).
	NextDeadline() (time.Time, bool, error)

	// Append adds an event to the audit chain.
	Append(e *Event) error
}
