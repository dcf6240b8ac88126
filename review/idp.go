package review

import (
	"context"
	"fmt"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
)

// Suspension at the identity provider (a review rule's suspend_at: idp or
// auto). Where an IdP provisions the Atlassian account (SCIM), Atlassian
// refuses to suspend it and the next sync would undo it anyway: the
// account is suspended at the IdP instead (Okta's lifecycle/suspend,
// Graph's accountEnabled false, Google's suspended true), and restored
// there the same way.

// IdPAccounts suspends and restores a person's account at one identity
// provider. Both are idempotent: an account already so is success.
type IdPAccounts interface {
	Suspend(ctx context.Context, email string) error
	Restore(ctx context.Context, email string) error
}

// IdPs finds the identity provider that manages a person's account (the
// synced directory knows who each IdP lists), by its name: okta, entra,
// google. No IdP and no error: none lists the person. An error: one may,
// but it cannot be asked now (the directory could not be read, or the
// source that lists the person could not be set up); it says why in a
// sentence.
type IdPs interface {
	For(email string) (name string, acc IdPAccounts, err error)
}

// accountAt is where one suspension or restore happens: at an IdP (acc
// set) or at Atlassian (acc nil). api names it in the audit event.
type accountAt struct {
	acc IdPAccounts
	api string
}

// where says where the rule's suspend_at puts the person's suspension.
// idp: at their IdP (none is a permanent error); auto: at their IdP when
// Atlassian says an IdP manages the account and one is configured, else
// at Atlassian; otherwise at Atlassian.
func (e *Engine) where(rule, email string, idpManaged bool) (accountAt, error) {
	at := ""
	if r, ok := e.Policy().Review.Rule(rule); ok {
		at = r.SuspendAt
	}
	atlassian := accountAt{api: "admin v2"}
	if at != policies.SuspendAtIdP && (at != policies.SuspendAtAuto || !idpManaged) {
		return atlassian, nil
	}
	if e.idps != nil {
		name, acc, err := e.idps.For(email)
		if err != nil {
			// Neither here nor at Atlassian: the person's IdP may be the
			// one to ask, and the job tries again.
			return accountAt{}, err
		}
		if acc != nil {
			return accountAt{acc: acc, api: name}, nil
		}
	}
	if at == policies.SuspendAtAuto {
		return atlassian, nil
	}
	return accountAt{}, approvals.Permanent(fmt.Errorf("review rule %s suspends at the identity provider, and no directory source configured as a provider lists %s", rule, email))
}

func (a accountAt) suspend(ctx context.Context, e *Engine, it *Item) error {
	if a.acc != nil {
		return a.acc.Suspend(ctx, it.Email)
	}
	return e.accounts.Suspend(ctx, it.AccountID)
}

func (a accountAt) restore(ctx context.Context, e *Engine, email, accountID string) error {
	if a.acc != nil {
		return a.acc.Restore(ctx, email)
	}
	return e.accounts.Restore(ctx, accountID)
}
