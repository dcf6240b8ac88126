package approvals

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// membershipRecord returns the bot's record of m, or nil when it has none.
func membershipRecord(tx Tx, m Membership) (*MembershipRecord, error) {
	rec, err := tx.GetMembership(m)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return rec, err
}

// lockKey serialises, within this process, the provider calls and records
// of one membership (jobs, reconciliation).
func (s *Service) lockKey(key string) func() {
	v, _ := s.keyLocks.LoadOrStore(key, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
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
		return Permanent(err) // nothing was added: failing is safe
	}
	var rec *MembershipRecord
	if err := s.store.View(ctx, func(tx Tx) error {
		rec, err = membershipRecord(tx, m)
		return err
	}); err != nil {
		return err
	}
	standing := false
	switch {
	case rec == nil:
		standing, err = s.addFirst(ctx, j, r, g, m, prov)
		if err != nil {
			return err
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
	err = s.record(ctx, func(tx Tx) error {
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
		if err := s.startClock(tx, g.RequestID, "its first membership is in"); err != nil {
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

// addFirst provisions m when jitbot has no record of it: it writes its
// intent (origin bot) to disk, adds, and learns from the add whether the
// membership was there before (an Adder's answer: one provider call where
// asking first takes two; else IsMember, then AddMember). "Already a
// member" makes the record standing, on disk too, only when nothing else
// can have added it: this is the job's first claim and no worker has taken
// the job since (a lease that ran out while the add was under way lets
// another process do the same job, and its add must not read as standing
// access). Otherwise jitbot keeps it as its own, to be removed at the
// deadline, and alerts IT.
func (s *Service) addFirst(ctx context.Context, j *Job, r *Request, g *Grant, m Membership, prov Provisioner) (standing bool, err error) {
	inserted := false
	origin := OriginBot
	if err := s.durable(ctx, func(tx Tx) error {
		inserted, err = tx.InsertMembership(&MembershipRecord{Membership: m, Origin: OriginBot, Since: s.now()})
		if err != nil || inserted {
			return err
		}
		existing, err := tx.GetMembership(m)
		if err != nil {
			return err
		}
		origin = existing.Origin
		return nil
	}); err != nil {
		return false, err
	}
	if origin == OriginStanding {
		return true, nil // another process recorded it meanwhile
	}
	already, err := add(ctx, prov, m)
	if err != nil || !already || !inserted {
		return false, err
	}
	// Durable: a lost commit would leave the bot's record, and the
	// standing access would be removed at the deadline.
	err = s.durable(ctx, func(tx Tx) error {
		held, err := tx.HoldsJob(j.ID, j.Claims)
		if err != nil {
			return err
		}
		if j.Claims == 1 && held {
			if err := tx.DeleteMembership(m); err != nil {
				return err
			}
			_, err := tx.InsertMembership(&MembershipRecord{Membership: m, Origin: OriginStanding, Since: s.now()})
			standing = err == nil
			return err
		}
		doubt := fmt.Sprintf("%s was already in %s when jitbot added them for request %s, and jitbot has no record of who added it: "+
			"an earlier attempt of the same change may have. jitbot will remove it when the grant ends; if it was there before the grant, add it back then",
			m.Person, m.Group, short(r.ID))
		return s.RaiseAlertTx(tx, r.ID, m.Person, doubt, map[string]string{"grant_id": g.ID})
	})
	if err != nil {
		return false, err
	}
	return standing, nil
}

// setClock starts r's grant time now.
func (s *Service) setClock(r *Request) {
	now := s.now()
	r.StartsAt, r.EndsAt = now, now.Add(r.Duration)
	warn := s.warn
	if warn > r.Duration/4 {
		warn = r.Duration / 4
	}
	r.WarnAt = r.EndsAt.Add(-warn)
}

// startClock starts the grant time of an approved request whose clock has
// not started: access counts from the first moment the person has any of
// it — a bundle's first membership, or a membership kept for the request
// when an earlier grant of it ended — not from when the last one is in.
func (s *Service) startClock(tx Tx, requestID, why string) error {
	r, err := tx.GetRequest(requestID)
	if err != nil {
		return err
	}
	if r.State != StateApproved || !r.StartsAt.IsZero() {
		return nil
	}
	gs, err := tx.GrantsOf(r.ID)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(gs, func(g *Grant) bool { return g.State != GrantActive }) {
		return nil // the last one is in: activation starts the clock
	}
	return s.setClockTx(tx, r, why)
}

// startClockKept starts the clock of an approved request whose membership
// was kept for it when an earlier grant ended.
func (s *Service) startClockKept(tx Tx, requestID, why string) error {
	r, err := tx.GetRequest(requestID)
	if err != nil {
		return err
	}
	if r.State != StateApproved || !r.StartsAt.IsZero() {
		return nil
	}
	return s.setClockTx(tx, r, why)
}

func (s *Service) setClockTx(tx Tx, r *Request, why string) error {
	s.setClock(r)
	if err := tx.UpdateRequest(r, StateApproved); err != nil {
		return err
	}
	return s.event(tx, r, ActorSystem, ActionClockStarted, why, map[string]string{"ends_at": r.EndsAt.Format(time.RFC3339)})
}

// record writes what a finished access change did, in a transaction shared
// with others made at the same moment where the store can (SharedUpdater).
func (s *Service) record(ctx context.Context, fn func(tx Tx) error) error {
	if sh, ok := s.store.(SharedUpdater); ok {
		return sh.UpdateShared(ctx, fn)
	}
	return s.store.Update(ctx, fn)
}

// durable runs fn in a transaction that is on disk when it returns, where
// the store can (DurableUpdater).
func (s *Service) durable(ctx context.Context, fn func(tx Tx) error) error {
	if d, ok := s.store.(DurableUpdater); ok {
		return d.UpdateDurable(ctx, fn)
	}
	return s.store.Update(ctx, fn)
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
	if r.StartsAt.IsZero() {
		s.setClock(r)
	}
	if err := s.transition(tx, r, StateActive, ActorSystem, ActionRequestActivated, "",
		map[string]string{"ends_at": r.EndsAt.Format(time.RFC3339)}); err != nil {
		return err
	}
	return s.notify(tx, r, NoteActivated)
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

// provider returns the provider called name, or an error saying the
// process has none (it was not configured when jitbot started). Callers
// decide what that means: a provisioning fails, a removal waits.
func (s *Service) provider(name string) (Provisioner, error) {
	p, ok := s.providers[name]
	if !ok {
		return nil, fmt.Errorf("no provider %q is configured", name)
	}
	return p, nil
}

// noProviderWait is how long a removal whose provider is not configured
// waits before it looks again (configuring it takes a restart).
const noProviderWait = time.Minute
