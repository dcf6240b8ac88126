package approvals

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

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
