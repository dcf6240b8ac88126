// Package review is jitbot's licence review: it syncs last-active dates
// from the Atlassian organisation directory, runs the policy's reviews:
// rules on their schedules, asks managers (through whatever front end
// registers for its message jobs), applies their answers and the defaults,
// suspends and restores accounts, and leaves every step in the audit chain.
//
// It is domain code: it declares the small interfaces it needs (Store and
// Tx for persistence, Directory and Accounts for Atlassian, AccessRevoker
// for the JIT grants of a suspended person) and knows nothing of Slack or
// SQL.
//
// A run is a durable record. Each person a rule finds inactive becomes an
// Item with a state; every state change is a compare-and-set in one
// transaction with its audit event and the jobs it causes (a suspension is
// an access-lane job, a prompt, warning or digest a message-lane job), so a
// crash at any point resumes without losing an answer or suspending anyone
// twice.
package review

import (
	"strings"
	"time"

	"github.com/jitbot/jitbot/policies"
)

// AccountTypePerson is the accountType of a person's Atlassian account;
// apps, bots and customers have others and are never reviewed.
const AccountTypePerson = "atlassian"

// Values of DirectoryUser fields the engine acts on.
const (
	MembershipSuspended = "suspended" // membershipStatus of a suspended user
	ManagedBySync       = "synced"    // managementSource of an account an IdP provisions (SCIM)
	AccountActive       = "active"    // accountStatus of a usable account
)

// ProductActivity is a person's last activity in one product.
type ProductActivity struct {
	Key        string    `json:"key"`                  // product key: jira-software, confluence…
	LastActive time.Time `json:"last_active,omitzero"` // zero: never used
}

// DirectoryUser is one user of the organisation directory as the Admin API
// reports it (v2 users search with expand productAccess).
type DirectoryUser struct {
	AccountID        string
	Email            string // lower-cased; may be empty when Atlassian hides it
	Name             string
	AccountType      string // atlassian | app | customer …
	AccountStatus    string // active | inactive | closed
	MembershipStatus string // active | suspended …
	ManagementSource string // invited | synced
	ClaimStatus      string
	Department       string
	JobTitle         string
	AddedToOrg       time.Time
	// Products lists the products the person has used; a product never
	// used is absent.
	Products []ProductActivity
	// Groups are the names of the person's groups, when the directory
	// reports them (nil when it was not asked).
	Groups []string
}

// IsPerson reports whether the account is a person's (not an app or bot).
func (u *DirectoryUser) IsPerson() bool {
	return u.AccountType == "" || u.AccountType == AccountTypePerson
}

// Suspended reports whether the user's access is suspended.
func (u *DirectoryUser) Suspended() bool { return u.MembershipStatus == MembershipSuspended }

// IdPManaged reports whether an identity provider provisions the account.
func (u *DirectoryUser) IdPManaged() bool { return u.ManagementSource == ManagedBySync }

// Product returns the person's activity in product key.
func (u *DirectoryUser) Product(key string) (ProductActivity, bool) {
	for _, p := range u.Products {
		if p.Key == key {
			return p, true
		}
	}
	return ProductActivity{Key: key}, false
}

// User is a directory user as the store holds it after a sync.
type User struct {
	DirectoryUser
	FirstSeen time.Time // the first sync that saw the user
	LastSeen  time.Time // the last sync that saw the user
	Gone      bool      // the latest sync did not see the user: no longer in Atlassian
}

// Snapshot is one user's last-active time in one product as one day's
// sync saw it.
type Snapshot struct {
	Day        time.Time // midnight UTC of the sync's day
	Product    string
	LastActive time.Time // zero: never used
}

// SyncRecord is one activity sync.
type SyncRecord struct {
	ID         int64
	StartedAt  time.Time
	FinishedAt time.Time // zero while it runs (or when it crashed)
	Users      int
	Pages      int
	Snapshots  int   // activity rows written
	Gone       int   // users the sync no longer saw
	Pruned     int64 // activity rows older than the retention removed
	Error      string
}

// RunState is the lifecycle of a run.
//
//	running → open → closed
//	running → closed (nothing waits for an answer)
//	running → failed
type RunState string

// Run states.
const (
	RunRunning RunState = "running" // the first pass is finding people; a crash resumes it
	RunOpen    RunState = "open"    // first pass done; answers or suspensions are pending
	RunClosed  RunState = "closed"  // every item has its outcome
	RunFailed  RunState = "failed"
)

// Triggers of a run.
const (
	TriggerSchedule = "schedule"
	TriggerManual   = "manual" // jitbot review run
)

// Settings is the rule as it was when its run started: answers, defaults
// and keeps follow these even if the policy changes meanwhile.
type Settings struct {
	If            string        `json:"if"` // who the rule covers, in words
	Products      []string      `json:"products,omitempty"`
	InactiveFor   time.Duration `json:"inactive_for"`
	Action        string        `json:"action"`
	AnswerWithin  time.Duration `json:"answer_within,omitempty"`
	Default       string        `json:"default,omitempty"`
	KeepFor       time.Duration `json:"keep_for,omitempty"`
	WarnBefore    time.Duration `json:"warn_before,omitempty"`
	Exclude       []string      `json:"exclude,omitempty"`
	ExcludeGroups []string      `json:"exclude_groups,omitempty"`
	DryRun        bool          `json:"dry_run,omitempty"`
	Digest        string        `json:"digest,omitempty"`
	Schedule      string        `json:"schedule"`
}

// SettingsOf snapshots a rule.
func SettingsOf(r *policies.ReviewRule) Settings {
	return Settings{If: r.If.Describe(), Products: r.Products, InactiveFor: r.InactiveFor, Action: r.Action,
		AnswerWithin: r.AnswerWithin, Default: r.Default, KeepFor: r.KeepFor, WarnBefore: r.WarnBefore,
		Exclude: r.Exclude, ExcludeGroups: r.ExcludeGroups, DryRun: r.DryRun, Digest: r.Digest, Schedule: r.Schedule}
}

// Counts are a run's figures from its first pass: how many people it
// looked at and why most of them needed nothing. What happened to the
// people it found inactive is in their items (see Report.Outcomes).
type Counts struct {
	Directory   int `json:"directory"`    // users in the stored directory
	Apps        int `json:"apps"`         // app, bot and customer accounts: never reviewed
	Closed      int `json:"closed"`       // deactivated or closed accounts
	NotCovered  int `json:"not_covered"`  // covered by an earlier rule, or by no rule
	Covered     int `json:"covered"`      // people this rule reviews
	Active      int `json:"active"`       // active within inactive_for
	TooNew      int `json:"too_new"`      // added to the organisation less than inactive_for ago
	StillKept   int `json:"still_kept"`   // kept by an earlier answer, within keep_for
	UnderReview int `json:"under_review"` // already waiting in another open run
	Items       int `json:"items"`        // inactive (or excluded, suspended…): one item each
}

// ItemState is what happened, or is happening, to one person in a run.
type ItemState string

// Item states. pending, warned and suspending are open; the rest are
// outcomes.
const (
	ItemPending          ItemState = "pending"           // waiting for the manager's (or IT's) answer
	ItemWarned           ItemState = "warned"            // told they will be suspended at SuspendAt
	ItemSuspending       ItemState = "suspending"        // decided; the suspension job runs
	ItemKept             ItemState = "kept"              // a manager (or the default) kept them
	ItemSuspended        ItemState = "suspended"         // suspended through the Admin API v2
	ItemExcluded         ItemState = "excluded"          // exclude: matched
	ItemReported         ItemState = "reported"          // action report: listed only
	ItemDryRun           ItemState = "dry_run"           // what would have happened, nothing done
	ItemAlreadySuspended ItemState = "already_suspended" // suspended before the run
	ItemIdPManaged       ItemState = "idp_managed"       // refused: deactivate at the identity provider
	ItemFailed           ItemState = "failed"            // the suspension failed; IT must look
	ItemNotInAtlassian   ItemState = "not_in_atlassian"  // in jitbot's directory, not in Atlassian
)

// Open reports whether the item still waits for something.
func (s ItemState) Open() bool { return s == ItemPending || s == ItemWarned || s == ItemSuspending }

// Outcome is the state in words, as reports print it.
func (s ItemState) Outcome() string {
	switch s {
	case ItemIdPManaged:
		return "deactivate at the IdP"
	case ItemDryRun:
		return "dry run"
	case ItemAlreadySuspended:
		return "already suspended"
	case ItemNotInAtlassian:
		return "not in Atlassian"
	}
	return string(s)
}

// Actors the engine records for decisions nobody made by hand.
const (
	ActorDefault = "default" // answer_within ran out
	ActorPolicy  = "policy"  // action: suspend, or an exclusion
)

// Item is one person in one run.
type Item struct {
	ID         string
	RunID      string
	Rule       string
	PersonKey  string // the account id, or "email:" + email for someone not in Atlassian
	AccountID  string
	Email      string
	Name       string
	Department string
	// Manager is who answers for the person: their manager in jitbot's
	// directory, or "" when they have none (Unassigned: IT answers).
	Manager    string
	Unassigned bool
	IdPManaged bool
	// Products are the reviewed products with the last activity in each.
	Products []ProductActivity
	// InactiveSince is when the person was last active in the reviewed
	// products, or when they were added (never used) or restored, if later.
	InactiveSince time.Time
	NeverUsed     bool   // no activity at all in the reviewed products
	Finding       string // why the person is on the list, in words
	State         ItemState
	Would         string // dry run: what would have happened
	DecidedBy     string // a manager's or IT member's email, ActorDefault or ActorPolicy
	Reason        string
	DecidedAt     time.Time
	DoneAt        time.Time // when the outcome was reached (suspended, kept…)
	AnswerBy      time.Time // pending: the default applies then (zero: no deadline)
	SuspendAt     time.Time // warned: the suspension is due then
	// KeepRequest is the person's own "I still need it", for the manager.
	KeepRequest     string
	KeepRequestedAt time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
	Version         int // the compare-and-set token
}

// IdleDays is how many whole days the person has been inactive at t.
func (it *Item) IdleDays(t time.Time) int {
	if it.InactiveSince.IsZero() || t.Before(it.InactiveSince) {
		return 0
	}
	return int(t.Sub(it.InactiveSince) / policies.Day)
}

// Keep is a standing Keep answer: the person is not asked about again
// until Until.
type Keep struct {
	Email  string
	Until  time.Time
	By     string
	Reason string
	At     time.Time
	Rule   string
	RunID  string
	ItemID string
}

// SuspensionState is the lifecycle of a suspension record.
type SuspensionState string

// Suspension states.
const (
	SuspensionRecorded  SuspensionState = "recorded"  // memberships recorded; the suspend call is under way
	SuspensionSuspended SuspensionState = "suspended" // suspended at Atlassian
	SuspensionRestored  SuspensionState = "restored"
	SuspensionRefused   SuspensionState = "refused" // the Admin API refused (IdP-managed, or failed)
)

// Group is an Atlassian group.
type Group struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Suspension is the record of one suspension: who, why, and the group
// memberships (and roles, where readable) the person had, for Restore.
type Suspension struct {
	ID          string
	Email       string
	AccountID   string
	ItemID      string // "" for none
	RunID       string
	Rule        string
	State       SuspensionState
	Groups      []Group
	Roles       []string
	RolesRead   bool // the roles could be read (an Accounts with RoleReader)
	DecidedBy   string
	Reason      string
	RecordedAt  time.Time
	SuspendedAt time.Time
	RestoredAt  time.Time
	RestoredBy  string
	Restore     *RestoreReport // what Restore did
}

// RestoreReport says what a restore brought back and what it did not.
type RestoreReport struct {
	Email      string        `json:"email"`
	AccountID  string        `json:"account_id"`
	By         string        `json:"by"`
	At         time.Time     `json:"at"`
	Recorded   bool          `json:"recorded"` // jitbot had recorded the memberships at suspension
	Back       []Group       `json:"back,omitempty"`
	ReAdded    []Group       `json:"re_added,omitempty"`
	Deleted    []Group       `json:"deleted,omitempty"`   // the group no longer exists: reported, not recreated
	Forbidden  []Forbidden   `json:"forbidden,omitempty"` // today's policy forbids it: reported, not re-added
	Failed     []FailedGroup `json:"failed,omitempty"`
	Roles      []string      `json:"roles,omitempty"` // recorded roles (they come back with the account)
	WasActive  bool          `json:"was_active"`      // the account was not suspended
	SuspendRef string        `json:"suspension_id,omitempty"`
}

// Forbidden is a recorded membership today's policy does not allow back.
type Forbidden struct {
	Group
	Why string `json:"why"`
}

// FailedGroup is a membership the restore could not re-add.
type FailedGroup struct {
	Group
	Error string `json:"error"`
}

func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func equalFold(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// MonthlyCost is what the person's reviewed products cost a month under
// costs (the policy's licence_costs): the licences at stake.
func (it *Item) MonthlyCost(costs map[string]float64) float64 {
	total := 0.0
	for _, p := range it.Products {
		total += costs[p.Key]
	}
	return total
}
