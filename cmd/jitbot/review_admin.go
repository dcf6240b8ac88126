package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/provisioner"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/atlassianadmin"
	"github.com/jitbot/jitbot/review"
	"go.uber.org/zap"
)

// reviewAdmin builds the licence review's Directory and Accounts over the
// atlassian-admin provider (Admin API v2; the v1 suspend-access endpoints
// are never used), configured from the same ATLASSIAN_* settings. Tests
// replace it with a fake.
var reviewAdmin = func(getenv func(string) string, cache accountCache, log *zap.Logger) (review.Directory, review.Accounts, error) {
	if log == nil {
		log = zap.NewNop()
	}
	p, err := atlassianProvider(getenv, provisioner.NameAtlassianAdmin, cache, log)
	if err != nil {
		return nil, nil, fmt.Errorf("licence reviews need the Atlassian Admin API: %w", err)
	}
	a := &adminAccounts{p: p.(*atlassianadmin.Provider)}
	return a, a, nil
}

// reviewAdmin is the review's Admin API for jitbot run: the atlassian-admin
// provider the approvals engine already uses when there is one, so that
// both share one rate limit, or a new one from the settings.
func (m *Main) reviewAdmin() (review.Directory, review.Accounts, error) {
	if p, ok := m.Providers[provisioner.NameAtlassianAdmin].(*atlassianadmin.Provider); ok {
		a := &adminAccounts{p: p}
		return a, a, nil
	}
	d, a, err := reviewAdmin(m.getenv, m.DB, m.Log.Named("review"))
	if acc, ok := d.(*adminAccounts); ok && err == nil && m.Metrics != nil {
		m.Metrics.WatchUpstream(provisioner.NameAtlassianAdmin, acc.p.Client())
	}
	return d, a, err
}

// adminAccounts adapts *atlassianadmin.Provider to review.Directory and
// review.Accounts.
type adminAccounts struct{ p *atlassianadmin.Provider }

var (
	_ review.Directory = (*adminAccounts)(nil)
	_ review.Accounts  = (*adminAccounts)(nil)
)

// pageSize is the Admin API's largest page.
const pageSize = 100

// Users pages through the directory with every user's products and groups.
func (a *adminAccounts) Users(ctx context.Context, fn func([]review.DirectoryUser) error) error {
	page := make([]review.DirectoryUser, 0, pageSize)
	err := a.p.EachUser(ctx, atlassianadmin.UserQuery{Products: true, Groups: true, PageSize: pageSize}, func(u atlassianadmin.User) error {
		if u.ProductsMissing && (u.AccountType == "" || u.AccountType == "atlassian") {
			// The bulk search sent no activity for this person: ask the
			// v1 per-user endpoint rather than read them as never active.
			la, err := a.p.LastActiveDates(ctx, u.AccountID)
			if err != nil {
				return fmt.Errorf("last-active dates of %s (the bulk search had none): %w", u.AccountID, err)
			}
			u.Products = la.Products
			if u.AddedToOrg.IsZero() {
				u.AddedToOrg = la.AddedToOrg
			}
		}
		page = append(page, directoryUser(u))
		if len(page) < pageSize {
			return nil
		}
		err := fn(page)
		page = page[:0]
		return err
	})
	if err == nil && len(page) > 0 {
		err = fn(page)
	}
	return err
}

func directoryUser(u atlassianadmin.User) review.DirectoryUser {
	d := review.DirectoryUser{AccountID: u.AccountID, Email: u.Email, Name: u.Name, AccountType: u.AccountType,
		AccountStatus: u.AccountStatus, MembershipStatus: u.MembershipStatus, ManagementSource: u.ManagementSource,
		ClaimStatus: u.ClaimStatus, Department: u.Department, JobTitle: u.JobTitle, AddedToOrg: u.AddedToOrg,
		Groups: []string{}}
	if u.Status == atlassianadmin.StatusSuspended && d.MembershipStatus == "" {
		d.MembershipStatus = review.MembershipSuspended
	}
	for _, p := range u.Products {
		d.Products = append(d.Products, review.ProductActivity{Key: p.Key, LastActive: p.LastActive})
	}
	for _, g := range u.Groups {
		d.Groups = append(d.Groups, g.Name)
	}
	return d
}

// Suspend is the v2 suspend, its refusals translated for the engine.
func (a *adminAccounts) Suspend(ctx context.Context, accountID string) error {
	err := a.p.Suspend(ctx, accountID)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, atlassianadmin.ErrIdPManaged):
		return approvals.Permanent(fmt.Errorf("%w (%v)", review.ErrManagedByIdP, err))
	case errors.Is(err, atlassianadmin.ErrAlreadySuspended):
		return fmt.Errorf("%w (%v)", review.ErrAlreadySuspended, err)
	case errors.Is(err, atlassianadmin.ErrNotFound), errors.Is(err, atlassianadmin.ErrDeactivated):
		return approvals.Permanent(err)
	}
	return err
}

// Restore is the v2 restore; an account not suspended is success.
func (a *adminAccounts) Restore(ctx context.Context, accountID string) error {
	err := a.p.Restore(ctx, accountID)
	switch {
	case err == nil, errors.Is(err, atlassianadmin.ErrNotSuspended):
		return nil
	case errors.Is(err, atlassianadmin.ErrIdPManaged):
		return approvals.Permanent(fmt.Errorf("the identity provider manages this account: restore it there (%w)", err))
	}
	return err
}

// GroupsOf lists the account's groups (v2 groups search by member).
func (a *adminAccounts) GroupsOf(ctx context.Context, accountID string) ([]review.Group, error) {
	gs, err := a.p.UserGroups(ctx, accountID)
	if err != nil {
		return nil, err
	}
	out := make([]review.Group, len(gs))
	for i, g := range gs {
		out[i] = review.Group{ID: g.ID, Name: g.Name}
	}
	return out, nil
}

// AddToGroup adds the person back to a group (v2 memberships), by name.
func (a *adminAccounts) AddToGroup(ctx context.Context, g review.Group, accountID, email string) error {
	err := a.p.AddMember(ctx, approvals.Membership{Provider: provisioner.NameAtlassianAdmin, Group: g.Name, Person: email})
	if atlassian.IsNoGroup(err) {
		return fmt.Errorf("%w: %v", review.ErrGroupNotFound, err)
	}
	return err
}
