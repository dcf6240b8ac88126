package approvals

import (
	"context"
	"errors"
)

// Membership names one group membership of one person at one provider.
// Person is the directory email; providers map it to their own account ids.
type Membership struct {
	Provider string // provider name from the policy: jira, atlassian-admin, dryrun
	Group    string // the group name as written in the policy
	Person   string // email
}

// Key identifies the membership independently of the grant that asked for it.
func (m Membership) Key() string { return m.Provider + "\x00" + m.Group + "\x00" + m.Person }

// GroupRef names one group at one provider.
type GroupRef struct {
	Provider string
	Group    string
}

// JobKey is the outbox key of the membership's jobs: its provisioning and
// revocations run one at a time, in the order they were queued.
func (m Membership) JobKey() string {
	return "membership:" + m.Provider + "|" + m.Group + "|" + m.Person
}

// A Provisioner adds and removes group memberships. Implementations must be
// idempotent: adding an existing member and removing a non-member succeed.
// Errors that retrying cannot fix (bad credentials, a deleted group, an
// unknown person) are wrapped with Permanent so the worker stops at once.
type Provisioner interface {
	AddMember(ctx context.Context, m Membership) error
	RemoveMember(ctx context.Context, m Membership) error
	IsMember(ctx context.Context, m Membership) (bool, error)
}

// An Adder is a Provisioner whose add tells whether the person was a member
// already (Jira and the Admin API refuse to add a member twice and say so).
// Provisioning then asks the provider once, not twice (IsMember, then
// AddMember): under a provider's rate limit that is a third of the requests
// an approval waits for.
type Adder interface {
	// Add adds m and reports whether m was a member before the call.
	Add(ctx context.Context, m Membership) (already bool, err error)
}

// add adds m through p and reports whether m was a member already: p's own
// answer when it is an Adder, else AddAsking.
func add(ctx context.Context, p Provisioner, m Membership) (already bool, err error) {
	if a, ok := p.(Adder); ok {
		return a.Add(ctx, m)
	}
	return AddAsking(ctx, p, m)
}

// AddAsking adds m through a provider that is not an Adder: it asks
// IsMember, then adds a person who is not a member.
func AddAsking(ctx context.Context, p Provisioner, m Membership) (already bool, err error) {
	member, err := p.IsMember(ctx, m)
	if err != nil || member {
		return member, err
	}
	return false, p.AddMember(ctx, m)
}

// A Preparer looks up, ahead of any change, what adding or removing m will
// need from the provider (account and group ids), so that the change waits
// for one call when it comes. It is asked when a request is filed, best
// effort: an error is logged and the change looks it up again.
type Preparer interface {
	Prepare(ctx context.Context, m Membership) error
}

// permanentError marks an error that retrying will not fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that IsPermanent reports true for it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
