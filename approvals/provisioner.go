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
