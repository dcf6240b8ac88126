// Package google is the "google" provider and directory source: group
// memberships, account suspension and the people of a Google Workspace
// through the Admin SDK Directory API, as a service account with
// domain-wide delegation impersonating an admin (golang.org/x/oauth2/jwt;
// the token is kept until shortly before it expires, on the injected
// clock, and renewed once at a 401), on the shared rate-aware transport,
// which treats Google's 403 userRateLimitExceeded, rateLimitExceeded and
// quotaExceeded like its 429: backoff, the whole client paused.
//
// A few calls on our own transport rather than google.golang.org/api's
// admin/directory/v1 client: that module brings gRPC, OpenTelemetry and
// its own retry policy (which would bypass the shared pace) for the nine
// requests jitbot makes; its discovery document is what the local fake
// validates against instead.
package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/idp"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"
)

// Name is the provider's and the source's name.
const Name = "google"

// DefaultAPI is the Admin SDK's root.
const DefaultAPI = "https://admin.googleapis.com"

// Scopes the service account is granted in the Admin console.
var Scopes = []string{
	"https://www.googleapis.com/auth/admin.directory.user",
	"https://www.googleapis.com/auth/admin.directory.group.member",
}

// DefaultMap: the primary organisation's department and description
// (the Admin console's "Type of employee"), the manager relation.
var DefaultMap = directory.Map{Department: "organizations[].department", Manager: "relations[type=manager]", Employment: "organizations[].description"}

// Config configures a Google provider.
type Config struct {
	Customer string // my_customer, or the customer id
	// Credentials is the service account key file's content
	// (GOOGLE_APPLICATION_CREDENTIALS names the file).
	Credentials []byte
	Subject     string // GOOGLE_ADMIN_SUBJECT: the admin impersonated
	APIURL      string // GOOGLE_ADMIN_API_URL; default DefaultAPI
	Map         directory.Map
	Cache       atlassian.AccountCache
	Log         *zap.Logger
	HTTPClient  *http.Client // fetches tokens (default http.DefaultClient)
	// Clock tells when a token is due for renewal (default the real
	// clock): it is renewed shortly before its expires_in runs out, and
	// once when the Admin SDK answers 401 to it.
	Clock     clockwork.Clock
	Transport atlassian.Options
}

// Google is the provider (idp.Provider) and the directory source.
type Google struct {
	*idp.Provider
	api *api
}

var _ directory.Source = (*Google)(nil)

type api struct {
	c        *atlassian.Client
	customer string
	m        directory.Map
}

const base = "/admin/directory/v1"

// New returns the Google provider. It calls nothing; CheckGroups does.
func New(cfg Config) (*Google, error) {
	var key struct {
		Type         string `json:"type"`
		ClientEmail  string `json:"client_email"`
		PrivateKey   string `json:"private_key"`
		PrivateKeyID string `json:"private_key_id"`
		TokenURI     string `json:"token_uri"`
	}
	switch {
	case len(cfg.Credentials) == 0:
		return nil, errors.New("google: no service account key (GOOGLE_APPLICATION_CREDENTIALS)")
	case json.Unmarshal(cfg.Credentials, &key) != nil || key.Type != "service_account" || key.ClientEmail == "" || key.PrivateKey == "":
		return nil, errors.New("google: GOOGLE_APPLICATION_CREDENTIALS is not a service account key file (type service_account, client_email, private_key)")
	case strings.TrimSpace(cfg.Subject) == "":
		return nil, errors.New("google: no admin to impersonate (GOOGLE_ADMIN_SUBJECT)")
	}
	if key.TokenURI == "" {
		key.TokenURI = "https://oauth2.googleapis.com/token"
	}
	if err := atlassian.CheckBaseURL("the service account's token_uri", key.TokenURI); err != nil {
		return nil, fmt.Errorf("google: %w", err)
	}
	if cfg.Customer == "" {
		cfg.Customer = "my_customer"
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPI
	}
	jc := &jwt.Config{Email: key.ClientEmail, PrivateKey: []byte(key.PrivateKey), PrivateKeyID: key.PrivateKeyID,
		Subject: cfg.Subject, Scopes: Scopes, TokenURL: key.TokenURI}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	tctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	tokens := idp.NewTokens(func() (*oauth2.Token, error) {
		// A new TokenSource holds no token: it signs a new assertion and
		// asks for a new token. idp.Tokens keeps it, on cfg.Clock, rather
		// than oauth2's cache on the real clock.
		t, err := jc.TokenSource(tctx).Token()
		if err != nil {
			return nil, tokenError(err)
		}
		return t, nil
	}, cfg.Clock)
	o := cfg.Transport
	o.Name, o.BaseURL, o.Setting = Name, cfg.APIURL, "GOOGLE_ADMIN_API_URL"
	o.Auth = tokens.Auth(key.PrivateKey)
	o.Throttled = rateLimited
	o.Reasons = map[int]string{http.StatusUnauthorized: "Google rejected the service account's token",
		http.StatusForbidden: "the impersonated admin or the service account's scopes do not allow this (admin.directory.user, admin.directory.group.member)"}
	if o.Log == nil {
		o.Log = cfg.Log
	}
	c, err := atlassian.New(o)
	if err != nil {
		return nil, err
	}
	a := &api{c: c, customer: cfg.Customer, m: cfg.Map.Or(DefaultMap)}
	return &Google{Provider: idp.New(Name, "in Google Workspace "+cfg.Customer, a, cfg.Cache, cfg.Log), api: a}, nil
}

// tokenError keeps what the token endpoint said (its error and
// error_description name the problem: an admin not delegated to, a scope
// not granted) and nothing else. oauth2's JWT flow leaves them in the
// answer's body.
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("google: get a token: %w", err)
	}
	code, desc := re.ErrorCode, re.ErrorDescription
	if code == "" {
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(re.Body, &body) == nil {
			code, desc = body.Error, body.Description
		}
	}
	if code == "" && re.Response != nil {
		code = re.Response.Status
	}
	return fmt.Errorf("google: the token endpoint refused the service account: %s %s", code, desc)
}

// rateLimited reads Google's 403 (and 429) rate-limit reasons.
func rateLimited(status int, body []byte) bool {
	if status != http.StatusForbidden && status != http.StatusTooManyRequests {
		return false
	}
	var e struct {
		Error struct {
			Errors []struct{ Reason string } `json:"errors"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return false
	}
	for _, x := range e.Error.Errors {
		switch x.Reason {
		case "userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded":
			return true
		}
	}
	return false
}

// Client returns the transport.
func (g *Google) Client() *atlassian.Client { return g.api.c }

// list GETs path page by page (nextPageToken), decoding each into T.
func list[T any](ctx context.Context, c *atlassian.Client, path string, q url.Values, fn func(T) error) error {
	for {
		var page struct {
			Next string `json:"nextPageToken"`
		}
		var raw json.RawMessage
		if _, err := c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: path, Query: q}, &raw); err != nil {
			return err
		}
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("google: decode %s: %w", path, err)
		}
		_ = json.Unmarshal(raw, &page)
		if err := fn(v); err != nil {
			return err
		}
		if page.Next == "" {
			return nil
		}
		q.Set("pageToken", page.Next)
	}
}

func (a *api) FindGroups(ctx context.Context, names []string) (map[string][]string, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[strings.ToLower(n)] = true
	}
	found := map[string][]string{}
	q := url.Values{"customer": {a.customer}, "maxResults": {"200"}}
	err := list(ctx, a.c, base+"/groups", q, func(p struct {
		Groups []struct{ ID, Email, Name string } `json:"groups"`
	}) error {
		for _, g := range p.Groups {
			for _, k := range []string{strings.ToLower(g.Name), strings.ToLower(g.Email)} {
				if want[k] {
					found[k] = append(found[k], g.ID)
				}
			}
		}
		return nil
	})
	return found, err
}

func (a *api) FindUser(ctx context.Context, email string) ([]string, error) {
	var u struct {
		ID, PrimaryEmail string
	}
	_, err := a.c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: base + "/users/" + url.PathEscape(email)}, &u)
	if atlassian.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []string{u.ID}, nil
}

// Add inserts the member; Google answers 409 duplicate for a member,
// which is how it tells.
func (a *api) Add(ctx context.Context, groupID, _, email string) (bool, error) {
	_, err := a.c.Do(ctx, atlassian.Request{Method: http.MethodPost, Path: base + "/groups/" + url.PathEscape(groupID) + "/members",
		Body: map[string]string{"email": email, "role": "MEMBER"}}, nil)
	if atlassian.StatusOf(err) == http.StatusConflict {
		return true, nil
	}
	return false, err
}

func (a *api) Remove(ctx context.Context, groupID, userID, _ string) error {
	_, err := a.c.Do(ctx, atlassian.Request{Method: http.MethodDelete, Path: base + "/groups/" + url.PathEscape(groupID) + "/members/" + url.PathEscape(userID)}, nil)
	if atlassian.IsNotFound(err) {
		// Not a member, or the group is gone: the group tells which.
		_, err = a.c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: base + "/groups/" + url.PathEscape(groupID)}, nil)
	}
	return err
}

func (a *api) IsMember(ctx context.Context, groupID, userID, _ string) (bool, error) {
	var r struct {
		IsMember bool `json:"isMember"`
	}
	_, err := a.c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: base + "/groups/" + url.PathEscape(groupID) + "/hasMember/" + url.PathEscape(userID)}, &r)
	return r.IsMember, err
}

func (a *api) Members(ctx context.Context, groupID string) ([]string, error) {
	var out []string
	err := list(ctx, a.c, base+"/groups/"+url.PathEscape(groupID)+"/members", url.Values{"maxResults": {"200"}}, func(p struct {
		Members []struct{ Email, Type string } `json:"members"`
	}) error {
		for _, m := range p.Members {
			if m.Type == "USER" {
				out = append(out, m.Email)
			}
		}
		return nil
	})
	return out, err
}

// SetSuspended is users.update {"suspended": on}, idempotent.
func (a *api) SetSuspended(ctx context.Context, userID string, on bool) error {
	_, err := a.c.Do(ctx, atlassian.Request{Method: http.MethodPut, Path: base + "/users/" + url.PathEscape(userID), Body: map[string]bool{"suspended": on}}, nil)
	return err
}

// Synced: the Directory API does not say whether a group is synced from
// elsewhere.
func (a *api) Synced(context.Context, string) (bool, error) { return false, nil }

// Name names the directory source.
func (g *Google) Name() string { return Name }

// People pages every user of the customer, 500 at a time (the API's
// most). With the default map the users are decoded into fixed fields: a
// map per user is most of the cost of a 100,000-person sync.
func (g *Google) People(ctx context.Context, fn func([]directory.Entry) error) error {
	m := g.api.m
	q := url.Values{"customer": {g.api.customer}, "maxResults": {"500"}, "projection": {"full"}}
	if m == DefaultMap {
		type org struct {
			Department, Description string
			Primary                 bool
		}
		return list(ctx, g.api.c, base+"/users", q, func(p struct {
			Users []struct {
				ID, PrimaryEmail string
				Suspended        bool
				Organizations    []org
				Relations        []struct{ Type, Value string }
			} `json:"users"`
		}) error {
			page := make([]directory.Entry, 0, len(p.Users))
			for _, u := range p.Users {
				en := directory.Entry{ID: u.ID, Login: u.PrimaryEmail, Email: u.PrimaryEmail, Suspended: u.Suspended}
				for i, o := range u.Organizations { // the primary organisation's, else the first's
					if i == 0 || o.Primary {
						en.Department, en.Employment = o.Department, o.Description
					}
					if o.Primary {
						break
					}
				}
				for _, r := range u.Relations {
					if r.Type == "manager" {
						en.Manager = r.Value
						break
					}
				}
				page = append(page, en)
			}
			return fn(page)
		})
	}
	return list(ctx, g.api.c, base+"/users", q, func(p struct {
		Users []map[string]any `json:"users"`
	}) error {
		page := make([]directory.Entry, 0, len(p.Users))
		for _, u := range p.Users {
			email, _ := u["primaryEmail"].(string)
			id, _ := u["id"].(string)
			susp, _ := u["suspended"].(bool)
			page = append(page, directory.Entry{ID: id, Login: email, Email: email, Suspended: susp,
				Department: pick(u, m.Department), Manager: pick(u, m.Manager), Employment: pick(u, m.Employment)})
		}
		return fn(page)
	})
}

// pick reads an attribute by path: "key", "list[].field" (the primary
// item's, else the first that has it) or "list[type=X]" (that item's value).
func pick(u map[string]any, path string) string {
	if path == "" {
		return ""
	}
	if k, field, ok := strings.Cut(path, "[]."); ok {
		items, _ := u[k].([]any)
		best := ""
		for _, it := range items {
			m, _ := it.(map[string]any)
			v, _ := m[field].(string)
			if primary, _ := m["primary"].(bool); primary && v != "" {
				return v
			}
			if best == "" {
				best = v
			}
		}
		return best
	}
	if k, sel, ok := strings.Cut(path, "[type="); ok {
		typ := strings.TrimSuffix(sel, "]")
		items, _ := u[k].([]any)
		for _, it := range items {
			m, _ := it.(map[string]any)
			if m["type"] == typ {
				v, _ := m["value"].(string)
				return v
			}
		}
		return ""
	}
	v, _ := u[path].(string)
	return v
}
