package approvals

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jitbot/jitbot/policies"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
)

// Config wires a Service.
type Config struct {
	Store     Store
	Policy    *policies.Policy
	Clock     clockwork.Clock // default: the real clock
	Log       *zap.Logger     // default: no-op
	Groups    policies.GroupResolver
	Providers map[string]Provisioner // by provider name
	Notifier  Notifier               // optional
	Alerter   Alerter                // optional; see also SetAlerter
	Retry     RetryPolicy            // zero: DefaultRetry
	// Workers is the size of the access lane (provision, revoke): default 8.
	Workers int
	// MessageWorkers is the size of the message lane (notifications,
	// alerts): default 8.
	MessageWorkers int
	// Lease is how long a claimed job is held without renewal before
	// another worker may take it (default DefaultLease): the longest a
	// dead replica's job waits. A live lane renews the leases of the jobs
	// it holds, waiting or running, every third of it. A job runs at most
	// two thirds of it.
	Lease time.Duration
	// ProvisionFor is how long after approval provisioning may keep
	// trying (default 15m); then the request fails and what was added of
	// it is removed.
	ProvisionFor time.Duration
	// SweepInterval bounds how long the expiry loop sleeps even when the
	// next deadline is far away (default 10s): work queued by another
	// process (the CLI) is picked up within it.
	SweepInterval time.Duration
	// WarnBefore: requesters are warned this long before expiry (default
	// 15m, at most a quarter of the grant).
	WarnBefore time.Duration
	// Observer is told what the engine does (metrics); optional.
	Observer Observer
	// Hooks lets tests stop the process at exact points. Nil in production.
	Hooks *Hooks
	// Leader decides whether this replica sweeps (see Elector). Nil: this
	// process is the only one and always sweeps (SQLite).
	Leader Elector
}

// Hooks are called at crash-sensitive points of the worker (tests only).
type Hooks struct {
	AfterProviderAdd    func(g *Grant)
	AfterProviderRemove func(g *Grant)
	// AfterReconcileSnapshot runs after reconciliation read a group's
	// members and records, before it acts on them.
	AfterReconcileSnapshot func(provider, group string)
}

// Service is the engine: it files requests, records decisions, runs the
// outbox, and expires grants.
type Service struct {
	store     Store
	policy    atomic.Pointer[policies.Policy]
	clock     clockwork.Clock
	log       *zap.Logger
	groupsMu  sync.RWMutex
	groups    policies.GroupResolver
	providers map[string]Provisioner
	notifier  atomic.Pointer[notifierBox]
	alerter   atomic.Pointer[alerterBox]
	retry     RetryPolicy
	interval  time.Duration
	warn      time.Duration
	hooks     *Hooks
	leader    Elector // nil: always the leader
	observer  Observer

	workers, messageWorkers int
	lease, jobTimeout       time.Duration
	provisionFor            time.Duration
	owner                   string // this process, as the holder of job leases

	typesMu sync.RWMutex
	types   map[JobKind]JobType

	holdMu sync.Mutex
	holds  map[int64]time.Duration // jobs whose outcome could not be recorded

	sweepLog                           sweepLog
	wakeSweep, wakeAccess, wakeMessage chan struct{}
	prep                               chan Membership // lookups ahead of approval (prepare.go)
	keyLocks                           sync.Map        // membership key → *sync.Mutex
}

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{
		store:     cfg.Store,
		clock:     cfg.Clock,
		log:       cfg.Log,
		groups:    cfg.Groups,
		providers: cfg.Providers,
		retry:     cfg.Retry,
		workers:   cfg.Workers,
		interval:  cfg.SweepInterval,
		warn:      cfg.WarnBefore,
		hooks:     cfg.Hooks,
		leader:    cfg.Leader,
		observer:  cfg.Observer,
		lease:     cfg.Lease,

		provisionFor: cfg.ProvisionFor,
		owner:        uuid.NewString(),
		types:        map[JobKind]JobType{},
		holds:        map[int64]time.Duration{},

		messageWorkers: cfg.MessageWorkers,
		wakeSweep:      make(chan struct{}, 1),
		wakeAccess:     make(chan struct{}, 1),
		wakeMessage:    make(chan struct{}, 1),
		prep:           make(chan Membership, prepareQueue),
	}
	if s.clock == nil {
		s.clock = clockwork.NewRealClock()
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.retry.MaxAttempts == 0 {
		s.retry = DefaultRetry
	}
	if s.workers <= 0 {
		s.workers = 8
	}
	if s.messageWorkers <= 0 {
		s.messageWorkers = 8
	}
	if s.lease <= 0 {
		s.lease = DefaultLease
	}
	// A job runs at most two thirds of its lease: it ends before another
	// worker could take it.
	s.jobTimeout = s.lease * 2 / 3
	if s.provisionFor <= 0 {
		s.provisionFor = 15 * time.Minute
	}
	if s.interval <= 0 {
		s.interval = 10 * time.Second
	}
	if s.warn <= 0 {
		s.warn = 15 * time.Minute
	}
	if s.providers == nil {
		s.providers = map[string]Provisioner{}
	}
	s.policy.Store(cfg.Policy)
	s.SetNotifier(cfg.Notifier)
	s.SetAlerter(cfg.Alerter)
	s.Register(JobProvision, JobType{Lane: LaneAccess, Run: s.provision, SelfComplete: true, Failed: s.grantJobFailed})
	s.Register(JobRevoke, JobType{Lane: LaneAccess, Run: s.revoke, SelfComplete: true, Failed: s.grantJobFailed})
	s.Register(JobNotify, JobType{Lane: LaneMessage, Run: s.deliver, Failed: s.notifyFailed})
	s.Register(JobAlert, JobType{Lane: LaneMessage, Run: s.deliverAlert})
	s.Register(JobEscalate, JobType{Lane: LaneMessage, Run: s.escalate})
	s.registerBreakGlass()
	return s
}

// Policy returns the policy in force.
func (s *Service) Policy() *policies.Policy { return s.policy.Load() }

// Clock returns the service's clock.
func (s *Service) Clock() clockwork.Clock { return s.clock }

// DefaultLease bounds how long a job claimed by a worker that died waits
// before another takes it; long enough for a provider call and its retries.
const DefaultLease = 90 * time.Second

// FrontEnd is what a chat front end gives the engine: it tells people what
// happened (Notifier), alerts IT (Alerter), and resolves the user groups
// the policy names (policies.GroupResolver).
type FrontEnd interface {
	Notifier
	Alerter
	policies.GroupResolver
}

// Attach installs the front end, built after the engine (it needs the
// engine). Safe to call while the engine runs.
func (s *Service) Attach(f FrontEnd) {
	s.groupsMu.Lock()
	s.groups = f
	s.groupsMu.Unlock()
	s.SetNotifier(f)
	s.SetAlerter(f)
}

// resolver returns the group resolver in force.
func (s *Service) resolver() policies.GroupResolver {
	s.groupsMu.RLock()
	defer s.groupsMu.RUnlock()
	return s.groups
}

// SetNotifier installs (or, with nil, removes) the notifier. It is safe to
// call while the engine runs: the Slack front end is built after the engine.
func (s *Service) SetNotifier(n Notifier) {
	if n == nil {
		s.notifier.Store(nil)
		return
	}
	s.notifier.Store(&notifierBox{n: n})
}

// notifierBox lets an interface value live in an atomic.Pointer.
type notifierBox struct{ n Notifier }

// SetAlerter installs (or, with nil, removes) the alerter. It is safe to call
// while the engine runs: the Slack front end is built after the engine.
func (s *Service) SetAlerter(a Alerter) {
	if a == nil {
		s.alerter.Store(nil)
		return
	}
	s.alerter.Store(&alerterBox{a: a})
}

// alerterBox lets an interface value live in an atomic.Pointer.
type alerterBox struct{ a Alerter }

// SetPolicy swaps the policy in force and records its hash in the audit
// trail. Pending requests for a resource it no longer has are ended then,
// with a sentence to their requesters and approvers (a failure to end them
// is logged: a click on one ends it too). Live grants on such resources
// are kept to their end (live.go).
func (s *Service) SetPolicy(ctx context.Context, p *policies.Policy) error {
	err := s.store.Update(ctx, func(tx Tx) error {
		return tx.Append(&Event{Time: s.now(), Actor: ActorSystem, Action: ActionPolicyLoaded,
			Data: map[string]string{"file": p.Source, "sha256": p.Hash}})
	})
	if err != nil {
		return err
	}
	s.policy.Store(p)
	if err := s.endGone(ctx); err != nil {
		s.log.Error("ending the pending requests for resources the policy removed", zap.Error(err))
	}
	return nil
}

func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Millisecond) }

// poke wakes the sweep and both lanes: new jobs or deadlines may exist.
func (s *Service) poke() {
	wake(s.wakeSweep)
	s.pokeLanes()
}

// Wake tells the engine's loops that new work may be due: call it after a
// transaction of your own that queued jobs with Enqueue or RaiseAlertTx.
func (s *Service) Wake() { s.poke() }

// pokeLanes wakes both lanes: new jobs may be due.
func (s *Service) pokeLanes() {
	wake(s.wakeAccess)
	wake(s.wakeMessage)
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
