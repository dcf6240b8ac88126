// Package atlassianadmin is the "atlassian-admin" provider: group
// memberships in an organisation's directory through the Atlassian Admin
// API v2 (https://api.atlassian.com, bearer organisation API key), for
// organisations whose groups live at organisation level, plus what
// licence reviews read and do (directory.go): every user with their
// product activity, one user's last-active dates, a user's groups,
// suspend and restore.
//
// Endpoints (Admin API v2, organisation REST API, and one v1 read):
//
//	POST   /admin/v2/orgs/{orgId}/directories/{directoryId}/users/search        filters, expand; cursor paging (links.next)
//	POST   /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/search       groupNames, accountIds; cursor paging
//	GET    /admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates  per user; cursor paging
//	POST   /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships            {"accountId"}
//	DELETE /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships/{accountId}
//	POST   /admin/v2/orgs/{orgId}/directories/{directoryId}/users/{accountId}/suspend | /restore
//	GET    /admin/v2/orgs/{orgId}/directories?accountId=                        the directories a user is in
//
// The directory id defaults to "-", which the API documents as "every
// directory the caller may manage" for reads. Writes go to a concrete
// directory: a membership change to the group's own directoryId (from the
// group search), a suspension to each directory the user is in (from the
// directories call) unless a directory id is configured. The v1
// suspend-access/restore-access and v1 group-membership endpoints, which
// Atlassian switched off, are never used.
package atlassianadmin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/provisioner"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"go.uber.org/zap"
)

// DefaultAPIURL is the Admin API's address.
const DefaultAPIURL = "https://api.atlassian.com"

// AnyDirectory is the directory id that means every directory the API key
// may manage.
const AnyDirectory = "-"

// Human reasons for the answers retrying cannot fix.
const (
	ReasonUnauthorized = "the Admin API key was rejected"
	ReasonForbidden    = "the Admin API key may not manage this organisation's users and groups"
)

// AccountCache keeps email → account id answers across restarts (the
// store implements it).
type AccountCache = atlassian.AccountCache

// Config configures a Provider.
type Config struct {
	APIURL      string           // default DefaultAPIURL
	OrgID       string           // the organisation id
	DirectoryID string           // default AnyDirectory
	APIKey      atlassian.Secret // an organisation API key
	Cache       AccountCache     // nil keeps account ids in memory only
	Log         *zap.Logger
	// Transport tunes the HTTP transport; Name, BaseURL, Setting, Auth and Reasons
	// are set by New.
	Transport atlassian.Options
}

// Provider is the atlassian-admin provider. It is safe for concurrent use.
type Provider struct {
	c        *atlassian.Client
	log      *zap.Logger
	org      string
	dir      string
	groups   *atlassian.Groups[group]
	accounts *atlassian.Accounts
}

type group struct{ id, dir string }

var (
	_ approvals.Provisioner  = (*Provider)(nil)
	_ approvals.MemberLister = (*Provider)(nil)
	_ approvals.Preparer     = (*Provider)(nil)
)

// New returns a provider. It does not call the API; CheckGroups does.
func New(cfg Config) (*Provider, error) {
	switch {
	case strings.TrimSpace(cfg.OrgID) == "":
		return nil, errors.New("atlassian-admin: no organisation id")
	case cfg.APIKey == "":
		return nil, errors.New("atlassian-admin: no API key")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if cfg.DirectoryID == "" {
		cfg.DirectoryID = AnyDirectory
	}
	o := cfg.Transport
	o.Name, o.BaseURL, o.Setting, o.Auth = "admin", cfg.APIURL, "ATLASSIAN_API_URL", atlassian.Bearer(cfg.APIKey)
	o.Reasons = map[int]string{http.StatusUnauthorized: ReasonUnauthorized, http.StatusForbidden: ReasonForbidden}
	if o.Log == nil {
		o.Log = cfg.Log
	}
	c, err := atlassian.New(o)
	if err != nil {
		return nil, err
	}
	p := &Provider{c: c, log: cfg.Log, org: strings.TrimSpace(cfg.OrgID), dir: strings.TrimSpace(cfg.DirectoryID)}
	p.accounts = atlassian.NewAccounts(cfg.Cache, provisioner.NameAtlassianAdmin, p.searchAccount)
	p.groups = atlassian.NewGroups(p.lookupGroups, "in organisation "+p.org, func(name string, n int) error {
		return fmt.Errorf("group %s exists in %d directories of organisation %s: set ATLASSIAN_DIRECTORY_ID to the one jitbot manages", name, n, p.org)
	})
	if p.log == nil {
		p.log = zap.NewNop()
	}
	return p, nil
}

// Client returns the provider's transport.
func (p *Provider) Client() *atlassian.Client { return p.c }

func (p *Provider) dirPath(dir string) string {
	return "/admin/v2/orgs/" + url.PathEscape(p.org) + "/directories/" + url.PathEscape(dir)
}

// page is the Admin API's cursor page.
type page[T any] struct {
	Data  []T `json:"data"`
	Links struct {
		Next string `json:"next"`
	} `json:"links"`
}

// search pages a v2 search (users or groups) through links.next.
func search[T any](ctx context.Context, p *Provider, path string, body map[string]any, fn func(T) bool) error {
	seen := map[string]bool{}
	for {
		var pg page[T]
		if _, err := p.c.Do(ctx, atlassian.Request{Method: http.MethodPost, Path: path, Body: body}, &pg); err != nil {
			return err
		}
		for _, x := range pg.Data {
			if !fn(x) {
				return nil
			}
		}
		next := pg.Links.Next
		if next == "" || len(pg.Data) == 0 || seen[next] {
			return nil
		}
		seen[next] = true
		body["cursor"] = next
	}
}

type adminGroup struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DirectoryID string `json:"directoryId"`
}

// CheckGroups looks every group up by name, remembers their ids and
// directories, and says exactly which do not exist (or exist in more than
// one directory, when no directory is configured).
func (p *Provider) CheckGroups(ctx context.Context, names []string) error {
	return p.groups.Check(ctx, names)
}

// lookupGroups searches the directory for names (lowercased in the answer).

func (p *Provider) lookupGroups(ctx context.Context, names []string) (map[string][]group, error) {
	names = atlassian.Dedupe(names)
	found := map[string][]group{}
	const perCall = 50
	for i := 0; i < len(names); i += perCall {
		chunk := names[i:min(i+perCall, len(names))]
		err := search(ctx, p, p.dirPath(p.dir)+"/groups/search", map[string]any{"groupNames": chunk, "limit": 100}, func(g adminGroup) bool {
			for _, n := range chunk {
				if strings.EqualFold(n, g.Name) {
					dir := g.DirectoryID
					if dir == "" {
						dir = p.dir
					}
					found[strings.ToLower(n)] = append(found[strings.ToLower(n)], group{id: g.ID, dir: dir})
				}
			}
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	return found, nil
}

type adminUser struct {
	AccountID        string `json:"accountId"`
	Email            string `json:"email"`
	AccountStatus    string `json:"accountStatus"`
	MembershipStatus string `json:"membershipStatus"`
}

// AccountID returns the account id of the person with email: the cached
// answer, or the one directory user whose email is exactly email (a v2
// user search by email). None or several is a permanent error.
func (p *Provider) AccountID(ctx context.Context, email string) (string, error) {
	return p.accounts.ID(ctx, email)
}

// searchAccount finds the one directory user whose email is exactly email.
func (p *Provider) searchAccount(ctx context.Context, email string) (string, error) {
	var ids []string
	err := search(ctx, p, p.dirPath(p.dir)+"/users/search", map[string]any{"emails": []string{email}, "limit": 100}, func(u adminUser) bool {
		if strings.EqualFold(strings.TrimSpace(u.Email), email) && u.AccountID != "" && !slices.Contains(ids, u.AccountID) {
			ids = append(ids, u.AccountID)
		}
		return true
	})
	if err != nil {
		return "", err
	}
	return atlassian.OneAccount(email, ids, atlassian.AccountWords{One: "user", Many: "accounts", Where: "in organisation " + p.org})
}

func (p *Provider) membershipsPath(g group) string {
	return p.dirPath(g.dir) + "/groups/" + url.PathEscape(g.id) + "/memberships"
}

// AddMember adds m.Person to m.Group. An existing membership is success.
//
// The provider is not an approvals.Adder: Atlassian does not document what
// this endpoint answers for a person in the group already, and were it a
// plain success jitbot would take standing access for its own and remove
// it at the deadline; provisioning asks IsMember first.
func (p *Provider) AddMember(ctx context.Context, m approvals.Membership) error {
	g, err := p.groups.Get(ctx, m.Group)
	if err != nil {
		return err
	}
	aid, err := p.AccountID(ctx, m.Person)
	if err != nil {
		return err
	}
	_, err = p.c.Do(ctx, atlassian.Request{Method: http.MethodPost, Path: p.membershipsPath(g), Body: map[string]string{"accountId": aid}}, nil)
	e, isAPI := atlassian.AsError(err)
	switch {
	case err == nil:
		p.log.Info("added to group", zap.String("group", m.Group), zap.String("person", m.Person))
		return nil
	case isAPI && (e.Status == http.StatusConflict || e.Status == http.StatusBadRequest) && e.Says("already"):
		p.log.Info("already in group", zap.String("group", m.Group), zap.String("person", m.Person))
		return nil
	case isAPI && e.Status == http.StatusNotFound:
		if _, exists, ferr := p.groups.Refresh(ctx, m.Group); ferr != nil {
			return ferr
		} else if !exists {
			return p.groups.Deleted(m.Group, e)
		}
		return approvals.Permanent(e.WithReason(fmt.Sprintf("the account %s of %s is not in the group's directory", aid, m.Person)))
	}
	return err
}

// Prepare looks up the group's and the person's ids, each cached
// (approvals.Preparer).
func (p *Provider) Prepare(ctx context.Context, m approvals.Membership) error {
	if _, err := p.groups.Get(ctx, m.Group); err != nil {
		return err
	}
	_, err := p.AccountID(ctx, m.Person)
	return err
}

// RemoveMember removes m.Person from m.Group. When the API answers 400 or
// 404, a member search decides: not a member is success.
func (p *Provider) RemoveMember(ctx context.Context, m approvals.Membership) error {
	var (
		g   group
		aid string
	)
	return atlassian.RemoveMember(ctx, p.log, m, atlassian.RemoveSteps{API: "the Admin API", Checker: "a search",
		Resolve: func(ctx context.Context) (err error) {
			if g, err = p.groups.Get(ctx, m.Group); err != nil {
				return err
			}
			aid, err = p.AccountID(ctx, m.Person)
			return err
		},
		Delete: func(ctx context.Context) error {
			_, err := p.c.Do(ctx, atlassian.Request{Method: http.MethodDelete, Path: p.membershipsPath(g) + "/" + url.PathEscape(aid)}, nil)
			return err
		},
		Confirm: func(ctx context.Context) (bool, bool, error) {
			if _, exists, err := p.groups.Refresh(ctx, m.Group); err == nil && !exists {
				return false, true, nil
			}
			member, err := p.isMemberID(ctx, g, aid)
			return member, false, err
		},
	})
}

// IsMember reports whether m.Person is in m.Group (one user search).
func (p *Provider) IsMember(ctx context.Context, m approvals.Membership) (bool, error) {
	g, err := p.groups.Get(ctx, m.Group)
	if err != nil {
		return false, err
	}
	aid, err := p.AccountID(ctx, m.Person)
	if err != nil {
		return false, err
	}
	return p.isMemberID(ctx, g, aid)
}

func (p *Provider) isMemberID(ctx context.Context, g group, aid string) (bool, error) {
	found := false
	err := search(ctx, p, p.dirPath(g.dir)+"/users/search", map[string]any{"accountIds": []string{aid}, "groupIds": []string{g.id}, "limit": 100},
		func(u adminUser) bool {
			found = u.AccountID == aid
			return !found
		})
	return found, err
}

// Members lists a group's members as emails; a member without one is
// listed as "accountId:ID", which matches no grant.
func (p *Provider) Members(ctx context.Context, groupName string) ([]string, error) {
	g, err := p.groups.Get(ctx, groupName)
	if err != nil {
		return nil, err
	}
	var out []string
	err = search(ctx, p, p.dirPath(g.dir)+"/users/search", map[string]any{"groupIds": []string{g.id}, "limit": 100}, func(u adminUser) bool {
		e := strings.ToLower(strings.TrimSpace(u.Email))
		if e == "" {
			e, _ = p.accounts.Email(u.AccountID)
		}
		if e == "" {
			e = "accountId:" + u.AccountID
		}
		out = append(out, e)
		return true
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// directoriesOf lists the directories an account is in:
// GET /admin/v2/orgs/{orgId}/directories?accountId=.
func (p *Provider) directoriesOf(ctx context.Context, accountID string) ([]string, error) {
	var out []string
	q := url.Values{"accountId": {accountID}}
	seen := map[string]bool{}
	for {
		var pg page[struct {
			DirectoryID string `json:"directoryId"`
		}]
		if _, err := p.c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: "/admin/v2/orgs/" + url.PathEscape(p.org) + "/directories", Query: q}, &pg); err != nil {
			return nil, err
		}
		for _, d := range pg.Data {
			if d.DirectoryID != "" && !slices.Contains(out, d.DirectoryID) {
				out = append(out, d.DirectoryID)
			}
		}
		next := pg.Links.Next
		if next == "" || len(pg.Data) == 0 || seen[next] {
			return out, nil
		}
		seen[next] = true
		q.Set("cursor", next)
	}
}
