// Package jira is the "jira" provider: group memberships on a Jira Cloud
// site through the platform REST API v3, with basic auth (an admin's email
// and API token). Site groups are shared by Jira and Confluence, so this
// covers both, and the site-admin groups used for admin escalation.
//
// People are directory emails; the provider maps each to an Atlassian
// account id with GET /rest/api/3/user/search, keeping only exact
// (case-insensitive) email matches, and caches the answer. Group names map
// to group ids through GET /rest/api/3/group/bulk, once, when CheckGroups
// runs at start-up. Adding an existing member and removing a non-member
// succeed, the latter only once the member list confirms it.
package jira

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/provisioner"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"go.uber.org/zap"
)

// AccountCache keeps email → account id answers across restarts (the
// store implements it).
type AccountCache = atlassian.AccountCache

// AccountEmailer is an optional ability of an AccountCache: the email a
// cached account id belongs to. Members uses it for members whose email
// Jira hides.
type AccountEmailer interface {
	AccountEmail(ctx context.Context, provider, accountID string) (string, bool, error)
}

// Config configures a Provider.
type Config struct {
	SiteURL string           // https://example.atlassian.net
	Email   string           // the API user's email
	Token   atlassian.Secret // the API user's API token
	// Cache keeps account ids; nil keeps them in memory only.
	Cache AccountCache
	Log   *zap.Logger
	// Transport tunes the HTTP transport (rate, timeouts, retries, client,
	// clock). Name, BaseURL, Setting, Auth and Reasons are set by New.
	Transport atlassian.Options
}

// Provider is the jira provider. It is safe for concurrent use.
type Provider struct {
	c        *atlassian.Client
	log      *zap.Logger
	site     string
	groups   *atlassian.Groups[string] // name → groupId
	accounts *atlassian.Accounts
}

var (
	_ approvals.Provisioner  = (*Provider)(nil)
	_ approvals.MemberLister = (*Provider)(nil)
	_ approvals.Adder        = (*Provider)(nil)
	_ approvals.Preparer     = (*Provider)(nil)
)

// Human reasons for the answers retrying cannot fix.
const (
	ReasonUnauthorized = "the API token was rejected"
	ReasonNotSiteAdmin = "the API token's user is not a site admin"
	ReasonCannotBrowse = "the API token's user lacks the Browse users and groups permission"
)

// New returns a provider. It does not call Jira; CheckGroups does.
func New(cfg Config) (*Provider, error) {
	switch {
	case strings.TrimSpace(cfg.SiteURL) == "":
		return nil, errors.New("jira: no site URL")
	case strings.TrimSpace(cfg.Email) == "":
		return nil, errors.New("jira: no API user email")
	case cfg.Token == "":
		return nil, errors.New("jira: no API token")
	}
	o := cfg.Transport
	o.Name, o.BaseURL, o.Setting, o.Auth = "jira", cfg.SiteURL, "ATLASSIAN_SITE_URL", atlassian.Basic(strings.TrimSpace(cfg.Email), cfg.Token)
	o.Reasons = map[int]string{http.StatusUnauthorized: ReasonUnauthorized, http.StatusForbidden: ReasonNotSiteAdmin}
	if o.Log == nil {
		o.Log = cfg.Log
	}
	c, err := atlassian.New(o)
	if err != nil {
		return nil, err
	}
	p := &Provider{c: c, log: cfg.Log, site: c.BaseURL()}
	p.groups = atlassian.NewGroups(p.lookupGroups, "on "+p.site, nil)
	p.accounts = atlassian.NewAccounts(cfg.Cache, provisioner.NameJira, p.searchAccount)
	if p.log == nil {
		p.log = zap.NewNop()
	}
	return p, nil
}

// Client returns the provider's transport (its Stats, for tests and benchmarks).
func (p *Provider) Client() *atlassian.Client { return p.c }

// CheckGroups looks every group up by name, remembers their ids, and says
// exactly which do not exist on the site.
func (p *Provider) CheckGroups(ctx context.Context, names []string) error {
	return p.groups.Check(ctx, names)
}

// lookupGroups pages GET /rest/api/3/group/bulk?groupName=… for the ids
// of names (lowercased in the answer).
func (p *Provider) lookupGroups(ctx context.Context, names []string) (map[string][]string, error) {
	names = atlassian.Dedupe(names)
	found := map[string][]string{}
	const perCall = 20 // names per request, to keep URLs short
	for i := 0; i < len(names); i += perCall {
		chunk := names[i:min(i+perCall, len(names))]
		prev := "\x00" // the group ids of the page before
		for start := 0; ; {
			q := url.Values{"groupName": chunk, "startAt": {strconv.Itoa(start)}, "maxResults": {"50"}}
			var page struct {
				IsLast bool `json:"isLast"`
				Values []struct {
					GroupID string `json:"groupId"`
					Name    string `json:"name"`
				} `json:"values"`
			}
			if _, err := p.c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: "/rest/api/3/group/bulk", Query: q}, &page); err != nil {
				return nil, p.explainRead(err)
			}
			ids := make([]string, len(page.Values))
			for i, g := range page.Values {
				ids[i] = g.GroupID
			}
			sig := strings.Join(ids, ",")
			if !page.IsLast && sig == prev {
				return nil, fmt.Errorf("jira: the groups could not be looked up: the page from %d repeats the one before", start)
			}
			prev = sig
			for _, g := range page.Values {
				for _, n := range chunk {
					if strings.EqualFold(n, g.Name) { // names are unique on a site
						found[strings.ToLower(n)] = []string{g.GroupID}
					}
				}
			}
			start += len(page.Values)
			if page.IsLast || len(page.Values) == 0 {
				break
			}
		}
	}
	return found, nil
}

// AccountID returns the Atlassian account id of the person with email: the
// cached answer, or the one account whose email is exactly email. No
// account, or more than one, is a permanent error: jitbot never guesses.
func (p *Provider) AccountID(ctx context.Context, email string) (string, error) {
	return p.accounts.ID(ctx, email)
}

// searchAccount asks GET /rest/api/3/user/search, which matches prefixes of
// names and emails, and keeps exact email matches only.
func (p *Provider) searchAccount(ctx context.Context, email string) (string, error) {
	var ids []string
	const pageSize = 50
	for start := 0; start < 1000; start += pageSize { // the endpoint stops at the thousandth user
		q := url.Values{"query": {email}, "startAt": {strconv.Itoa(start)}, "maxResults": {strconv.Itoa(pageSize)}}
		var users []struct {
			AccountID    string `json:"accountId"`
			EmailAddress string `json:"emailAddress"`
		}
		if _, err := p.c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: "/rest/api/3/user/search", Query: q}, &users); err != nil {
			return "", p.explainRead(err)
		}
		for _, u := range users {
			if strings.EqualFold(strings.TrimSpace(u.EmailAddress), email) && u.AccountID != "" && !slices.Contains(ids, u.AccountID) {
				ids = append(ids, u.AccountID)
			}
		}
		if len(users) < pageSize {
			break
		}
	}
	return atlassian.OneAccount(email, ids, atlassian.AccountWords{One: "Jira account", Many: "Jira accounts", Where: "on " + p.site,
		Hint: " (or its profile hides the email)"})
}

// explainRead makes a failed read's reason exact: the reads need the
// Browse users and groups permission, not site admin.
func (p *Provider) explainRead(err error) error {
	if e, ok := atlassian.AsError(err); ok && e.Status == http.StatusForbidden {
		return approvals.Permanent(e.WithReason(ReasonCannotBrowse))
	}
	return err
}

// AddMember adds m.Person to m.Group: POST /rest/api/3/group/user. An
// existing membership ("already a member") is success.
func (p *Provider) AddMember(ctx context.Context, m approvals.Membership) error {
	_, err := p.add(ctx, m, true)
	return err
}

// Add adds m.Person to m.Group and reports whether Jira answered that they
// were a member already (approvals.Adder): Jira refuses a second add with
// 400 "Cannot add user. User is already a member of '…'" (JRACLOUD's AX-17
// records it; the official spec lists 400 without that case).
func (p *Provider) Add(ctx context.Context, m approvals.Membership) (already bool, err error) {
	return p.add(ctx, m, true)
}

// Prepare looks up the group's and the person's ids, each cached, so that
// the add or removal that follows an approval is one request
// (approvals.Preparer).
func (p *Provider) Prepare(ctx context.Context, m approvals.Membership) error {
	if _, err := p.groups.Get(ctx, m.Group); err != nil {
		return err
	}
	_, err := p.AccountID(ctx, m.Person)
	return err
}

func (p *Provider) add(ctx context.Context, m approvals.Membership, again bool) (already bool, err error) {
	gid, err := p.groups.Get(ctx, m.Group)
	if err != nil {
		return false, err
	}
	aid, err := p.AccountID(ctx, m.Person)
	if err != nil {
		return false, err
	}
	status, err := p.c.Do(ctx, atlassian.Request{Method: http.MethodPost, Path: "/rest/api/3/group/user",
		Query: url.Values{"groupId": {gid}}, Body: map[string]string{"accountId": aid}}, nil)
	e, isAPI := atlassian.AsError(err)
	switch {
	case err == nil:
		p.log.Info("added to group", zap.String("group", m.Group), zap.String("person", m.Person), zap.Int("status", status))
		return false, nil
	case isAPI && e.Status == http.StatusBadRequest && e.Says("already a member"):
		p.log.Info("already in group", zap.String("group", m.Group), zap.String("person", m.Person))
		return true, nil
	case isAPI && e.Status == http.StatusNotFound:
		gone, retry, xerr := p.explain404(ctx, m, gid, aid, e)
		switch {
		case xerr != nil:
			return false, xerr
		case gone != nil:
			return false, gone
		case retry && again:
			return p.add(ctx, m, false)
		}
	}
	return false, err
}

// explain404 tells a deleted group from an unknown account after a 404,
// and repairs a stale id (retry=true) when the group or account is there
// under a new id.
func (p *Provider) explain404(ctx context.Context, m approvals.Membership, gid, aid string, e *atlassian.Error) (gone error, retry bool, err error) {
	newID, exists, err := p.groups.Refresh(ctx, m.Group)
	if err != nil {
		return nil, false, err
	}
	if !exists {
		return p.groups.Deleted(m.Group, e), false, nil
	}
	if newID != gid {
		return nil, true, nil
	}
	fresh, err := p.searchAccount(ctx, strings.ToLower(m.Person))
	if err != nil {
		return nil, false, err
	}
	if fresh != aid {
		if err := p.accounts.Put(ctx, m.Person, fresh); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	return approvals.Permanent(e.WithReason(fmt.Sprintf("Jira does not know the account %s of %s", aid, m.Person))), false, nil
}

// RemoveMember removes m.Person from m.Group: DELETE /rest/api/3/group/user.
// When Jira answers 400 or 404 the member list decides: not a member is
// success. A group that no longer exists has no members to remove.
func (p *Provider) RemoveMember(ctx context.Context, m approvals.Membership) error {
	var gid, aid string
	return atlassian.RemoveMember(ctx, p.log, m, atlassian.RemoveSteps{API: "jira", Checker: "the member list",
		Resolve: func(ctx context.Context) (err error) {
			if gid, err = p.groups.Get(ctx, m.Group); err != nil {
				return err
			}
			aid, err = p.AccountID(ctx, m.Person)
			return err
		},
		Delete: func(ctx context.Context) error {
			_, err := p.c.Do(ctx, atlassian.Request{Method: http.MethodDelete, Path: "/rest/api/3/group/user",
				Query: url.Values{"groupId": {gid}, "accountId": {aid}}}, nil)
			return err
		},
		Confirm: func(ctx context.Context) (bool, bool, error) {
			member, err := p.isMemberID(ctx, gid, aid)
			return member, p.groupGone(ctx, m.Group, err), err
		},
	})
}

// groupGone reports whether a member-list read failed with 404 because the
// group was deleted.
func (p *Provider) groupGone(ctx context.Context, group string, readErr error) bool {
	if !atlassian.IsNotFound(readErr) {
		return false
	}
	_, exists, err := p.groups.Refresh(ctx, group)
	return err == nil && !exists
}

// IsMember reports whether m.Person is in m.Group, reading the member list.
func (p *Provider) IsMember(ctx context.Context, m approvals.Membership) (bool, error) {
	gid, err := p.groups.Get(ctx, m.Group)
	if err != nil {
		return false, err
	}
	aid, err := p.AccountID(ctx, m.Person)
	if err != nil {
		return false, err
	}
	member, err := p.isMemberID(ctx, gid, aid)
	if p.groupGone(ctx, m.Group, err) {
		return false, p.groups.Gone(m.Group)
	}
	return member, err
}

// isMemberID asks for the account's groups (GET /rest/api/3/user/groups):
// one request, where paging the group's members would take one per fifty
// members when the person is not in it.
func (p *Provider) isMemberID(ctx context.Context, gid, aid string) (bool, error) {
	var groups []struct {
		GroupID string `json:"groupId"`
	}
	if _, err := p.c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: "/rest/api/3/user/groups",
		Query: url.Values{"accountId": {aid}}}, &groups); err != nil {
		return false, err
	}
	for _, g := range groups {
		if g.GroupID == gid {
			return true, nil
		}
	}
	return false, nil
}

type member struct {
	AccountID    string `json:"accountId"`
	EmailAddress string `json:"emailAddress"`
}

// eachMember pages GET /rest/api/3/group/member, inactive users included,
// until fn returns false or the last page.
func (p *Provider) eachMember(ctx context.Context, gid string, fn func(member) bool) error {
	const pageSize = 50 // the most Jira returns
	prev := "\x00"      // the account ids of the page before
	for start := 0; ; {
		q := url.Values{"groupId": {gid}, "includeInactiveUsers": {"true"}, "startAt": {strconv.Itoa(start)}, "maxResults": {strconv.Itoa(pageSize)}}
		var page struct {
			IsLast bool     `json:"isLast"`
			Values []member `json:"values"`
		}
		if _, err := p.c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: "/rest/api/3/group/member", Query: q}, &page); err != nil {
			return p.explainRead(err)
		}
		ids := make([]string, len(page.Values))
		for i, u := range page.Values {
			ids[i] = u.AccountID
		}
		sig := strings.Join(ids, ",")
		if !page.IsLast && sig == prev {
			// A page that is never the last, answered again for the next
			// one, would be asked for without end (fuzzing found it).
			return fmt.Errorf("jira: the members of group %s could not be read: the page from %d repeats the one before", gid, start)
		}
		prev = sig
		for _, u := range page.Values {
			if !fn(u) {
				return nil
			}
		}
		start += len(page.Values)
		if page.IsLast || len(page.Values) == 0 {
			return nil
		}
	}
}

// Members lists a group's members as directory emails: Jira's
// emailAddress, else the email jitbot looked the account up by. A member
// whose email is unknown is listed as "accountId:ID", which matches no
// grant, so drift reconciliation leaves them alone.
func (p *Provider) Members(ctx context.Context, group string) ([]string, error) {
	gid, err := p.groups.Get(ctx, group)
	if err != nil {
		return nil, err
	}
	var out []string
	var unknown []string
	err = p.eachMember(ctx, gid, func(u member) bool {
		if e := strings.TrimSpace(u.EmailAddress); e != "" {
			out = append(out, strings.ToLower(e))
			return true
		}
		unknown = append(unknown, u.AccountID)
		return true
	})
	if err != nil {
		return nil, err
	}
	emailer, _ := p.accounts.Cache().(AccountEmailer)
	for _, id := range unknown {
		e, ok := p.accounts.Email(id)
		if !ok && emailer != nil {
			if e, ok, err = emailer.AccountEmail(ctx, provisioner.NameJira, id); err != nil {
				return nil, fmt.Errorf("account cache: %w", err)
			}
		}
		if ok && e != "" {
			out = append(out, strings.ToLower(e))
		} else {
			out = append(out, "accountId:"+id)
		}
	}
	slices.Sort(out)
	return out, nil
}
