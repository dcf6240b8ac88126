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

// WorkWatcher is an optional ability of a Store: it hears when another
// process (the CLI, another replica) commits work, so that the engine takes
// it at once rather than at its next poll. WatchWork calls wake for each
// such commit until ctx ends; an error ends the watching (the poll still
// finds the work).
type WorkWatcher interface {
	WatchWork(ctx context.Context, wake func()) error
}

// DurableUpdater is an optional ability of a Store: a write transaction
// that is on disk when it returns, even across a power loss (SQLite's
// synchronous=FULL). The engine records its intent to change a membership
// with it before it calls the provider, so that a replayed job never
// mistakes a membership it added for one that was there before.
type DurableUpdater interface {
	UpdateDurable(ctx context.Context, fn func(tx Tx) error) error
}

// SharedUpdater is an optional ability of a Store: a write transaction that
// may be shared with other writes made at the same moment, each undone
// alone when it fails (group commit). The engine records finished access
// changes with it: under a burst of expiries, one commit holds many.
type SharedUpdater interface {
	UpdateShared(ctx context.Context, fn func(tx Tx) error) error
}

// RequestFilter selects requests for listings.
type RequestFilter struct {
	Requester string // email; empty = anyone
	// Approver: pending requests whose current step this email may decide
	// (not their own unless the rule allows it, and not a later step of
	// one they approved unless the rule allows it).
	Approver string
	States   []State // empty = any
	Limit    int     // 0 = no limit
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
	// RequestLive reports whether any grant of a request is provisioning,
	// active or revoking: one look, no rows read.
	RequestLive(requestID string) (bool, error)
	// UpdateGrant writes g if its stored state is still from.
	UpdateGrant(g *Grant, from GrantState) error
	// CoveringGrants returns the other grants (not excludeID) of the same
	// membership that are provisioning or active.
	CoveringGrants(m Membership, excludeID string) ([]*Grant, error)
	// Revoking reports whether a grant of the membership is being revoked
	// (its removal queued): reconciliation leaves that removal to it.
	Revoking(m Membership) (bool, error)

	// LiveGrants returns the provisioning and active grants of one group.
	LiveGrants(provider, group string) ([]*Grant, error)
	// LiveGroups returns every group jitbot still has business in, sorted:
	// those with provisioning or active grants, and those with membership
	// records (what it added and must remove, or found standing) — whether
	// or not the policy in force still names them.
	LiveGroups() ([]GroupRef, error)

	GetMembership(m Membership) (*MembershipRecord, error) // ErrNotFound
	// Memberships returns the bot's records of one group's memberships.
	Memberships(provider, group string) ([]*MembershipRecord, error)
	// InsertMembership records a membership unless a record of it exists
	// (insert-or-nothing); it reports whether it inserted.
	InsertMembership(rec *MembershipRecord) (bool, error)
	DeleteMembership(m Membership) error

	// EnqueueJob adds an outbox job and sets j.ID. With j.Coalesce it folds
	// j into a pending job of the same kind and key that no worker holds
	// (appending j.Note to its Note) and sets j.ID to that job's id.
	EnqueueJob(j *Job) error
	// ClaimJobs leases up to limit jobs of lane that are due at now to
	// owner until leaseUntil, oldest RunAt first. A job is due when its
	// RunAt has come, no other owner's lease on it is running, no older
	// pending job has its Key, and its id is not in skip (the jobs the
	// owner holds already, or holds back).
	ClaimJobs(lane Lane, now time.Time, limit int, owner string, leaseUntil time.Time, skip []int64) ([]*Job, error)
	// NextJobAt returns the earliest RunAt after now of the pending jobs
	// of lane that are not in skip: when the lane must look again.
	NextJobAt(lane Lane, now time.Time, skip []int64) (time.Time, bool, error)
	// CompleteJob marks a pending job done; ErrConflict if it is not pending.
	CompleteJob(id int64) error
	// RetryJob counts a failed attempt and schedules the next at runAt.
	RetryJob(id int64, attempts int, runAt time.Time, lastErr string) error
	// DeferJob puts a job back until runAt without counting an attempt: it
	// could not be done yet (a channel's pace, a 429, an outage).
	DeferJob(id int64, runAt time.Time, why string) error
	// FailJob gives up on a job.
	FailJob(id int64, lastErr string) error
	// HoldsJob reports whether job id is still pending and no worker has
	// taken it since the claim numbered claims (Job.Claims): the holder of a
	// lease that ran out learns that another worker may be doing its work.
	// On a store shared by processes it locks the job's row until the
	// transaction ends.
	HoldsJob(id int64, claims int) (bool, error)
	// ReleaseJobs lets go of owner's leases on the pending jobs ids (a
	// lane stopping with jobs claimed): another worker may take them at once.
	ReleaseJobs(owner string, ids []int64) error
	// RenewJobs extends owner's leases on the pending jobs ids to until
	// (never shortens one): a lane holds its jobs while they wait behind
	// slow ones and while they run. A job whose lease ran out and that
	// another owner took is left alone. On a store shared by processes a
	// job whose row another transaction holds at that moment is skipped,
	// not waited for: the next renewal takes it.
	RenewJobs(owner string, ids []int64, until time.Time) error
	// HurryGrantJobs makes the pending jobs of a grant due at now (a
	// provisioning retry waiting out its backoff must not hold up the
	// revocation queued behind it).
	HurryGrantJobs(grantID string, now time.Time) error
	// HurryDeferred makes the pending jobs of lane that were put back for
	// why (DeferJob) and are not yet due, due at now, and says how many
	// (the Slack front end's held messages, when Slack answers again).
	HurryDeferred(lane Lane, why string, now time.Time) (int, error)

	// DueActive returns active requests whose EndsAt <= now, oldest first.
	DueActive(now time.Time, limit int) ([]*Request, error)
	// DueStarted returns approved requests whose clock started (a
	// bundle's first membership is in) and whose EndsAt <= now.
	DueStarted(now time.Time, limit int) ([]*Request, error)
	// DuePending returns pending requests whose ExpiresAt <= now.
	DuePending(now time.Time, limit int) ([]*Request, error)
	// DueReminders returns pending, not yet reminded requests with RemindAt <= now.
	DueReminders(now time.Time, limit int) ([]*Request, error)
	// DueWarnings returns active, not yet warned requests with WarnAt <= now.
	DueWarnings(now time.Time, limit int) ([]*Request, error)
	// NextDeadline returns the earliest request deadline of any kind
	// (request expiry, timeout, reminder, warning): what the sweep waits for.
	NextDeadline() (time.Time, bool, error)

	// Append adds an event to the audit chain.
	Append(e *Event) error
}

// Stats is how the engine's state looks at one moment, for metrics.
type Stats struct {
	Requests  map[State]int      // requests by state
	Pending   map[Lane]int       // pending jobs by lane
	OldestDue map[Lane]time.Time // run_at of the oldest job due by lane (absent: none due)
	AuditHead int64              // the sequence number of the last audit event
}

// StatsReader is an optional ability of a Store: read Stats at now.
type StatsReader interface {
	Stats(ctx context.Context, now time.Time) (Stats, error)
}
