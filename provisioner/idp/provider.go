// Package idp is what the identity-provider providers (okta, entra,
// google) share: a Provider over a small API each IdP implements, with the
// same guarantees as the Atlassian providers — idempotent add and remove
// (already a member and not a member are success), group names resolved
// to ids at start-up (CheckGroups), account ids looked up once per email
// and cached, member lists for drift reconciliation — and the suspension
// and restore of an account that the licence review uses.
//
// The intent of every change is written by the engine before the call
// (approvals/provision.go); standing members are never removed because
// the engine only removes what it recorded adding.
package idp

import (
	"context"
	"fmt"
	"strings"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"go.uber.org/zap"
)

// API is the handful of calls one IdP answers. Implementations use one
// rate-aware transport (provisioner/atlassian.Client) per API.
type API interface {
	// FindGroups returns, for each name found (lower-cased), the ids of
	// the groups that have it exactly.
	FindGroups(ctx context.Context, names []string) (map[string][]string, error)
	// FindUser returns the ids of the users whose email is email.
	FindUser(ctx context.Context, email string) ([]string, error)
	// Add adds the user to the group; a member already is success
	// (already reports it where the IdP tells).
	Add(ctx context.Context, groupID, userID, email string) (already bool, err error)
	// Remove removes the user from the group; a non-member is success.
	Remove(ctx context.Context, groupID, userID, email string) error
	// IsMember reports whether the user is a member of the group.
	IsMember(ctx context.Context, groupID, userID, email string) (bool, error)
	// Members lists the emails of the group's members.
	Members(ctx context.Context, groupID string) ([]string, error)
	// SetSuspended suspends (on) or restores (off) the account; one
	// already so is success.
	SetSuspended(ctx context.Context, userID string, on bool) error
	// Synced reports whether the IdP says the group is synced from
	// elsewhere (false when it cannot tell).
	Synced(ctx context.Context, groupID string) (bool, error)
}

// Provider is one IdP's provider. It is safe for concurrent use.
type Provider struct {
	name     string
	api      API
	log      *zap.Logger
	groups   *atlassian.Groups[string]
	accounts *atlassian.Accounts
	words    atlassian.AccountWords
}

var (
	_ approvals.Provisioner  = (*Provider)(nil)
	_ approvals.MemberLister = (*Provider)(nil)
	_ approvals.Adder        = (*Provider)(nil)
	_ approvals.Preparer     = (*Provider)(nil)
)

// New returns the provider called name (okta, entra, google) over api.
// where completes "group X does not exist …" ("in Okta org https://…").
func New(name, where string, api API, cache atlassian.AccountCache, log *zap.Logger) *Provider {
	if log == nil {
		log = zap.NewNop()
	}
	p := &Provider{name: name, api: api, log: log,
		words: atlassian.AccountWords{One: name + " user", Many: name + " users", Where: where}}
	p.groups = atlassian.NewGroups(api.FindGroups, where, func(g string, n int) error {
		return fmt.Errorf("%d groups are called %s %s: jitbot will not guess; rename one", n, g, where)
	})
	p.accounts = atlassian.NewAccounts(cache, name, func(ctx context.Context, email string) (string, error) {
		ids, err := api.FindUser(ctx, email)
		if err != nil {
			return "", err
		}
		return atlassian.OneAccount(email, ids, p.words)
	})
	return p
}

// Name returns the provider's name.
func (p *Provider) Name() string { return p.name }

// CheckGroups resolves every group name to its id and says exactly which
// do not exist.
func (p *Provider) CheckGroups(ctx context.Context, names []string) error {
	return p.groups.Check(ctx, names)
}

// Synced reports whether the IdP says the group is synced from elsewhere.
func (p *Provider) Synced(ctx context.Context, group string) (bool, error) {
	id, err := p.groups.Get(ctx, group)
	if err != nil {
		return false, err
	}
	return p.api.Synced(ctx, id)
}

func (p *Provider) ids(ctx context.Context, m approvals.Membership) (groupID, userID string, err error) {
	if groupID, err = p.groups.Get(ctx, m.Group); err != nil {
		return "", "", err
	}
	if userID, err = p.accounts.ID(ctx, m.Person); err != nil {
		return "", "", err
	}
	return groupID, userID, nil
}

// Prepare looks up the group and the person's account ahead of a change.
func (p *Provider) Prepare(ctx context.Context, m approvals.Membership) error {
	_, _, err := p.ids(ctx, m)
	return err
}

// Add adds m and reports whether the person was a member already.
func (p *Provider) Add(ctx context.Context, m approvals.Membership) (bool, error) {
	g, u, err := p.ids(ctx, m)
	if err != nil {
		return false, fmt.Errorf("%s add %s to %s: %w", p.name, m.Person, m.Group, err)
	}
	already, err := p.api.Add(ctx, g, u, m.Person)
	if err != nil {
		return false, fmt.Errorf("%s add %s to %s: %w", p.name, m.Person, m.Group, err)
	}
	p.log.Info("member added", zap.String("provider", p.name), zap.String("group", m.Group),
		zap.String("person", m.Person), zap.Bool("already", already))
	return already, nil
}

// AddMember adds m; a member already is success.
func (p *Provider) AddMember(ctx context.Context, m approvals.Membership) error {
	_, err := p.Add(ctx, m)
	return err
}

// RemoveMember removes m; a non-member is success.
func (p *Provider) RemoveMember(ctx context.Context, m approvals.Membership) error {
	g, u, err := p.ids(ctx, m)
	if err == nil {
		err = p.api.Remove(ctx, g, u, m.Person)
	}
	if err != nil {
		return fmt.Errorf("%s remove %s from %s: %w", p.name, m.Person, m.Group, err)
	}
	p.log.Info("member removed", zap.String("provider", p.name), zap.String("group", m.Group), zap.String("person", m.Person))
	return nil
}

// IsMember reports whether m's person is in m's group.
func (p *Provider) IsMember(ctx context.Context, m approvals.Membership) (bool, error) {
	g, u, err := p.ids(ctx, m)
	if err != nil {
		return false, fmt.Errorf("%s check %s in %s: %w", p.name, m.Person, m.Group, err)
	}
	return p.api.IsMember(ctx, g, u, m.Person)
}

// Members lists the group's members' emails, lower-cased.
func (p *Provider) Members(ctx context.Context, group string) ([]string, error) {
	g, err := p.groups.Get(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("%s members of %s: %w", p.name, group, err)
	}
	ms, err := p.api.Members(ctx, g)
	if err != nil {
		return nil, fmt.Errorf("%s members of %s: %w", p.name, group, err)
	}
	for i, m := range ms {
		ms[i] = strings.ToLower(m)
	}
	return ms, nil
}

// Suspend suspends the account of the person with email at the IdP; one
// suspended already is success.
func (p *Provider) Suspend(ctx context.Context, email string) error {
	return p.setSuspended(ctx, email, true)
}

// Restore lifts the suspension of the person's account; an active account
// is success.
func (p *Provider) Restore(ctx context.Context, email string) error {
	return p.setSuspended(ctx, email, false)
}

func (p *Provider) setSuspended(ctx context.Context, email string, on bool) error {
	verb := "restore"
	if on {
		verb = "suspend"
	}
	u, err := p.accounts.ID(ctx, email)
	if err == nil {
		err = p.api.SetSuspended(ctx, u, on)
	}
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", p.name, verb, email, err)
	}
	p.log.Info("account "+verb+"ed", zap.String("provider", p.name), zap.String("person", email))
	return nil
}

// AddExact records id in found under want (lower-cased) when the group's
// name got is want, compared case-insensitively: the IdPs' group searches
// match prefixes and words, a resource names one group exactly.
func AddExact(found map[string][]string, want, got, id string) {
	if strings.EqualFold(want, got) {
		k := strings.ToLower(want)
		found[k] = append(found[k], id)
	}
}
