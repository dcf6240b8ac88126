// Package approvals is the domain of jitbot: access requests, approver
// decisions, grants (the memberships a request provisions), the state machine
// that moves them, the outbox worker that provisions and revokes, and the
// expiry loop. It declares the small interfaces it needs (Store, Tx,
// Provisioner, Notifier) and knows nothing of Slack or SQL.
package approvals

import (
	"slices"
	"strings"
	"time"
)

// State is the lifecycle state of a request.
//
//	pending → approved → active → expired | revoked | released
//	pending → declined | cancelled | timed_out
//	approved → failed (provisioning failed)
//	approved → expired | revoked | released (a bundle whose clock started
//	at its first membership, before the last one was in)
type State string

// Request states.
const (
	StatePending   State = "pending"
	StateApproved  State = "approved" // approved; provisioning in progress
	StateActive    State = "active"   // every membership provisioned; the clock runs
	StateExpired   State = "expired"
	StateRevoked   State = "revoked"
	StateReleased  State = "released"
	StateDeclined  State = "declined"
	StateCancelled State = "cancelled"
	StateTimedOut  State = "timed_out"
	StateFailed    State = "failed"
)

// transitions lists every legal request transition. Anything else is refused.
var transitions = map[State][]State{
	StatePending:  {StateApproved, StateDeclined, StateCancelled, StateTimedOut},
	StateApproved: {StateActive, StateFailed, StateRevoked, StateReleased, StateExpired},
	StateActive:   {StateExpired, StateRevoked, StateReleased},
}

// CanTransition reports whether a request may move from one state to another.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Transitions returns every legal (from, to) pair, for tests and docs.
func Transitions() [][2]State {
	var out [][2]State
	for _, from := range []State{StatePending, StateApproved, StateActive} {
		for _, to := range transitions[from] {
			out = append(out, [2]State{from, to})
		}
	}
	return out
}

// AllStates lists every request state.
func AllStates() []State {
	return []State{StatePending, StateApproved, StateActive, StateExpired, StateRevoked,
		StateReleased, StateDeclined, StateCancelled, StateTimedOut, StateFailed}
}

// Terminal reports whether no further transition is possible.
func (s State) Terminal() bool { return len(transitions[s]) == 0 }

// Step is one approval step of a request, resolved when the request was filed.
type Step struct {
	Terms     []string `json:"terms"`     // as written in the policy
	Approvers []string `json:"approvers"` // emails allowed to decide this step
	Quorum    int      `json:"quorum"`    // distinct approvals needed
	// EscalateAfter, when not zero, is how long the step waits, once it is
	// the current step, before EscalateTo (emails) may decide it too
	// (escalate.go); EscalateTerms are the policy's terms for them.
	EscalateAfter time.Duration `json:"escalate_after,omitempty"`
	EscalateTo    []string      `json:"escalate_to,omitempty"`
	EscalateTerms []string      `json:"escalate_terms,omitempty"`
	Escalated     bool          `json:"escalated,omitempty"`
	// Added says, for each approver added after the request was filed,
	// why: AddedEscalation, or AddedDelegate followed by whom they stand in for.
	Added map[string]string `json:"added,omitempty"`
}

// Why an approver was added to a step after the request was filed (Step.Added).
const (
	AddedEscalation = "escalation"
	AddedDelegate   = "delegate of " // followed by the delegator's email
)

// Request is one access request and its lifecycle.
type Request struct {
	ID            string
	Requester     string // email
	Resource      string // catalogue id (a leaf or a bundle)
	Admin         bool   // an admin escalation
	Duration      time.Duration
	Reason        string
	Ticket        string
	Rule          string // the policy rule that routed it
	Steps         []Step
	CurrentStep   int
	Notify        []string
	AllowSelf     bool
	AllowRepeat   bool // an approver of an earlier step may approve a later one
	AutoApproved  bool
	ExtendsID     string // the request this one extends, if any
	CorrelationID string
	State         State
	StateReason   string // why it is in this state (decline reason, revocation reason, failure)
	DecidedBy     string
	CreatedAt     time.Time
	ExpiresAt     time.Time // pending deadline (request_ttl)
	RemindAt      time.Time // approvers reminded once at this time
	Reminded      bool
	DecidedAt     time.Time
	StartsAt      time.Time // when every membership was provisioned
	EndsAt        time.Time // grant deadline, set on activation
	WarnAt        time.Time // the requester is warned of expiry at this time
	Warned        bool
	EndedAt       time.Time
	Version       int // bumped on every update; the compare-and-set token
}

// GrantState is the state of one membership a request provisions.
type GrantState string

// Grant states.
const (
	GrantProvisioning GrantState = "provisioning"
	GrantActive       GrantState = "active"
	GrantRevoking     GrantState = "revoking"
	GrantEnded        GrantState = "ended"
	GrantFailed       GrantState = "failed"
)

// Grant is one membership a request provisions: a leaf resource for a person.
// A bundle request has one grant per leaf.
type Grant struct {
	ID        string
	RequestID string
	Person    string
	Resource  string // leaf resource id
	Provider  string
	Group     string
	State     GrantState
	Standing  bool   // the person was already a member: the bot will not remove it
	Note      string // what happened at the end (removed, kept: standing, kept: covered by …)
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Membership returns the membership this grant stands for.
func (g *Grant) Membership() Membership {
	return Membership{Provider: g.Provider, Group: g.Group, Person: g.Person}
}

// Origin says how a membership the bot tracks came to be.
type Origin string

// Membership origins.
const (
	OriginBot      Origin = "bot"      // the bot added it (or is about to)
	OriginStanding Origin = "standing" // it was there before the bot; never removed by the bot
)

// MembershipRecord is the bot's record of a membership it manages.
type MembershipRecord struct {
	Membership
	Origin Origin
	Since  time.Time
}

// Decision is one approver's answer on one step.
type Decision struct {
	RequestID string
	Step      int
	Approver  string
	Approve   bool
	Reason    string
	At        time.Time
}

// JobKind is the kind of outbox job.
type JobKind string

// Job kinds of the engine. Other packages register more with Service.Register.
const (
	JobProvision JobKind = "provision"
	JobRevoke    JobKind = "revoke"
	JobNotify    JobKind = "notify"
	JobAlert     JobKind = "alert"
	JobEscalate  JobKind = "escalate" // a step's escalation is due (escalate.go); Ref: the step
)

// Lane is a pool of outbox workers. Access changes and messages run in
// separate lanes, so that no message — however slow, rate limited or
// unreachable Slack is — ever delays a membership change.
type Lane string

// Lanes.
const (
	LaneAccess  Lane = "access"  // provision, revoke, suspend: access changes
	LaneMessage Lane = "message" // notifications, alerts, reminders, digests
)

// Job is one unit of outbox work: committed with the state change that
// caused it, performed by a worker of its lane with retries.
type Job struct {
	ID   int64
	Kind JobKind
	Lane Lane // set by EnqueueJob from the kind's registration when empty
	// Key serialises jobs: of the pending jobs with one non-empty key, only
	// the oldest runs, and the next starts when it is done. Provisioning
	// and revocation use the membership's key, notifications the request's.
	Key       string
	RequestID string
	GrantID   string
	Ref       string // a reference for jobs of other packages (a review item)
	// Note is what a notify job tells (comma-separated notification kinds,
	// see Note*), or an alert's text.
	Note string
	// Coalesce asks EnqueueJob to fold this job into a pending job of the
	// same kind and key that no worker holds yet, adding its Note, instead
	// of queueing another: several updates of one message become one call
	// with the latest state. Not stored.
	Coalesce  bool
	Attempts  int
	Claims    int // how many times a worker took it, this time included
	RunAt     time.Time
	LastError string
}

// Notes returns the notification kinds of a notify job, in order, without repeats.
func (j *Job) Notes() []string {
	var out []string
	for _, n := range strings.Split(j.Note, ",") {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Event is one entry of the audit trail. Every state change appends one in
// the same transaction.
type Event struct {
	Seq           int64
	ID            string
	Time          time.Time
	Actor         string // a person's email or "system"
	Action        string
	Subject       string // the person the event is about
	Resource      string
	RequestID     string
	GrantID       string
	Reason        string
	Rule          string
	CorrelationID string
	Data          map[string]string
	PrevHash      string
	Hash          string
}

// ActorSystem is the actor of events the bot causes on its own.
const ActorSystem = "system"

// Audit actions written by the engine.
const (
	ActionRequestSubmitted   = "request.submitted"
	ActionRequestRefused     = "request.refused"
	ActionApprovalRecorded   = "approval.recorded"
	ActionRequestAdvanced    = "request.advanced"
	ActionRequestApproved    = "request.approved"
	ActionRequestAutoApprove = "request.auto_approved"
	ActionRequestDeclined    = "request.declined"
	ActionRequestCancelled   = "request.cancelled"
	ActionRequestTimedOut    = "request.timed_out"
	ActionRequestReminded    = "request.reminded"
	ActionRequestActivated   = "request.activated"
	ActionClockStarted       = "request.clock_started"
	ActionRequestWarned      = "request.expiry_warned"
	ActionRequestExpired     = "request.expired"
	ActionRequestReleased    = "request.released"
	ActionRequestRevoked     = "request.revoked"
	ActionRequestFailed      = "request.failed"
	ActionGrantProvisioned   = "grant.provisioned"
	ActionGrantRemoved       = "grant.removed"
	ActionGrantKept          = "grant.kept"
	ActionGrantFailed        = "grant.failed"
	ActionJobRetry           = "job.retry"
	ActionAlert              = "alert.raised"
	ActionPolicyLoaded       = "policy.loaded"
	ActionRequestEscalated   = "request.escalated"
)

// Notification kinds carried by notify jobs.
const (
	NoteSubmitted = "submitted" // tell the requester and the approvers of the current step
	NoteAdvanced  = "advanced"  // next step's approvers
	NoteApproved  = "approved"
	NoteActivated = "activated"
	NoteDeclined  = "declined"
	NoteCancelled = "cancelled"
	NoteTimedOut  = "timed_out"
	NoteReminder  = "reminder"
	NoteExpiring  = "expiring"
	NoteEnded     = "ended" // expired, released or revoked, and the memberships are out
	NoteFailed    = "failed"
	NoteApproval  = "approval"  // one approver approved; cards show progress
	NoteEscalated = "escalated" // the step's approvers grew: the added get cards, the requester is told
)
