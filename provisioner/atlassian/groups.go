package atlassian

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/jitbot/jitbot/approvals"
	"go.uber.org/zap"
)

// NoGroupError says a group does not exist, or no longer does. Both
// providers return it marked approvals.Permanent: retrying cannot bring a
// group back.
type NoGroupError struct {
	Group string
	// Where completes the sentence: "on https://example.atlassian.net",
	// "in organisation 7a1b…".
	Where string
	// Deleted says the group existed when jitbot last looked.
	Deleted bool
}

func (e *NoGroupError) Error() string {
	if e.Deleted {
		return fmt.Sprintf("group %s was deleted (it is no longer %s)", e.Group, e.Where)
	}
	return fmt.Sprintf("group %s does not exist %s", e.Group, e.Where)
}

// IsNoGroup reports whether err says a group does not exist.
func IsNoGroup(err error) bool {
	var ng *NoGroupError
	return errors.As(err, &ng)
}

// GroupLookup finds groups by name. The answer maps each name it found,
// lowercased, to every group of that name (more than one only where names
// are unique per directory and several directories are searched).
type GroupLookup[G any] func(ctx context.Context, names []string) (map[string][]G, error)

// Groups remembers group ids (of type G: an id, or an id and a directory)
// by name, compared case-insensitively, and looks up a group it does not
// know. It is safe for concurrent use.
type Groups[G any] struct {
	lookup GroupLookup[G]
	where  string
	// ambiguous words the error for a name that matches several groups.
	ambiguous func(name string, n int) error

	mu sync.RWMutex
	m  map[string]G
}

// NewGroups returns an empty cache over lookup. where completes "group X
// does not exist …"; ambiguous (nil when names are unique) words the error
// for a name that matches n > 1 groups.
func NewGroups[G any](lookup GroupLookup[G], where string, ambiguous func(name string, n int) error) *Groups[G] {
	return &Groups[G]{lookup: lookup, where: where, ambiguous: ambiguous, m: map[string]G{}}
}

// Lookup asks the API for names and remembers every name that matched
// exactly one group.
func (c *Groups[G]) Lookup(ctx context.Context, names []string) (map[string][]G, error) {
	found, err := c.lookup(ctx, names)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	for n, gs := range found {
		if len(gs) == 1 {
			c.m[strings.ToLower(n)] = gs[0]
		}
	}
	c.mu.Unlock()
	return found, nil
}

// Check looks every name up and says, in one error, which do not exist or
// are ambiguous.
func (c *Groups[G]) Check(ctx context.Context, names []string) error {
	found, err := c.Lookup(ctx, names)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range Dedupe(names) {
		if err := c.pick(n, found[strings.ToLower(n)]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Get returns the group called name, from memory or else from the API. A
// group that does not exist, or is ambiguous, is a permanent error (a
// *NoGroupError for the first).
func (c *Groups[G]) Get(ctx context.Context, name string) (G, error) {
	c.mu.RLock()
	g, ok := c.m[strings.ToLower(name)]
	c.mu.RUnlock()
	if ok {
		return g, nil
	}
	found, err := c.Lookup(ctx, []string{name})
	if err != nil {
		var zero G
		return zero, err
	}
	gs := found[strings.ToLower(name)]
	if err := c.pick(name, gs); err != nil {
		var zero G
		return zero, approvals.Permanent(err)
	}
	return gs[0], nil
}

// Refresh forgets what it knew of name and looks it up again; exists is
// false when no single group has that name any more. After a 404 it tells
// "the group was deleted" from "the account is unknown".
func (c *Groups[G]) Refresh(ctx context.Context, name string) (g G, exists bool, err error) {
	c.mu.Lock()
	delete(c.m, strings.ToLower(name))
	c.mu.Unlock()
	found, err := c.Lookup(ctx, []string{name})
	if err != nil {
		return g, false, err
	}
	gs := found[strings.ToLower(name)]
	if len(gs) != 1 {
		return g, false, nil
	}
	return gs[0], true, nil
}

// Deleted is the permanent error for a group that existed and is gone,
// carrying what the API answered.
func (c *Groups[G]) Deleted(name string, answer *Error) error {
	return approvals.Permanent(answer.WithReason((&NoGroupError{Group: name, Where: c.where, Deleted: true}).Error()))
}

// Gone is the permanent *NoGroupError for a group that was deleted, when
// there is no API answer to carry.
func (c *Groups[G]) Gone(name string) error {
	return approvals.Permanent(&NoGroupError{Group: name, Where: c.where, Deleted: true})
}

// pick says what is wrong with the groups found for name, if anything.
func (c *Groups[G]) pick(name string, gs []G) error {
	switch {
	case len(gs) == 0:
		return &NoGroupError{Group: name, Where: c.where}
	case len(gs) > 1 && c.ambiguous != nil:
		return c.ambiguous(name, len(gs))
	}
	return nil
}

// RemoveSteps are a provider's halves of removing a membership; the
// algorithm around them is RemoveMember.
type RemoveSteps struct {
	// API names who refused in errors ("jira", "the Admin API"); Checker
	// what confirmed ("the member list", "a search").
	API, Checker string
	// Resolve finds the group's and the account's ids. A *NoGroupError
	// means there is nothing to remove.
	Resolve func(ctx context.Context) error
	// Delete asks the API to remove the membership.
	Delete func(ctx context.Context) error
	// Confirm, after the API refused with 400 or 404, reports whether the
	// person is still a member, or that the group itself is gone.
	Confirm func(ctx context.Context) (member, groupGone bool, err error)
}

// RemoveMember removes m through s, idempotently: a group that no longer
// exists has no members to remove; when the API refuses with 400 or 404,
// Confirm decides, and "not a member" is success. A refusal while the
// person is still a member is not permanent, so the worker retries, then
// alerts.
func RemoveMember(ctx context.Context, log *zap.Logger, m approvals.Membership, s RemoveSteps) error {
	fields := []zap.Field{zap.String("group", m.Group), zap.String("person", m.Person)}
	if err := s.Resolve(ctx); IsNoGroup(err) {
		log.Warn("group no longer exists: nothing to remove", fields...)
		return nil
	} else if err != nil {
		return err
	}
	err := s.Delete(ctx)
	if err == nil {
		log.Info("removed from group", fields...)
		return nil
	}
	e, ok := AsError(err)
	if !ok || (e.Status != http.StatusBadRequest && e.Status != http.StatusNotFound) {
		return err
	}
	member, gone, cerr := s.Confirm(ctx)
	switch {
	case gone:
		log.Warn("group was deleted: nothing to remove", fields...)
		return nil
	case cerr != nil:
		return fmt.Errorf("%s refused to remove %s from %s (%s), and %s could not confirm it: %w", s.API, m.Person, m.Group, e.Detail(), s.Checker, cerr)
	case member:
		return fmt.Errorf("%s refused to remove %s from %s and they are still a member: %w", s.API, m.Person, m.Group, e)
	}
	log.Info("not in group: nothing to remove", append(fields, zap.Int("status", e.Status))...)
	return nil
}
