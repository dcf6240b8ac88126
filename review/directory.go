package review

import (
	"context"
	"errors"

	"github.com/jitbot/jitbot/approvals"
)

// Directory pages through the organisation's users with their product
// activity (Admin API v2 users search, expand productAccess and groups).
type Directory interface {
	// Users calls fn with each page of users, in the directory's order,
	// until there are no more or fn returns an error, which Users returns.
	Users(ctx context.Context, fn func(page []DirectoryUser) error) error
}

// Accounts suspends and restores accounts and manages their group
// memberships (Admin API v2 only: the v1 suspend-access and restore-access
// endpoints are switched off and must never be called).
type Accounts interface {
	// Suspend suspends the account's access. An account already
	// suspended is an error matching ErrAlreadySuspended (or nil); one its
	// identity provider manages may be refused with an error matching
	// ErrManagedByIdP.
	Suspend(ctx context.Context, accountID string) error
	// Restore gives a suspended account its access back; restoring an
	// active account succeeds.
	Restore(ctx context.Context, accountID string) error
	// GroupsOf lists the account's group memberships.
	GroupsOf(ctx context.Context, accountID string) ([]Group, error)
	// AddToGroup adds the account (whose email is email) to a group. An
	// existing membership succeeds; a group that no longer exists is an
	// error matching ErrGroupNotFound.
	AddToGroup(ctx context.Context, group Group, accountID, email string) error
}

// RoleReader is the optional ability of an Accounts to read an account's
// site and product roles, recorded before a suspension.
type RoleReader interface {
	RolesOf(ctx context.Context, accountID string) ([]string, error)
}

// AccessRevoker lists and revokes JIT grants: the approvals engine.
type AccessRevoker interface {
	List(ctx context.Context, f approvals.RequestFilter) ([]*approvals.Request, error)
	Revoke(ctx context.Context, id, by, reason string) (*approvals.Request, error)
}

var _ AccessRevoker = (*approvals.Service)(nil)

// Errors the Accounts implementations wrap.
var (
	// ErrManagedByIdP: the Admin API refused because an identity provider
	// manages the account; it must be deactivated there.
	ErrManagedByIdP = errors.New("the account is managed by an identity provider: deactivate it at the IdP")
	// ErrAlreadySuspended: Suspend found the access already suspended.
	// The engine tells "jitbot suspended" from "found suspended" with it.
	ErrAlreadySuspended = errors.New("the account's access is already suspended")
	// ErrGroupNotFound: the group no longer exists.
	ErrGroupNotFound = errors.New("the group no longer exists")
)

// Error codes of the engine's domain errors (approvals.Error, so the front
// ends translate one error type).
const (
	ENotFound    = approvals.ENotFound
	EConflict    = approvals.EConflict
	EForbidden   = approvals.EForbidden
	EInvalid     = approvals.EInvalid
	ENotAnswerer = "not_answerer" // the person may not answer this item
	ESelfAnswer  = "self_answer"  // the person is the one the item is about: nobody answers for themselves
)
