// Package okta is the "okta" provider and directory source: group
// memberships, account suspension and the people of an Okta org through
// the Management API (/api/v1), with an API token (Authorization: SSWS …)
// on the shared rate-aware transport, which honours Okta's 429 and its
// X-Rate-Limit-Reset (epoch seconds).
//
// A few calls on our own transport rather than Okta's Go SDK: the SDK
// brings its own HTTP stack, cache and retry policy (which would bypass
// the pace every other API shares), and jitbot needs seven endpoints.
package okta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/idp"
	"go.uber.org/zap"
)

// Name is the provider's and the source's name.
const Name = "okta"

// DefaultMap is where Okta keeps jitbot's attributes: profile.department,
// profile.managerId, profile.userType.
var DefaultMap = directory.Map{Department: "department", Manager: "managerId", Employment: "userType"}

// Config configures an Okta provider.
type Config struct {
	URL   string           // https://example.okta.com (plain http to loopback only)
	Token atlassian.Secret // OKTA_API_TOKEN
	// Map names the profile attributes; empty fields take DefaultMap's.
	Map   directory.Map
	Cache atlassian.AccountCache
	Log   *zap.Logger
	// Transport tunes the HTTP transport; Name, BaseURL, Setting and Auth are set by New.
	Transport atlassian.Options
}

// Okta is the provider (idp.Provider) and the directory source.
type Okta struct {
	*idp.Provider
	api *api
}

var _ directory.Source = (*Okta)(nil)

type api struct {
	c   *atlassian.Client
	m   directory.Map
	log *zap.Logger
}

// New returns the Okta provider. It calls nothing; CheckGroups does.
func New(cfg Config) (*Okta, error) {
	if strings.TrimSpace(cfg.URL) == "" {
		return nil, errors.New("okta: no url (directory source or provider okta: {url: https://example.okta.com})")
	}
	if cfg.Token == "" {
		return nil, errors.New("okta: no API token (OKTA_API_TOKEN)")
	}
	o := cfg.Transport
	o.Name, o.BaseURL, o.Setting, o.Auth = Name, cfg.URL, "okta url", atlassian.SSWS(cfg.Token)
	o.Reasons = map[int]string{http.StatusUnauthorized: "the Okta API token was rejected",
		http.StatusForbidden: "the Okta API token's admin lacks the role this needs (Group Membership Admin or Org Admin)"}
	if o.Log == nil {
		o.Log = cfg.Log
	}
	c, err := atlassian.New(o)
	if err != nil {
		return nil, err
	}
	a := &api{c: c, m: cfg.Map.Or(DefaultMap), log: cfg.Log}
	return &Okta{Provider: idp.New(Name, "in Okta org "+c.BaseURL(), a, cfg.Cache, cfg.Log), api: a}, nil
}

// Client returns the transport (its stats, for tests and benchmarks).
func (o *Okta) Client() *atlassian.Client { return o.api.c }

type oktaUser struct {
	ID      string         `json:"id"`
	Status  string         `json:"status"`
	Profile map[string]any `json:"profile"`
}

func (u oktaUser) str(key string) string {
	if key == "" {
		return ""
	}
	switch v := u.Profile[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

type oktaGroup struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
}

// pages GETs path and follows Link: rel="next" until the end.
func pages[T any](ctx context.Context, c *atlassian.Client, path string, q url.Values, fn func([]T) error) error {
	for {
		var page []T
		var hdr http.Header
		if _, err := c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: path, Query: q, Header: &hdr}, &page); err != nil {
			return err
		}
		if err := fn(page); err != nil {
			return err
		}
		next := nextLink(hdr)
		if next == "" {
			return nil
		}
		u, err := url.Parse(next)
		if err != nil {
			return fmt.Errorf("okta: a Link rel=next that is not a URL")
		}
		path, q = u.EscapedPath(), u.Query()
	}
}

// nextLink reads the rel="next" URL of Link headers.
func nextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for _, part := range strings.Split(v, ",") {
			u, params, ok := strings.Cut(part, ";")
			if ok && strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
				return strings.Trim(strings.TrimSpace(u), "<>")
			}
		}
	}
	return ""
}

func (a *api) FindGroups(ctx context.Context, names []string) (map[string][]string, error) {
	found := map[string][]string{}
	for _, name := range atlassian.Dedupe(names) {
		err := pages(ctx, a.c, "/api/v1/groups", url.Values{"q": {name}, "limit": {"200"}}, func(gs []oktaGroup) error {
			for _, g := range gs {
				idp.AddExact(found, name, g.Profile.Name, g.ID)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return found, nil
}

func (a *api) FindUser(ctx context.Context, email string) ([]string, error) {
	var users []oktaUser
	q := url.Values{"search": {fmt.Sprintf("profile.email eq %q", email)}}
	if _, err := a.c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: "/api/v1/users", Query: q}, &users); err != nil {
		return nil, err
	}
	var ids []string
	for _, u := range users {
		if strings.EqualFold(u.str("email"), email) {
			ids = append(ids, u.ID)
		}
	}
	return ids, nil
}

// Add asks first: Okta's PUT answers 204 whether or not the user was a
// member, and a standing member must be known as one.
func (a *api) Add(ctx context.Context, groupID, userID, email string) (bool, error) {
	member, err := a.IsMember(ctx, groupID, userID, email)
	if err != nil || member {
		return member, err
	}
	_, err = a.c.Do(ctx, atlassian.Request{Method: http.MethodPut, Path: "/api/v1/groups/" + url.PathEscape(groupID) + "/users/" + url.PathEscape(userID)}, nil)
	return false, err
}

func (a *api) Remove(ctx context.Context, groupID, userID, _ string) error {
	_, err := a.c.Do(ctx, atlassian.Request{Method: http.MethodDelete, Path: "/api/v1/groups/" + url.PathEscape(groupID) + "/users/" + url.PathEscape(userID)}, nil)
	return err
}

func (a *api) IsMember(ctx context.Context, groupID, userID, _ string) (bool, error) {
	var gs []oktaGroup
	if _, err := a.c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: "/api/v1/users/" + url.PathEscape(userID) + "/groups"}, &gs); err != nil {
		return false, err
	}
	for _, g := range gs {
		if g.ID == groupID {
			return true, nil
		}
	}
	return false, nil
}

func (a *api) Members(ctx context.Context, groupID string) ([]string, error) {
	var out []string
	err := pages(ctx, a.c, "/api/v1/groups/"+url.PathEscape(groupID)+"/users", url.Values{"limit": {"1000"}}, func(us []oktaUser) error {
		for _, u := range us {
			out = append(out, u.str("email"))
		}
		return nil
	})
	return out, err
}

// SetSuspended calls lifecycle/suspend or /unsuspend. Okta refuses both
// for a user already so (400 E0000001): the user's status then says
// whether that is success.
func (a *api) SetSuspended(ctx context.Context, userID string, on bool) error {
	op, want := "unsuspend", "ACTIVE"
	if on {
		op, want = "suspend", "SUSPENDED"
	}
	_, err := a.c.Do(ctx, atlassian.Request{Method: http.MethodPost, Path: "/api/v1/users/" + url.PathEscape(userID) + "/lifecycle/" + op}, nil)
	if atlassian.StatusOf(err) != http.StatusBadRequest {
		return err
	}
	var u oktaUser
	if _, gerr := a.c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: "/api/v1/users/" + url.PathEscape(userID)}, &u); gerr != nil {
		return err
	}
	if u.Status == want {
		return nil
	}
	return err
}

// Synced: an APP_GROUP is imported from a directory or an app and its
// members are that source's.
func (a *api) Synced(ctx context.Context, groupID string) (bool, error) {
	var g oktaGroup
	if _, err := a.c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: "/api/v1/groups/" + url.PathEscape(groupID)}, &g); err != nil {
		return false, err
	}
	return g.Type == "APP_GROUP", nil
}

// Name names the directory source.
func (o *Okta) Name() string { return Name }

// People pages every user of the org, 200 at a time (Okta's most). With
// the default map the profile is decoded into fixed fields: a map per
// user is most of the cost of a 100,000-person sync.
func (o *Okta) People(ctx context.Context, fn func([]directory.Entry) error) error {
	m := o.api.m
	q := url.Values{"limit": {"200"}}
	if m == DefaultMap {
		type profile struct {
			Login, Email, Department, ManagerID, UserType string
		}
		return pages(ctx, o.api.c, "/api/v1/users", q, func(us []struct {
			ID, Status string
			Profile    profile
		}) error {
			page := make([]directory.Entry, 0, len(us))
			for _, u := range us {
				p := u.Profile
				page = append(page, directory.Entry{ID: u.ID, Login: p.Login, Email: p.Email, Department: p.Department,
					Manager: p.ManagerID, Employment: p.UserType, Suspended: u.Status == "SUSPENDED"})
			}
			return fn(page)
		})
	}
	return pages(ctx, o.api.c, "/api/v1/users", q, func(us []oktaUser) error {
		page := make([]directory.Entry, 0, len(us))
		for _, u := range us {
			page = append(page, directory.Entry{ID: u.ID, Login: u.str("login"), Email: u.str("email"),
				Department: u.str(m.Department), Manager: u.str(m.Manager), Employment: u.str(m.Employment),
				Suspended: u.Status == "SUSPENDED"})
		}
		return fn(page)
	})
}
