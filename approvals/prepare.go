package approvals

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// prepareQueue bounds the lookups waiting to be made; past it, a filing is
// not prepared (the change looks its ids up when it comes).
const prepareQueue = 4096

// prepareTimeout bounds one lookup.
const prepareTimeout = 30 * time.Second

// prepare asks the providers of r's memberships that can look up ahead
// (Preparer) to do so, while r waits for its approvers: the approval then
// waits for the add alone. It never blocks and never fails the filing.
func (s *Service) prepare(r *Request) {
	if r.State != StatePending {
		return
	}
	for _, leaf := range s.Policy().Leaves(r.Resource) {
		if _, ok := s.providers[leaf.Provider].(Preparer); !ok {
			continue
		}
		select {
		case s.prep <- Membership{Provider: leaf.Provider, Group: leaf.Group, Person: r.Requester}:
		default:
			return
		}
	}
}

// runPrepare makes the lookups prepare queued, one at a time: under a
// provider's rate limit a lookup then holds at most one of its tokens, and
// the access changes keep the rest.
func (s *Service) runPrepare(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-s.prep:
			p, _ := s.providers[m.Provider].(Preparer)
			if p == nil {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, prepareTimeout)
			err := p.Prepare(cctx, m)
			cancel()
			if err != nil && ctx.Err() == nil {
				s.log.Info("could not look up a membership ahead of its approval; it will be looked up when approved",
					zap.String("provider", m.Provider), zap.String("group", m.Group), zap.String("person", m.Person), zap.Error(err))
			}
		}
	}
}
