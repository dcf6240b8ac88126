// Package certify is the certification of standing access: on the
// schedules of the policy's certifications: rules it lists every standing
// member of each group a rule names (a member at the provider that no
// grant covers), asks a reviewer per member — Keep (with a reason),
// Remove, or Convert to just in time — escalates halfway to answer_within,
// applies the rule's default at the end, and removes memberships on the
// engine's access lane with a revocation's guarantees
// (approvals.Service.RemoveStanding).
//
// It is domain code: it declares the Store and Tx it needs and knows
// nothing of Slack or SQL. Every state change is a compare-and-set in one
// transaction with its audit event and the jobs it causes, so a crash at
// any point resumes without asking anyone twice or removing twice.
package certify

import (
	"context"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

// CampaignState is the state of a campaign.
type CampaignState string

// Campaign states.
const (
	CampaignBuilding CampaignState = "building" // its items are being listed
	CampaignOpen     CampaignState = "open"     // reviewers were asked; answers wait
	CampaignClosed   CampaignState = "closed"   // every item has its outcome
)

// ItemState is the state of one member's certification.
type ItemState string

// Item states. Pending waits for an answer; Removing waits for the access
// lane; the others are final.
const (
	ItemPending  ItemState = "pending"
	ItemKept     ItemState = "kept"
	ItemRemoving ItemState = "removing"
	ItemRemoved  ItemState = "removed" // removed at the provider (Remove or Convert)
	ItemGone     ItemState = "gone"    // no longer a member when the removal ran
	ItemCovered  ItemState = "covered" // a grant covered it when the removal ran: its end removes it
	ItemFailed   ItemState = "failed"  // the removal gave up; IT was alerted
	ItemDryRun   ItemState = "dry_run" // jitbot runs in dry-run mode: nothing was changed
)

// Final reports whether s is an outcome.
func (s ItemState) Final() bool { return s != ItemPending && s != ItemRemoving }

// Campaign is one run of a certification rule.
type Campaign struct {
	ID        string
	Rule      string
	State     CampaignState
	Trigger   string // "schedule", "cli" or "playground"
	StartedAt time.Time
	AnswerBy  time.Time // when the default applies
	ClosedAt  time.Time
	Version   int
}

// Item is one standing member of one group in one campaign.
type Item struct {
	ID         string
	CampaignID string
	Rule       string
	Resource   string // the resource id naming the group
	Provider   string
	Group      string
	Person     string // email, lower-cased
	// Reviewer is who is asked: an email, "group:HANDLE", or "" for IT
	// (no reviewer term named anyone but the member).
	Reviewer    string
	State       ItemState
	Answer      string // keep | remove | convert, once answered or defaulted
	Reason      string
	DecidedBy   string // who answered; approvals.ActorSystem for the default
	DecidedAt   time.Time
	Defaulted   bool
	EscalateAt  time.Time
	Escalated   bool
	Unescalated string // the escalate_to terms that named nobody at the escalation, and why; "" when each named someone
	AnswerBy    time.Time
	MemberSince time.Time // when jitbot first knew of the membership; zero: not known
	LastActive  time.Time // latest product activity the licence review knows; zero: not known
	EverJIT     bool      // the person has had a grant of this group
	Standing    bool      // recorded as standing from before jitbot (a grant found it there)
	InDirectory bool      // the person is in the policy's directory (false: left, or never there)
	Note        string    // what the removal found
	Version     int
}

// Membership returns the membership the item is about.
func (it *Item) Membership() approvals.Membership {
	return approvals.Membership{Provider: it.Provider, Group: it.Group, Person: it.Person}
}

// CampaignFilter selects campaigns.
type CampaignFilter struct {
	Rule   string
	States []CampaignState
	Limit  int
}

// ItemFilter selects items.
type ItemFilter struct {
	CampaignID string
	Reviewer   *string // nil: any
	States     []ItemState
	Limit      int
}

// Store is the persistence the engine needs. Its transactions are the
// approvals engine's (one write connection), so they also enqueue outbox
// jobs and append audit events; RemoveStanding's record callback gets the
// same transaction as an approvals.Tx, which must also be a Tx.
type Store interface {
	UpdateCert(ctx context.Context, fn func(tx Tx) error) error
	ViewCert(ctx context.Context, fn func(tx Tx) error) error
}

// Tx is one certification transaction. Update methods are compare-and-set
// (approvals.ErrConflict); lookups return approvals.ErrNotFound.
type Tx interface {
	// NextCampaign returns a rule's next scheduled campaign and the
	// schedule it was computed from.
	NextCampaign(rule string) (spec string, at time.Time, ok bool, err error)
	SetNextCampaign(rule, spec string, at time.Time) error

	InsertCampaign(c *Campaign) error
	GetCampaign(id string) (*Campaign, error) // by id or an unambiguous prefix of 8 or more characters
	UpdateCampaign(c *Campaign, from CampaignState) error
	Campaigns(f CampaignFilter) ([]*Campaign, error) // newest first

	// InsertCertItems adds items, each unless its campaign has one for the
	// same provider, group and person; inserted[i] says whether items[i] was.
	InsertCertItems(items []*Item) (inserted []bool, err error)
	GetCertItem(id string) (*Item, error) // by id or an unambiguous prefix
	UpdateCertItem(it *Item, from ItemState) error
	CertItems(f ItemFilter) ([]*Item, error) // by group, then person
	// DueCertItems returns pending items past EscalateAt not yet escalated,
	// and pending items past AnswerBy.
	DueCertItems(now time.Time, limit int) ([]*Item, error)
	// NextCertDeadline returns the earliest EscalateAt (not escalated) or
	// AnswerBy of a pending item.
	NextCertDeadline() (time.Time, bool, error)

	// StandingSeen returns when jitbot first saw each standing member of a
	// group; MarkStandingSeen records people seen at at (the first time only).
	StandingSeen(provider, group string) (map[string]time.Time, error)
	MarkStandingSeen(provider, group string, people []string, at time.Time) error
	// EverGranted returns the people who have had a grant of the group.
	EverGranted(provider, group string) (map[string]bool, error)
	// LastActive returns, for the emails the licence review's directory
	// knows, their latest activity in any product (zero: never).
	LastActive(emails []string) (map[string]time.Time, error)

	// The outbox and the audit chain, shared with the approvals engine.
	EnqueueJob(j *approvals.Job) error
	CompleteJob(id int64) error
	Append(e *approvals.Event) error
}

// The outbox jobs of a campaign. JobRemove is an access-lane job the engine
// runs; the others are message-lane jobs a front end (the Slack bot)
// registers and delivers, idempotently per reference.
const (
	// JobRemove removes one item's membership. Ref: the item id.
	JobRemove approvals.JobKind = "certify.remove"
	// JobPrompt asks one reviewer about their items of a campaign, once.
	// Ref: PromptRef(campaign, reviewer).
	JobPrompt approvals.JobKind = "certify.prompt"
	// JobEscalation tells the escalate_to reviewers about items unanswered
	// halfway. Ref: the campaign id; Note: the item ids (coalesced).
	JobEscalation approvals.JobKind = "certify.escalation"
	// JobConverted tells a person their standing membership was converted
	// and how to request it just in time. Ref: the item id.
	JobConverted approvals.JobKind = "certify.converted"
	// JobProgress posts or edits the campaign's progress in the rule's
	// channel and the reviewers' cards. Ref: the campaign id (coalesced).
	JobProgress approvals.JobKind = "certify.progress"
)

// MessageJobs lists the message-lane kinds a front end registers.
var MessageJobs = []approvals.JobKind{JobPrompt, JobEscalation, JobConverted, JobProgress}

// PromptRef names one reviewer's prompt of a campaign.
func PromptRef(campaignID, reviewer string) string { return campaignID + "/" + reviewer }

// Audit actions.
const (
	ActionStarted   = "certification.started"   // Data: campaign_id, rule, trigger, answer_by
	ActionListed    = "certification.listed"    // Data: campaign_id, items, groups
	ActionAnswered  = "certification.answered"  // Data: campaign_id, item_id, rule, provider, group, answer, reviewer, escalated
	ActionDefaulted = "certification.defaulted" // Data: as answered, answer = the rule's default
	ActionEscalated = "certification.escalated" // Data: campaign_id, item_id, reviewer, escalate_to
	ActionRemoved   = "certification.removed"   // Data: campaign_id, item_id, provider, group, answer, outcome
	ActionFailed    = "certification.failed"    // Data: campaign_id, item_id, provider, group, answer, error
	ActionClosed    = "certification.closed"    // Data: campaign_id, rule, and a count per outcome
)
