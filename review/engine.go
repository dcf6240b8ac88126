package review

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
)

// DefaultRetention is how long activity snapshots are kept.
const DefaultRetention = 400 * policies.Day

// DefaultSyncMaxAge: a scheduled run syncs first when the last sync is older.
const DefaultSyncMaxAge = 12 * time.Hour

// Run is one run of a review rule.
type Run struct {
	ID         string
	Rule       string
	State      RunState
	Trigger    string // schedule | manual
	DryRun     bool
	AsOf       time.Time // inactivity is measured at this moment
	StartedAt  time.Time
	FinishedAt time.Time // the first pass ended
	ClosedAt   time.Time // every item had its outcome
	Settings   Settings
	Counts     Counts
	Error      string
	Version    int
}

// Config wires an Engine.
type Config struct {
	Store  Store
	Policy *policies.Policy
	// Directory is the organisation directory Sync reads; nil: no sync.
	Directory Directory
	// Accounts suspends and restores; nil: suspensions fail permanently.
	Accounts Accounts
	// Access revokes the JIT grants of a suspended person (the approvals
	// engine); nil: none are revoked.
	Access AccessRevoker
	// Allowed decides whether a membership recorded at suspension may come
	// back on restore under today's policy; nil: DefaultAllowed.
	Allowed func(p *policies.Policy, email string, g Group) (ok bool, why string)
	Clock   clockwork.Clock // default: the real clock
	Log     *zap.Logger     // default: no-op
	// Retention bounds the activity history (default DefaultRetention).
	Retention time.Duration
	// SyncMaxAge: a scheduled run syncs first when the last sync is older
	// (default DefaultSyncMaxAge; negative: never).
	SyncMaxAge time.Duration
	// SweepInterval bounds how long the scheduler sleeps (default 1m), so
	// answers recorded by another process are acted on within it.
	SweepInterval time.Duration
	// DryRun makes every run a dry run (jitbot run --dry-run).
	DryRun bool
	// Observer is told of every run that finished its first pass (metrics); optional.
	Observer Observer
	// Hooks stop the process at exact points (tests only).
	Hooks *Hooks
	// IdPs suspend and restore at the identity provider for rules with
	// suspend_at: idp or auto (idp.go); nil: none is configured.
	IdPs IdPs
}

// Observer is told what the review engine does, for metrics. Its methods
// must return at once.
type Observer interface {
	// ReviewRun: a run of rule finished its first pass; outcome is the
	// run's state then ("open": answers awaited, "closed": all decided),
	// or "dry_run".
	ReviewRun(rule, outcome string)
}

// Hooks are called at crash-sensitive points (tests only).
type Hooks struct {
	// AfterBatch is called between two committed batches of a run's first pass.
	AfterBatch func(runID string, items int)
	// AfterSuspendCall is called after Accounts.Suspend succeeded, before
	// the outcome is committed.
	AfterSuspendCall func(it *Item)
}

// Engine is the licence review engine.
type Engine struct {
	store     Store
	policy    atomic.Pointer[policies.Policy]
	dir       Directory
	accounts  Accounts
	idps      IdPs
	access    AccessRevoker
	allowed   func(p *policies.Policy, email string, g Group) (bool, string)
	clock     clockwork.Clock
	log       *zap.Logger
	retention time.Duration
	syncAge   time.Duration
	interval  time.Duration
	dryRun    bool
	hooks     *Hooks
	observer  Observer
	bootAt    time.Time // runs left running from before are resumed

	runMu   sync.Mutex
	running map[string]bool // rules with a first pass under way in this process
	syncMu  sync.Mutex      // one sync at a time

	loopMu sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}
}

// New returns an Engine.
func New(cfg Config) *Engine {
	e := &Engine{store: cfg.Store, dir: cfg.Directory, accounts: cfg.Accounts, idps: cfg.IdPs, access: cfg.Access,
		allowed: cfg.Allowed, clock: cfg.Clock, log: cfg.Log, retention: cfg.Retention, syncAge: cfg.SyncMaxAge,
		interval: cfg.SweepInterval, dryRun: cfg.DryRun, hooks: cfg.Hooks, observer: cfg.Observer, running: map[string]bool{}, wake: make(chan struct{}, 1)}
	if e.clock == nil {
		e.clock = clockwork.NewRealClock()
	}
	if e.log == nil {
		e.log = zap.NewNop()
	}
	if e.retention <= 0 {
		e.retention = DefaultRetention
	}
	if e.syncAge == 0 {
		e.syncAge = DefaultSyncMaxAge
	}
	if e.interval <= 0 {
		e.interval = time.Minute
	}
	if e.allowed == nil {
		e.allowed = DefaultAllowed
	}
	if e.hooks == nil {
		e.hooks = &Hooks{}
	}
	e.bootAt = e.now()
	e.policy.Store(cfg.Policy)
	return e
}

// Policy returns the policy in force.
func (e *Engine) Policy() *policies.Policy { return e.policy.Load() }

// SetPolicy swaps the policy in force (a reload). Runs already started keep
// their rule's settings.
func (e *Engine) SetPolicy(p *policies.Policy) {
	e.policy.Store(p)
	e.poke()
}

// SetAccess installs the JIT grant revoker (the approvals engine, built
// beside this one).
func (e *Engine) SetAccess(a AccessRevoker) { e.access = a }

// Clock returns the engine's clock.
func (e *Engine) Clock() clockwork.Clock { return e.clock }

func (e *Engine) now() time.Time { return e.clock.Now().UTC().Truncate(time.Millisecond) }

// poke wakes the scheduler, and the outbox's workers when the approvals
// engine can be woken: a transaction of ours may have queued jobs.
func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
	if w, ok := e.access.(Waker); ok {
		w.Wake()
	}
}

// Waker is the optional ability of Access to be told that jobs were queued
// (approvals.Service.Wake).
type Waker interface{ Wake() }

var _ Waker = (*approvals.Service)(nil)

// DefaultAllowed lets a recorded membership come back unless today's
// policy grants that group just in time: a catalogue resource's group is
// reached through a request, never restored silently.
func DefaultAllowed(p *policies.Policy, email string, g Group) (bool, string) {
	if p == nil {
		return true, ""
	}
	for _, r := range p.Resources {
		if !r.IsBundle() && r.Group != "" && equalFold(r.Group, g.Name) {
			return false, "today's policy grants " + g.Name + " just in time (resource " + r.ID + "): request it through jitbot"
		}
	}
	return true, ""
}

// event appends an audit event about a person.
func (e *Engine) event(tx Tx, actor, action, subject, rule, reason string, data map[string]string) error {
	return tx.Append(&approvals.Event{Time: e.now(), Actor: actor, Action: action, Subject: subject,
		Rule: rule, Reason: reason, Data: data})
}

// Audit actions of the licence review.
const (
	ActionRunStarted        = "review.run_started"
	ActionRunResumed        = "review.run_resumed"
	ActionRunFinished       = "review.run_finished" // first pass done, with its counts
	ActionRunClosed         = "review.run_closed"
	ActionRunFailed         = "review.run_failed"
	ActionDecided           = "review.decided"        // Keep or Suspend, by a manager, IT, the default or the policy
	ActionKeepRequested     = "review.keep_requested" // the person says they still need it
	ActionWarned            = "review.warned"
	ActionExcluded          = "review.excluded"
	ActionRecorded          = "review.memberships_recorded"
	ActionSuspended         = "review.suspended"
	ActionSuspensionRefused = "review.suspension_refused" // IdP-managed: deactivate at the IdP
	ActionSuspensionFailed  = "review.suspension_failed"
	ActionGrantRevoked      = "review.grant_revoked" // a JIT grant of a suspended person
	ActionRestored          = "review.restored"
	ActionSynced            = "review.activity_synced"
)

func errorCode(err error) string { return approvals.ErrorCode(err) }

func conflict(err error) bool { return errors.Is(err, approvals.ErrConflict) }

func notFound(err error) bool { return errors.Is(err, approvals.ErrNotFound) }
