package approvals

import (
	"context"

	"go.uber.org/zap"
)

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
	covering, rec, err := s.coverage(ctx, m, g.ID)
	if err != nil {
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
			// Never given up on for want of configuration: the membership
			// would stay for good. It waits, and start-up alerted IT.
			return Later(s.now().Add(noProviderWait), err.Error()+": the removal waits until it is configured (then restart jitbot)")
		}
		if err := prov.RemoveMember(ctx, m); err != nil {
			return err
		}
		if s.hooks != nil && s.hooks.AfterProviderRemove != nil {
			s.hooks.AfterProviderRemove(g)
		}
	}
	err = s.record(ctx, func(tx Tx) error {
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
		if len(covering) > 0 {
			// A later grant that is approved but not yet provisioned keeps
			// the membership: the person has that access from now, so its
			// clock starts now, not when its own add finally runs.
			now, err := tx.CoveringGrants(m, g.ID)
			if err != nil {
				return err
			}
			for _, c := range now {
				if c.State == GrantProvisioning {
					if err := s.startClockKept(tx, c.RequestID, "the membership was kept for it when request "+short(r.ID)+" ended"); err != nil {
						return err
					}
				}
			}
		}
		return s.maybeEnded(tx, r.ID)
	})
	if err == nil && remove && s.observer != nil {
		due := r.EndedAt
		if r.State == StateExpired && !r.EndsAt.IsZero() {
			due = r.EndsAt
		}
		s.observer.Removed(s.now().Sub(due))
	}
	if err == nil {
		s.log.Info("revocation done", zap.String("request_id", g.RequestID), zap.String("grant_id", g.ID),
			zap.String("group", g.Group), zap.String("note", note))
	}
	return err
}

// maybeEnded tells the requester once every grant of an ended request is out.
func (s *Service) maybeEnded(tx Tx, requestID string) error {
	live, err := tx.RequestLive(requestID)
	if err != nil || live {
		return err
	}
	r, err := tx.GetRequest(requestID)
	if err != nil {
		return err
	}
	return s.notify(tx, r, NoteEnded)
}
