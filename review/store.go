package review

import (
	"context"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

// Store is the persistence the review engine needs. UpdateReview runs on
// the same write connection as the approvals engine's Update, so a review
// transaction can also enqueue outbox jobs and append audit events.
type Store interface {
	// UpdateReview runs fn in one write transaction; it commits when fn returns nil.
	UpdateReview(ctx context.Context, fn func(tx Tx) error) error
	// ViewReview runs fn against a consistent read snapshot.
	ViewReview(ctx context.Context, fn func(tx Tx) error) error
}

// RunFilter selects runs.
type RunFilter struct {
	Rule   string     // "" for any
	States []RunState // empty for any
	Limit  int        // 0: no limit
}

// ItemFilter selects items.
type ItemFilter struct {
	RunID   string
	Manager *string // the assignee ("" = unassigned, for IT); nil for anyone
	Email   string
	States  []ItemState
	OpenRun bool // only items of open or running runs
	Limit   int
}

// Tx is one review transaction. Update methods are compare-and-set and
// return approvals.ErrConflict when the row changed; lookups return
// approvals.ErrNotFound.
type Tx interface {
	// PutUsers stores a page of directory users seen at seenAt, and one
	// activity snapshot per user and product for seenAt's day (UTC),
	// replacing that day's earlier snapshot.
	PutUsers(users []DirectoryUser, seenAt time.Time) (snapshots int, err error)
	// MarkGone flags the users no sync has seen since seenBefore.
	MarkGone(seenBefore time.Time) (int, error)
	// PruneActivity deletes snapshots of days before day.
	PruneActivity(before time.Time) (int64, error)
	InsertSync(s *SyncRecord) error
	FinishSync(s *SyncRecord) error
	LastSync() (*SyncRecord, error) // the last finished sync; ErrNotFound
	CountUsers() (int, error)
	// EachUser calls fn for every stored user in account id order. The
	// *User is reused between calls.
	EachUser(fn func(u *User) error) error
	UserByEmail(email string) (*User, error)
	UserByAccount(accountID string) (*User, error)
	// Activity returns a user's snapshots from day since on, oldest first.
	Activity(accountID string, since time.Time) ([]Snapshot, error)

	// NextRun returns a rule's next scheduled run and the schedule it was
	// computed from.
	NextRun(rule string) (spec string, at time.Time, ok bool, err error)
	SetNextRun(rule, spec string, at time.Time) error
	NextRuns() (map[string]time.Time, error)

	InsertRun(r *Run) error
	GetRun(id string) (*Run, error) // by id or an unambiguous prefix of 8 or more characters
	// UpdateRun writes r if it is still in state from at r.Version; then
	// r.Version is incremented.
	UpdateRun(r *Run, from RunState) error
	Runs(f RunFilter) ([]*Run, error)

	// InsertItems adds items, each unless the run already has one for the
	// same person; inserted[i] reports whether items[i] was added.
	InsertItems(items []*Item) (inserted []bool, err error)
	GetItem(id string) (*Item, error) // by id or an unambiguous prefix
	// UpdateItem writes it if it is still in state from at it.Version;
	// then it.Version is incremented.
	UpdateItem(it *Item, from ItemState) error
	Items(f ItemFilter) ([]*Item, error)
	// OpenPeople returns the person keys with an open item in any run.
	OpenPeople() (map[string]bool, error)
	ItemCounts(runID string) (map[ItemState]int, error)
	// PromptManagers returns the distinct managers ("" for IT) of a run's
	// pending items, sorted.
	PromptManagers(runID string) ([]string, error)
	// DueItems returns pending items past AnswerBy and warned items past
	// SuspendAt.
	DueItems(now time.Time, limit int) ([]*Item, error)
	// NextItemDeadline returns the earliest AnswerBy or SuspendAt of an open item.
	NextItemDeadline() (time.Time, bool, error)

	Keeps(now time.Time) (map[string]*Keep, error) // keeps still in force at now, by email
	PutKeep(k *Keep) error

	InsertSuspension(s *Suspension) error
	SuspensionOfItem(itemID string) (*Suspension, error)
	// LatestSuspension returns the newest suspension record of a person.
	LatestSuspension(email string) (*Suspension, error)
	UpdateSuspension(s *Suspension) error
	// Restores returns the last restore time of each restored person.
	Restores() (map[string]time.Time, error)

	// The outbox and the audit chain, shared with the approvals engine.
	EnqueueJob(j *approvals.Job) error
	Append(e *approvals.Event) error
	// AppendEvents appends events in order, as many Append calls would.
	AppendEvents(events []*approvals.Event) error
}
