package approvals

import (
	"context"

	"go.uber.org/zap"
)

// Elector chooses the one process, among several replicas of jitbot on one
// database, that runs the work that must happen in one place only: the
// expiry sweep, drift reconciliation, review scheduling and the daily
// audit anchor. Every replica works the job lanes; only the leader sweeps.
//
// The PostgreSQL store's Elector holds a lease row; a single process on
// SQLite is always the leader (AlwaysLeader).
type Elector interface {
	// Lead calls fn each time this process becomes the leader, with a
	// context that ends when it stops being the leader (or ctx ends), and
	// returns when ctx ends. fn must return soon after its context ends:
	// another replica may already be the leader.
	Lead(ctx context.Context, fn func(ctx context.Context)) error
}

// AlwaysLeader is the Elector of a process that works its database alone
// (SQLite, which takes a lock file for it): it leads from the start.
type AlwaysLeader struct{}

// Lead runs fn once with ctx.
func (AlwaysLeader) Lead(ctx context.Context, fn func(ctx context.Context)) error {
	fn(ctx)
	return nil
}

// leadSweep is the sweep loop of a replica: whenever it becomes the
// leader, a start-up sweep (the last leader may have died with deadlines
// past due), then the loop until it stops leading.
func (s *Service) leadSweep(ctx context.Context) {
	err := s.leader.Lead(ctx, func(ctx context.Context) {
		s.log.Info("leader: sweeping")
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("start-up sweep", zap.Error(err))
		}
		s.sweepLoop(ctx)
		s.log.Info("no longer the leader: sweep stopped")
	})
	if err != nil && ctx.Err() == nil {
		s.log.Error("leader election", zap.Error(err))
	}
}
