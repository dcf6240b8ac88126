package approvals

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jitbot/jitbot/policies"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
)

// RetryPolicy shapes the outbox worker's retries.
type RetryPolicy struct {
	Base        time.Duration // first delay
	Cap         time.Duration // largest delay
	MaxAttempts int           // then the job fails and IT is alerted
}

// DefaultRetry retries for about an hour before giving up.
var DefaultRetry = RetryPolicy{Base: 2 * time.Second, Cap: 10 * time.Minute, MaxAttempts: 12}

// delay returns the full-jitter backoff before attempt n+1.
func (p RetryPolicy) delay(n int) time.Duration {
	d := p.Base
	for i := 1; i < n && d < p.Cap; i++ {
		d *= 2
	}
	if d > p.Cap {
		d = p.Cap
	}
	// Half fixed, half random: never zero, never in lock-step.
	return d/2 + rand.N(d/2+1)
}

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
	// Lease is how long a claimed job is held before another worker may
	// take it (default 5m); a job runs at most half of it.
	Lease time.Duration
	// SweepInterval bounds how long the expiry loop sleeps even when the
	// next deadline is far away (default 10s): work queued by another
	// process (the CLI) is picked up within it.
	SweepInterval time.Duration
	// WarnBefore: requesters are warned this long before expiry (default
	// 15m, at most a quarter of the grant).
	WarnBefore time.Duration
	// Hooks lets tests stop the process at exact points. Nil in production.
	Hooks *Hooks
}

// Hooks are called at crash-sensitive points of the worker (tests only).
type Hooks struct {
	AfterProviderAdd    func(g *Grant)
	AfterProviderRemove func(g *Grant)
}

// Service is the engine: it files requests, records decisions, runs the
// outbox, and expires grants.
type Service struct {
	store     Store
	policy    atomic.Pointer[policies.Policy]
	clock     clockwork.Clock
	log       *zap.Logger
	groups    policies.GroupResolver
	providers map[string]Provisioner
	notifier  atomic.Pointer[notifierBox]
	alerter   atomic.Pointer[alerterBox]
	retry     RetryPolicy
	interval  time.Duration
	warn      time.Duration
	hooks     *Hooks

	workers, messageWorkers int
	lease, jobTimeout       time.Duration
	owner                   string // this process, as the holder of job leases

	typesMu sync.RWMutex
	types   map[JobKind]JobType

	holdMu sync.Mutex
	holds  map[int64]time.Duration // jobs whose outcome could not be recorded

	wakeSweep, wakeAccess, wakeMessage chan struct{}
	keyLocks                           sync.Map // membership key → *sync.Mutex
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
		lease:     cfg.Lease,
		owner:     uuid.NewString(),
		types:     map[JobKind]JobType{},
		holds:     map[int64]time.Duration{},

		messageWorkers: cfg.MessageWorkers,
		wakeSweep:      make(chan struct{}, 1),
		wakeAccess:     make(chan struct{}, 1),
		wakeMessage:    make(chan struct{}, 1),
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
		s.lease = 5 * time.Minute
	}
	s.jobTimeout = s.lease / 2
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
	return s
}

// Policy returns the policy in force.
func (s *Service) Policy() *policies.Policy { return s.policy.Load() }

// Clock returns the service's clock.
func (s *Service) Clock() clockwork.Clock { return s.clock }

// SetGroups installs the resolver of Slack user groups named in the policy.
func (s *Service) SetGroups(g policies.GroupResolver) { s.groups = g }

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

// SetPolicy swaps the policy in force and records its hash in the audit trail.
func (s *Service) SetPolicy(ctx context.Context, p *policies.Policy) error {
	err := s.store.Update(ctx, func(tx Tx) error {
		return tx.Append(&Event{Time: s.now(), Actor: ActorSystem, Action: ActionPolicyLoaded,
			Data: map[string]string{"file": p.Source, "sha256": p.Hash}})
	})
	if err != nil {
		return err
	}
	s.policy.Store(p)
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

// SubmitInput is a new request as a person files it.
type SubmitInput struct {
	Requester string
	Resource  string
	Duration  time.Duration
	Reason    string
	Ticket    string
	ExtendsID string // set by Extend
}

// Submit files a request. The policy decides its route; a request the policy
// refuses, or whose approvers resolve to nobody, is refused at once and
// recorded as refused. An auto-approved request is approved in the same
// transaction.
func (s *Service) Submit(ctx context.Context, in SubmitInput) (*Request, error) {
	in.Requester = strings.ToLower(strings.TrimSpace(in.Requester))
	in.Reason = strings.TrimSpace(in.Reason)
	in.Ticket = strings.TrimSpace(in.Ticket)
	p := s.Policy()
	if in.Duration <= 0 {
		return nil, Errorf(EInvalid, "say for how long you need access, for example 2h or 3d")
	}
	dec, err := p.Evaluate(ctx, policies.Query{Requester: in.Requester, Resource: in.Resource, Duration: in.Duration}, s.groups)
	if err == nil && in.Reason == "" {
		err = Errorf(EInvalid, "a reason is required")
	}
	if err == nil && dec.RequireTicket && in.Ticket == "" {
		err = Errorf(EInvalid, "rule %q requires a ticket reference", dec.Rule)
	}
	now := s.now()
	if err != nil {
		msg := err.Error()
		if ErrorCode(err) == "" {
			err = &Error{Code: EPolicy, Message: msg}
		}
		s.refused(ctx, in, msg, now)
		return nil, err
	}
	r := &Request{
		ID:            uuid.NewString(),
		Requester:     in.Requester,
		Resource:      in.Resource,
		Admin:         dec.Admin,
		Duration:      in.Duration,
		Reason:        in.Reason,
		Ticket:        in.Ticket,
		Rule:          dec.Rule,
		Notify:        dec.Notify,
		AllowSelf:     dec.AllowSelfApproval,
		ExtendsID:     in.ExtendsID,
		CorrelationID: uuid.NewString(),
		State:         StatePending,
		CreatedAt:     now,
		ExpiresAt:     now.Add(dec.RequestTTL),
		RemindAt:      now.Add(dec.RequestTTL / 2),
	}
	for _, st := range dec.Steps {
		r.Steps = append(r.Steps, Step{Terms: st.Terms, Approvers: st.Approvers, Quorum: st.Quorum})
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		if in.ExtendsID != "" {
			orig, err := tx.GetRequest(in.ExtendsID)
			if err != nil {
				return err
			}
			r.CorrelationID = orig.CorrelationID
		}
		if err := tx.InsertRequest(r); err != nil {
			return err
		}
		data := map[string]string{"duration": policies.FormatDuration(r.Duration), "steps": strconv.Itoa(len(r.Steps))}
		if r.Ticket != "" {
			data["ticket"] = r.Ticket
		}
		if r.ExtendsID != "" {
			data["extends"] = r.ExtendsID
		}
		if err := s.event(tx, r, r.Requester, ActionRequestSubmitted, r.Reason, data); err != nil {
			return err
		}
		if dec.AutoApprove {
			r.AutoApproved = true
			return s.approveTx(tx, r, ActorSystem, "auto-approved by rule "+dec.Rule, ActionRequestAutoApprove)
		}
		return s.notify(tx, r, NoteSubmitted)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("request submitted", zap.String("request_id", r.ID), zap.String("requester", r.Requester),
		zap.String("resource", r.Resource), zap.String("rule", r.Rule), zap.String("state", string(r.State)))
	s.poke()
	return r, nil
}

func (s *Service) refused(ctx context.Context, in SubmitInput, why string, now time.Time) {
	err := s.store.Update(ctx, func(tx Tx) error {
		return tx.Append(&Event{Time: now, Actor: in.Requester, Action: ActionRequestRefused,
			Subject: in.Requester, Resource: in.Resource, Reason: why, CorrelationID: uuid.NewString(),
			Data: map[string]string{"duration": policies.FormatDuration(in.Duration), "request_reason": in.Reason}})
	})
	if err != nil {
		s.log.Error("record refusal", zap.Error(err))
	}
}

// event appends an audit event about r.
func (s *Service) event(tx Tx, r *Request, actor, action, reason string, data map[string]string) error {
	return tx.Append(&Event{Time: s.now(), Actor: actor, Action: action, Subject: r.Requester,
		Resource: r.Resource, RequestID: r.ID, Reason: reason, Rule: r.Rule,
		CorrelationID: r.CorrelationID, Data: data})
}

func (s *Service) grantEvent(tx Tx, r *Request, g *Grant, action, reason string, data map[string]string) error {
	return tx.Append(&Event{Time: s.now(), Actor: ActorSystem, Action: action, Subject: g.Person,
		Resource: g.Resource, RequestID: g.RequestID, GrantID: g.ID, Reason: reason, Rule: r.Rule,
		CorrelationID: r.CorrelationID, Data: data})
}

// transition moves r to state to (compare-and-set) and appends its event.
func (s *Service) transition(tx Tx, r *Request, to State, actor, action, reason string, data map[string]string) error {
	from := r.State
	if !CanTransition(from, to) {
		return Errorf(EIllegalChange, "request %s is %s; it cannot become %s", short(r.ID), from, to)
	}
	r.State = to
	if reason != "" {
		r.StateReason = reason
	}
	if err := tx.UpdateRequest(r, from); err != nil {
		return err
	}
	return s.event(tx, r, actor, action, reason, data)
}

// approveTx approves r: grants per leaf membership and one provisioning job each.
func (s *Service) approveTx(tx Tx, r *Request, actor, reason, action string) error {
	now := s.now()
	r.DecidedAt, r.DecidedBy = now, actor
	if err := s.transition(tx, r, StateApproved, actor, action, reason, nil); err != nil {
		return err
	}
	leaves := s.Policy().Leaves(r.Resource)
	if len(leaves) == 0 {
		return Errorf(EPolicy, "resource %s is no longer in the catalogue", r.Resource)
	}
	for _, leaf := range leaves {
		g := &Grant{ID: uuid.NewString(), RequestID: r.ID, Person: r.Requester, Resource: leaf.ID,
			Provider: leaf.Provider, Group: leaf.Group, State: GrantProvisioning, CreatedAt: now, UpdatedAt: now}
		if err := tx.InsertGrant(g); err != nil {
			return err
		}
		if err := s.Enqueue(tx, &Job{Kind: JobProvision, Key: g.Membership().JobKey(), RequestID: r.ID, GrantID: g.ID, RunAt: now}); err != nil {
			return err
		}
	}
	return s.notify(tx, r, NoteApproved)
}

// Approve records approver's approval of the current step of request id.
// Who may approve is decided from the stored request only.
func (s *Service) Approve(ctx context.Context, id, approver, comment string) (*Request, error) {
	return s.decide(ctx, id, approver, true, comment)
}

// Decline declines request id on behalf of an approver of its current step.
func (s *Service) Decline(ctx context.Context, id, approver, reason string) (*Request, error) {
	return s.decide(ctx, id, approver, false, reason)
}

func (s *Service) decide(ctx context.Context, id, approver string, approve bool, reason string) (*Request, error) {
	approver = strings.ToLower(strings.TrimSpace(approver))
	var out *Request
	err := s.store.Update(ctx, func(tx Tx) error {
		r, err := tx.GetRequest(id)
		if err != nil {
			return notFound(err, id)
		}
		if err := s.mayDecide(r, approver); err != nil {
			return err
		}
		d := &Decision{RequestID: r.ID, Step: r.CurrentStep, Approver: approver, Approve: approve, Reason: reason, At: s.now()}
		if err := tx.InsertDecision(d); err != nil {
			if errors.Is(err, ErrDuplicate) {
				return Errorf(EAlreadyDone, "you already answered step %d of this request", r.CurrentStep+1)
			}
			return err
		}
		out = r
		if !approve {
			r.DecidedAt, r.DecidedBy = s.now(), approver
			if err := s.transition(tx, r, StateDeclined, approver, ActionRequestDeclined, reason,
				map[string]string{"step": strconv.Itoa(r.CurrentStep + 1)}); err != nil {
				return err
			}
			return s.notify(tx, r, NoteDeclined)
		}
		step := r.Steps[r.CurrentStep]
		ds, err := tx.Decisions(r.ID)
		if err != nil {
			return err
		}
		count := 0
		for _, d := range ds {
			if d.Step == r.CurrentStep && d.Approve {
				count++ // unique per (step, approver): distinct people
			}
		}
		data := map[string]string{"step": strconv.Itoa(r.CurrentStep + 1), "approvals": strconv.Itoa(count), "quorum": strconv.Itoa(step.Quorum)}
		if approver == r.Requester {
			data["self_approval"] = "allowed by rule"
		}
		if err := s.event(tx, r, approver, ActionApprovalRecorded, reason, data); err != nil {
			return err
		}
		if count < step.Quorum {
			// The request row is unchanged, but its version must still move
			// so that a concurrent decision on a stale read cannot win.
			if err := tx.UpdateRequest(r, r.State); err != nil {
				return err
			}
			return s.notify(tx, r, NoteApproval)
		}
		if r.CurrentStep+1 < len(r.Steps) {
			r.CurrentStep++
			if err := tx.UpdateRequest(r, StatePending); err != nil {
				return err
			}
			if err := s.event(tx, r, approver, ActionRequestAdvanced, "", map[string]string{"step": strconv.Itoa(r.CurrentStep + 1)}); err != nil {
				return err
			}
			return s.notify(tx, r, NoteAdvanced)
		}
		return s.approveTx(tx, r, approver, reason, ActionRequestApproved)
	})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, Errorf(EConflict, "this request changed while you were deciding; nothing was recorded, look again")
		}
		return nil, err
	}
	s.poke()
	return out, nil
}

// mayDecide checks that approver may decide the current step of r.
func (s *Service) mayDecide(r *Request, approver string) error {
	if r.State != StatePending {
		who := ""
		if r.DecidedBy != "" {
			who = " by " + r.DecidedBy
		}
		return Errorf(EConflict, "this request is already %s%s", r.State, who)
	}
	if approver == r.Requester && !r.AllowSelf {
		return Errorf(ESelfApproval, "you cannot decide your own request")
	}
	if contains(r.Steps[r.CurrentStep].Approvers, approver) {
		return nil
	}
	for i := r.CurrentStep + 1; i < len(r.Steps); i++ {
		if contains(r.Steps[i].Approvers, approver) {
			return Errorf(ENotApprover, "you approve step %d; the request is at step %d of %d", i+1, r.CurrentStep+1, len(r.Steps))
		}
	}
	return Errorf(ENotApprover, "you are not an approver of this request")
}

// MayDecide reports whether approver may decide request r now (for UIs).
func (s *Service) MayDecide(r *Request, approver string) error {
	return s.mayDecide(r, strings.ToLower(approver))
}

// Cancel withdraws a pending request; only its requester may.
func (s *Service) Cancel(ctx context.Context, id, by string) (*Request, error) {
	return s.update(ctx, id, func(tx Tx, r *Request) error {
		if !strings.EqualFold(by, r.Requester) {
			return Errorf(EForbidden, "only %s can cancel this request", r.Requester)
		}
		if r.State != StatePending {
			return Errorf(EConflict, "this request is %s; only a pending request can be cancelled", r.State)
		}
		if err := s.transition(tx, r, StateCancelled, strings.ToLower(by), ActionRequestCancelled, "cancelled by the requester", nil); err != nil {
			return err
		}
		return s.notify(tx, r, NoteCancelled)
	})
}

// Release ends a grant early at its requester's wish.
func (s *Service) Release(ctx context.Context, id, by string) (*Request, error) {
	return s.update(ctx, id, func(tx Tx, r *Request) error {
		if !strings.EqualFold(by, r.Requester) {
			return Errorf(EForbidden, "only %s can release this access", r.Requester)
		}
		return s.endTx(tx, r, StateReleased, strings.ToLower(by), ActionRequestReleased, "released early by the requester")
	})
}

// Revoke ends a grant on IT's authority (the CLI, or the Slack IT commands).
func (s *Service) Revoke(ctx context.Context, id, by, reason string) (*Request, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, Errorf(EInvalid, "a revocation needs a reason")
	}
	return s.update(ctx, id, func(tx Tx, r *Request) error {
		return s.endTx(tx, r, StateRevoked, by, ActionRequestRevoked, reason)
	})
}

// Extend files a new request for more time on an active grant, under the
// same rules as any request.
func (s *Service) Extend(ctx context.Context, id, by string, d time.Duration, reason string) (*Request, error) {
	var orig *Request
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		orig, err = tx.GetRequest(id)
		return notFound(err, id)
	})
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(by, orig.Requester) {
		return nil, Errorf(EForbidden, "only %s can extend this access", orig.Requester)
	}
	if orig.State != StateActive && orig.State != StateApproved {
		return nil, Errorf(EConflict, "this request is %s; only active access can be extended", orig.State)
	}
	if strings.TrimSpace(reason) == "" {
		reason = "extension of " + short(orig.ID) + ": " + orig.Reason
	}
	return s.Submit(ctx, SubmitInput{Requester: orig.Requester, Resource: orig.Resource, Duration: d,
		Reason: reason, Ticket: orig.Ticket, ExtendsID: orig.ID})
}

// endTx ends an approved or active request and queues its revocations.
func (s *Service) endTx(tx Tx, r *Request, to State, actor, action, reason string) error {
	if r.State != StateActive && r.State != StateApproved {
		return Errorf(EConflict, "this request is %s; there is no access to end", r.State)
	}
	r.EndedAt = s.now()
	if err := s.transition(tx, r, to, actor, action, reason, nil); err != nil {
		return err
	}
	return s.revokeGrantsTx(tx, r)
}

// revokeGrantsTx moves every live grant of r to revoking with a revoke job.
func (s *Service) revokeGrantsTx(tx Tx, r *Request) error {
	gs, err := tx.GrantsOf(r.ID)
	if err != nil {
		return err
	}
	now := s.now()
	for _, g := range gs {
		if g.State != GrantProvisioning && g.State != GrantActive {
			continue
		}
		from := g.State
		g.State, g.UpdatedAt = GrantRevoking, now
		if err := tx.UpdateGrant(g, from); err != nil {
			return err
		}
		if err := s.Enqueue(tx, &Job{Kind: JobRevoke, Key: g.Membership().JobKey(), RequestID: r.ID, GrantID: g.ID, RunAt: now}); err != nil {
			return err
		}
		// A provisioning retry waiting out its backoff would hold the
		// revocation queued behind it: let it run now and see the grant
		// is revoking.
		if err := tx.HurryGrantJobs(g.ID, now); err != nil {
			return err
		}
	}
	return nil
}

// update loads request id and runs fn on it in one transaction.
func (s *Service) update(ctx context.Context, id string, fn func(tx Tx, r *Request) error) (*Request, error) {
	var out *Request
	err := s.store.Update(ctx, func(tx Tx) error {
		r, err := tx.GetRequest(id)
		if err != nil {
			return notFound(err, id)
		}
		out = r
		return fn(tx, r)
	})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, Errorf(EConflict, "this request changed at the same moment; nothing was recorded, look again")
		}
		return nil, err
	}
	s.poke()
	return out, nil
}

// Get returns request id.
func (s *Service) Get(ctx context.Context, id string) (*Request, error) {
	var r *Request
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		r, err = tx.GetRequest(id)
		return notFound(err, id)
	})
	return r, err
}

// RequestView is a request with everything its messages show, read in one
// transaction so that no part is newer than another.
type RequestView struct {
	Request   *Request
	Grants    []*Grant
	Decisions []*Decision
	// OtherActive are the requester's other active requests.
	OtherActive []*Request
}

// Snapshot reads request id and what is shown with it, at one instant.
func (s *Service) Snapshot(ctx context.Context, id string) (*RequestView, error) {
	v := &RequestView{}
	err := s.store.View(ctx, func(tx Tx) error {
		r, err := tx.GetRequest(id)
		if err != nil {
			return notFound(err, id)
		}
		v.Request = r
		if v.Grants, err = tx.GrantsOf(r.ID); err != nil {
			return err
		}
		if v.Decisions, err = tx.Decisions(r.ID); err != nil {
			return err
		}
		active, err := tx.ListRequests(RequestFilter{Requester: r.Requester, States: []State{StateActive}})
		if err != nil {
			return err
		}
		for _, o := range active {
			if o.ID != r.ID {
				v.OtherActive = append(v.OtherActive, o)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Grants returns the grants of request id.
func (s *Service) Grants(ctx context.Context, id string) ([]*Grant, error) {
	var gs []*Grant
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		gs, err = tx.GrantsOf(id)
		return err
	})
	return gs, err
}

// Decisions returns the approvers' answers on request id, in step order.
func (s *Service) Decisions(ctx context.Context, id string) ([]*Decision, error) {
	var ds []*Decision
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		ds, err = tx.Decisions(id)
		return err
	})
	return ds, err
}

// List returns requests matching f.
func (s *Service) List(ctx context.Context, f RequestFilter) ([]*Request, error) {
	var rs []*Request
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		rs, err = tx.ListRequests(f)
		return err
	})
	return rs, err
}

func notFound(err error, id string) error {
	if errors.Is(err, ErrNotFound) {
		return Errorf(ENotFound, "no request %s", id)
	}
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// short returns the first block of a uuid, the form people see.
func short(id string) string {
	if i := strings.IndexByte(id, '-'); i > 0 {
		return id[:i]
	}
	return id
}

// Short is the short form of a request id shown to people.
func Short(id string) string { return short(id) }
