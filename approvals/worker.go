package approvals

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// jobBatch is how many due jobs the worker reads at a time.
const jobBatch = 256

// RunJobs performs every outbox job that is due, until none is left, with
// up to Workers jobs at once. Jobs of one membership run one at a time.
// It returns the number of jobs attempted.
func (s *Service) RunJobs(ctx context.Context) (int, error) {
	total := 0
	for {
		var jobs []*Job
		err := s.store.View(ctx, func(tx Tx) error {
			var err error
			jobs, err = tx.DueJobs(s.now(), jobBatch)
			return err
		})
		if err != nil || len(jobs) == 0 {
			return total, err
		}
		total += len(jobs)
		work := make(chan *Job)
		var wg sync.WaitGroup
		for i := 0; i < s.workers && i < len(jobs); i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range work {
					s.runJob(ctx, j)
				}
			}()
		}
		for _, j := range jobs {
			work <- j
		}
		close(work)
		wg.Wait()
		if ctx.Err() != nil {
			return total, ctx.Err()
		}
		// Jobs create jobs (a provision queues a notification): go again
		// until nothing is due. Retried jobs wait in the future.
	}
}

func (s *Service) lockKey(key string) func() {
	v, _ := s.keyLocks.LoadOrStore(key, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func (s *Service) runJob(ctx context.Context, j *Job) {
	var err error
	switch j.Kind {
	case JobProvision:
		err = s.provision(ctx, j)
	case JobRevoke:
		err = s.revoke(ctx, j)
	case JobNotify:
		err = s.deliver(ctx, j)
	default:
		err = Permanent(fmt.Errorf("unknown job kind %q", j.Kind))
	}
	if err == nil || ctx.Err() != nil {
		return
	}
	s.jobFailed(ctx, j, err)
}

// provision performs a provisioning job: it records its intent before it
// calls the provider, so a crash at any point converges on retry without a
// second membership change.
func (s *Service) provision(ctx context.Context, j *Job) error {
	g, r, err := s.jobGrant(ctx, j)
	if err != nil {
		return err
	}
	if g == nil || g.State != GrantProvisioning {
		return s.completeJob(ctx, j) // revoked before it was provisioned, or done already
	}
	m := g.Membership()
	defer s.lockKey(m.Key())()
	prov, err := s.provider(m.Provider)
	if err != nil {
		return err
	}
	var rec *MembershipRecord
	if err := s.store.View(ctx, func(tx Tx) error {
		rec, err = tx.GetMembership(m)
		if errors.Is(err, ErrNotFound) {
			rec, err = nil, nil
		}
		return err
	}); err != nil {
		return err
	}
	standing := false
	switch {
	case rec == nil:
		member, err := prov.IsMember(ctx, m)
		if err != nil {
			return err
		}
		origin := OriginBot
		if member {
			origin, standing = OriginStanding, true
		}
		if err := s.store.Update(ctx, func(tx Tx) error {
			return tx.PutMembership(&MembershipRecord{Membership: m, Origin: origin, Since: s.now()})
		}); err != nil {
			return err
		}
		if !member {
			if err := prov.AddMember(ctx, m); err != nil {
				return err
			}
		}
	case rec.Origin == OriginStanding:
		standing = true
	default:
		// The bot added it, or meant to before a crash: adding again is
		// idempotent and makes sure it is really there.
		if err := prov.AddMember(ctx, m); err != nil {
			return err
		}
	}
	if s.hooks != nil && s.hooks.AfterProviderAdd != nil {
		s.hooks.AfterProviderAdd(g)
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		g, err := tx.GetGrant(g.ID)
		if err != nil {
			return err
		}
		if err := tx.CompleteJob(j.ID); err != nil {
			return err
		}
		if g.State != GrantProvisioning {
			return nil // revoked meanwhile; its revoke job will see the membership record
		}
		g.State, g.Standing, g.UpdatedAt = GrantActive, standing, s.now()
		if err := tx.UpdateGrant(g, GrantProvisioning); err != nil {
			return err
		}
		data := map[string]string{"provider": g.Provider, "group": g.Group}
		if standing {
			data["standing"] = "already a member before this grant; it will not be removed"
		}
		if err := s.grantEvent(tx, r, g, ActionGrantProvisioned, "", data); err != nil {
			return err
		}
		return s.maybeActivate(tx, g.RequestID)
	})
	if err == nil {
		s.log.Info("provisioned", zap.String("request_id", g.RequestID), zap.String("grant_id", g.ID),
			zap.String("group", g.Group), zap.Bool("standing", standing))
		s.poke()
	}
	return err
}

// maybeActivate activates an approved request once all its grants are active.
func (s *Service) maybeActivate(tx Tx, requestID string) error {
	r, err := tx.GetRequest(requestID)
	if err != nil {
		return err
	}
	if r.State != StateApproved {
		return nil
	}
	gs, err := tx.GrantsOf(r.ID)
	if err != nil {
		return err
	}
	for _, g := range gs {
		if g.State != GrantActive {
			return nil
		}
	}
	now := s.now()
	r.StartsAt, r.EndsAt = now, now.Add(r.Duration)
	warn := s.warn
	if warn > r.Duration/4 {
		warn = r.Duration / 4
	}
	r.WarnAt = r.EndsAt.Add(-warn)
	if err := s.transition(tx, r, StateActive, ActorSystem, ActionRequestActivated, "",
		map[string]string{"ends_at": r.EndsAt.Format(time.RFC3339)}); err != nil {
		return err
	}
	return s.notify(tx, r, NoteActivated)
}

// revoke performs a revocation job. The membership is removed only when no
// other live grant covers it and the bot added it.
func (s *Service) revoke(ctx context.Context, j *Job) error {
	g, r, err := s.jobGrant(ctx, j)
	if err != nil {
		return err
	}
	if g == nil || g.State != GrantRevoking {
		return s.completeJob(ctx, j)
	}
	m := g.Membership()
	defer s.lockKey(m.Key())()
	var (
		covering []*Grant
		rec      *MembershipRecord
	)
	if err := s.store.View(ctx, func(tx Tx) error {
		var err error
		if covering, err = tx.CoveringGrants(m, g.ID); err != nil {
			return err
		}
		rec, err = tx.GetMembership(m)
		if errors.Is(err, ErrNotFound) {
			rec, err = nil, nil
		}
		return err
	}); err != nil {
		return err
	}
	note, action, remove := "", ActionGrantKept, false
	switch {
	case len(covering) > 0:
		note = "kept: still covered by request " + short(covering[0].RequestID)
	case rec != nil && rec.Origin == OriginStanding:
		note = "kept: standing access from before the grant"
	case rec == nil:
		note = "nothing to remove: the bot never added this membership"
	default:
		note, action, remove = "removed", ActionGrantRemoved, true
	}
	if remove {
		prov, err := s.provider(m.Provider)
		if err != nil {
			return err
		}
		if err := prov.RemoveMember(ctx, m); err != nil {
			return err
		}
		if s.hooks != nil && s.hooks.AfterProviderRemove != nil {
			s.hooks.AfterProviderRemove(g)
		}
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		if err := tx.CompleteJob(j.ID); err != nil {
			return err
		}
		if len(covering) == 0 && rec != nil {
			if err := tx.DeleteMembership(m); err != nil {
				return err
			}
		}
		g.State, g.Note, g.UpdatedAt = GrantEnded, note, s.now()
		if err := tx.UpdateGrant(g, GrantRevoking); err != nil {
			return err
		}
		if err := s.grantEvent(tx, r, g, action, note, map[string]string{"provider": g.Provider, "group": g.Group}); err != nil {
			return err
		}
		return s.maybeEnded(tx, r.ID)
	})
	if err == nil {
		s.log.Info("revocation done", zap.String("request_id", g.RequestID), zap.String("grant_id", g.ID),
			zap.String("group", g.Group), zap.String("note", note))
	}
	return err
}

// maybeEnded tells the requester once every grant of an ended request is out.
func (s *Service) maybeEnded(tx Tx, requestID string) error {
	gs, err := tx.GrantsOf(requestID)
	if err != nil {
		return err
	}
	for _, g := range gs {
		if g.State == GrantRevoking || g.State == GrantProvisioning || g.State == GrantActive {
			return nil
		}
	}
	r, err := tx.GetRequest(requestID)
	if err != nil {
		return err
	}
	return s.notify(tx, r, NoteEnded)
}

func (s *Service) deliver(ctx context.Context, j *Job) error {
	if s.notifier != nil {
		if err := s.notifier.Notify(ctx, Notification{Kind: j.Payload, RequestID: j.RequestID, JobID: j.ID}); err != nil {
			return err
		}
	}
	return s.completeJob(ctx, j)
}

func (s *Service) completeJob(ctx context.Context, j *Job) error {
	return s.store.Update(ctx, func(tx Tx) error { return tx.CompleteJob(j.ID) })
}

func (s *Service) jobGrant(ctx context.Context, j *Job) (*Grant, *Request, error) {
	var (
		g *Grant
		r *Request
	)
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		if g, err = tx.GetGrant(j.GrantID); err != nil {
			if errors.Is(err, ErrNotFound) {
				g = nil
				return nil
			}
			return err
		}
		r, err = tx.GetRequest(g.RequestID)
		return err
	})
	return g, r, err
}

func (s *Service) provider(name string) (Provisioner, error) {
	p, ok := s.providers[name]
	if !ok {
		return nil, Permanent(fmt.Errorf("no provider %q is configured", name))
	}
	return p, nil
}

// jobFailed schedules a retry with backoff, or, for a permanent error or
// the last attempt, fails the job, its grant and (for provisioning) its
// request, and raises an alert.
func (s *Service) jobFailed(ctx context.Context, j *Job, cause error) {
	attempts := j.Attempts + 1
	final := IsPermanent(cause) || attempts >= s.retry.MaxAttempts
	msg := cause.Error()
	log := s.log.With(zap.Int64("job_id", j.ID), zap.String("kind", string(j.Kind)),
		zap.String("request_id", j.RequestID), zap.Int("attempt", attempts))
	alert := "" // the reason of the alert.raised event, once recorded
	err := s.store.Update(ctx, func(tx Tx) error {
		alert = "" // the transaction function may run again
		r, err := tx.GetRequest(j.RequestID)
		if err != nil {
			return err
		}
		if !final {
			if err := tx.RetryJob(j.ID, attempts, s.now().Add(s.retry.delay(attempts)), msg); err != nil {
				return err
			}
			return s.event(tx, r, ActorSystem, ActionJobRetry, msg,
				map[string]string{"job": string(j.Kind), "grant_id": j.GrantID, "attempt": fmt.Sprint(attempts)})
		}
		if err := tx.FailJob(j.ID, msg); err != nil {
			return err
		}
		if j.Kind == JobNotify {
			reason := "notification could not be delivered: " + msg
			if err := s.event(tx, r, ActorSystem, ActionAlert, reason,
				map[string]string{"notification": j.Payload}); err != nil {
				return err
			}
			alert = reason
			return nil
		}
		g, err := tx.GetGrant(j.GrantID)
		if err != nil {
			return err
		}
		from := g.State
		g.State, g.Note, g.UpdatedAt = GrantFailed, msg, s.now()
		if err := tx.UpdateGrant(g, from); err != nil {
			return err
		}
		if err := s.grantEvent(tx, r, g, ActionGrantFailed, msg, map[string]string{"job": string(j.Kind), "attempts": fmt.Sprint(attempts)}); err != nil {
			return err
		}
		reason := fmt.Sprintf("%s of %s to %s for %s failed: %s", j.Kind, g.Person, g.Group, short(r.ID), msg)
		if j.Kind == JobRevoke {
			reason = fmt.Sprintf("could not remove %s from %s (request %s): %s — the membership may still be there", g.Person, g.Group, short(r.ID), msg)
		}
		if err := s.event(tx, r, ActorSystem, ActionAlert, reason, map[string]string{"grant_id": g.ID}); err != nil {
			return err
		}
		alert = reason
		if j.Kind == JobProvision && r.State == StateApproved {
			if err := s.transition(tx, r, StateFailed, ActorSystem, ActionRequestFailed, msg, nil); err != nil {
				return err
			}
			// A bundle must not be left half provisioned.
			if err := s.revokeGrantsTx(tx, r); err != nil {
				return err
			}
		}
		return s.notify(tx, r, NoteFailed)
	})
	if err != nil {
		log.Error("record job failure", zap.Error(err), zap.NamedError("cause", cause))
		return
	}
	if final {
		log.Error("job failed", zap.Error(cause))
		if alert != "" {
			s.alert(ctx, j.RequestID, alert)
		}
	} else {
		log.Warn("job will be retried", zap.Error(cause))
	}
}
