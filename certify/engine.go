package certify

import (
	"context"
	"errors"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
)

// Access is what the engine needs of the approvals engine: the policy in
// force, the standing members of a group, a removal with a revocation's
// guarantees, and the outbox.
type Access interface {
	Policy() *policies.Policy
	Standing(ctx context.Context, provider, group string) ([]approvals.StandingMember, error)
	RemoveStanding(ctx context.Context, m approvals.Membership, record func(tx approvals.Tx, outcome string) error) (string, error)
	Register(kind approvals.JobKind, t approvals.JobType)
	Enqueue(tx approvals.Tx, j *approvals.Job) error
	RaiseAlertTx(tx approvals.Tx, requestID, person, message string, data map[string]string) error
	Wake()
}

var _ Access = (*approvals.Service)(nil)

// Config builds an Engine.
type Config struct {
	Store  Store
	Access Access
	// Resolver resolves group:HANDLE reviewers (Slack user groups) when
	// someone answers; nil: group reviewers cannot answer.
	Resolver policies.GroupResolver
	// ITGroup is the user group handle (JITBOT_IT_GROUP) whose members
	// answer the items no reviewer term could take; "": nobody in Slack.
	ITGroup string
	Clock   clockwork.Clock // default: the real clock
	Log     *zap.Logger     // default: no-op
	// SweepInterval bounds how long the scheduler sleeps (default 1m).
	SweepInterval time.Duration
	// DryRun: decided removals change nothing (jitbot run --dry-run).
	DryRun bool
	// Progress, when set, is told of each group listed by a campaign
	// (the CLI's progress): its name, its standing members, and how many
	// of the campaign's groups are done.
	Progress func(group string, members, done, total int)
	// Hooks stop the process at exact points (tests only).
	Hooks *Hooks
}

// Hooks are called at crash-sensitive points (tests only). An error
// returned stops the step there, as a crash would.
type Hooks struct {
	// AfterGroup: a group's items are committed, the campaign is still building.
	AfterGroup func(c *Campaign, t policies.CertTarget) error
}

// Engine runs certification campaigns.
type Engine struct {
	store    Store
	access   Access
	resolver policies.GroupResolver
	itGroup  string
	clock    clockwork.Clock
	log      *zap.Logger
	interval time.Duration
	dryRun   bool
	hooks    Hooks
	progress func(group string, members, done, total int)
	wake     chan struct{}
}

// New builds an engine and registers its access-lane job with the
// approvals engine.
func New(cfg Config) *Engine {
	e := &Engine{store: cfg.Store, access: cfg.Access, resolver: cfg.Resolver, itGroup: cfg.ITGroup, clock: cfg.Clock, log: cfg.Log,
		interval: cfg.SweepInterval, dryRun: cfg.DryRun, progress: cfg.Progress, wake: make(chan struct{}, 1)}
	if e.clock == nil {
		e.clock = clockwork.NewRealClock()
	}
	if e.log == nil {
		e.log = zap.NewNop()
	}
	if e.interval <= 0 {
		e.interval = time.Minute
	}
	if cfg.Hooks != nil {
		e.hooks = *cfg.Hooks
	}
	e.access.Register(JobRemove, approvals.JobType{Lane: approvals.LaneAccess, Run: e.runRemove, SelfComplete: true, Failed: e.removeFailed})
	return e
}

// Policy returns the policy in force.
func (e *Engine) Policy() *policies.Policy { return e.access.Policy() }

func (e *Engine) now() time.Time { return e.clock.Now().UTC().Truncate(time.Millisecond) }

// poke wakes the scheduler and the engine's lanes.
func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
	e.access.Wake()
}

func notFound(err error) bool { return errors.Is(err, approvals.ErrNotFound) }

// certTx returns the certification view of an approvals transaction: the
// store's transactions are both.
func certTx(tx approvals.Tx) (Tx, error) {
	ct, ok := tx.(Tx)
	if !ok {
		return nil, errors.New("certify: the store's transaction is not a certify.Tx")
	}
	return ct, nil
}

// StandingRow is one line of the standing-access report.
type StandingRow struct {
	Resource    string
	Provider    string
	Group       string
	Person      string
	InDirectory bool
	Standing    bool      // recorded as standing from before jitbot
	MemberSince time.Time // first known; zero: not known
	LastActive  time.Time // zero: not known
	EverJIT     bool
}

// StandingReport lists the standing members of every group targets names,
// with what jitbot knows of each. It only reads the store; a group whose
// provider cannot list members is reported in errs and skipped.
func (e *Engine) StandingReport(ctx context.Context, targets []policies.CertTarget) (rows []StandingRow, errs []error) {
	for _, t := range targets {
		rs, err := e.standingOf(ctx, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rows = append(rows, rs...)
	}
	return rows, errs
}

// standingOf lists one group's standing members with their facts.
func (e *Engine) standingOf(ctx context.Context, t policies.CertTarget) ([]StandingRow, error) {
	members, err := e.access.Standing(ctx, t.Provider, t.Group)
	if err != nil {
		return nil, err
	}
	var (
		seen   map[string]time.Time
		ever   map[string]bool
		active map[string]time.Time
	)
	emails := make([]string, len(members))
	for i, m := range members {
		emails[i] = m.Person
	}
	err = e.store.ViewCert(ctx, func(tx Tx) error {
		var err error
		if seen, err = tx.StandingSeen(t.Provider, t.Group); err != nil {
			return err
		}
		if ever, err = tx.EverGranted(t.Provider, t.Group); err != nil {
			return err
		}
		active, err = tx.LastActive(emails)
		return err
	})
	if err != nil {
		return nil, err
	}
	pol := e.Policy()
	rows := make([]StandingRow, len(members))
	for i, m := range members {
		_, inDir := pol.Person(m.Person)
		r := StandingRow{Resource: t.Resource, Provider: t.Provider, Group: t.Group, Person: m.Person,
			InDirectory: inDir, MemberSince: seen[m.Person], LastActive: active[m.Person], EverJIT: ever[m.Person]}
		if m.Record != nil {
			r.Standing = m.Record.Origin == approvals.OriginStanding
			if since := m.Record.Since; !since.IsZero() && (r.MemberSince.IsZero() || since.Before(r.MemberSince)) {
				r.MemberSince = since
			}
		}
		rows[i] = r
	}
	return rows, nil
}

// ManagedTargets returns every group of the policy's catalogue, as
// `jitbot report standing` lists them.
func ManagedTargets(p *policies.Policy) []policies.CertTarget {
	return p.Targets(&policies.CertRule{Groups: []string{"*"}})
}
