package approvals

import (
	"context"
	"errors"
	"strings"
)

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

// GetMany returns the requests ids, in their order, in one read.
func (s *Service) GetMany(ctx context.Context, ids []string) ([]*Request, error) {
	out := make([]*Request, 0, len(ids))
	err := s.store.View(ctx, func(tx Tx) error {
		out = out[:0]
		for _, id := range ids {
			r, err := tx.GetRequest(id)
			if err != nil {
				return notFound(err, id)
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// RequestView is a request with everything its messages show, read in one
// transaction so that no part is newer than another.
type RequestView struct {
	Request   *Request
	Grants    []*Grant
	Decisions []*Decision
	// OtherActive are the requester's other active requests.
	OtherActive []*Request
	// Filing says who filed it for the requester and whether it was
	// break-glass (zero but its id when plainly filed).
	Filing *Filing
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
		if v.Filing, err = filingOf(tx, r.ID); err != nil {
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
