// Package entra is the "entra" provider and directory source: group
// memberships, account enabling and the people of a Microsoft Entra ID
// tenant through Microsoft Graph v1.0, with an app's client credentials
// (golang.org/x/oauth2/clientcredentials; the token is kept until shortly
// before it expires, and renewed once at a 401) on the shared rate-aware
// transport, which honours Graph's 429 and 503 with Retry-After.
//
// A few calls on our own transport rather than the Microsoft Graph Go SDK:
// the SDK (Kiota) adds tens of megabytes to the binary and minutes to the
// build for the seven requests jitbot makes, and brings its own retry
// handler that would bypass the shared pace.
package entra

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
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Name is the provider's and the source's name.
const Name = "entra"

// Defaults of Config.
const (
	DefaultAuthority = "https://login.microsoftonline.com"
	DefaultGraph     = "https://graph.microsoft.com"
	graphScope       = "https://graph.microsoft.com/.default"
)

// DefaultMap: Graph's department and employeeType properties and the
// manager relation.
var DefaultMap = directory.Map{Department: "department", Manager: "manager", Employment: "employeeType"}

// Config configures an Entra provider.
type Config struct {
	Tenant       string           // the tenant id
	ClientID     string           // AZURE_CLIENT_ID
	ClientSecret atlassian.Secret // AZURE_CLIENT_SECRET
	Authority    string           // AZURE_AUTHORITY_HOST; default DefaultAuthority
	GraphURL     string           // ENTRA_GRAPH_URL; default DefaultGraph
	Map          directory.Map
	Cache        atlassian.AccountCache
	Log          *zap.Logger
	// HTTPClient fetches tokens (default http.DefaultClient).
	HTTPClient *http.Client
	// Clock tells when a token is due for renewal (default the real
	// clock): it is renewed shortly before its expires_in runs out, and
	// once when Graph answers 401 to it.
	Clock     clockwork.Clock
	Transport atlassian.Options
}

// Entra is the provider (idp.Provider) and the directory source.
type Entra struct {
	*idp.Provider
	api *api
}

var _ directory.Source = (*Entra)(nil)

type api struct {
	c     *atlassian.Client
	graph string
	m     directory.Map
}

// New returns the Entra provider. It calls nothing; CheckGroups does.
func New(cfg Config) (*Entra, error) {
	switch {
	case strings.TrimSpace(cfg.Tenant) == "":
		return nil, errors.New("entra: no tenant (entra: {tenant: …})")
	case cfg.ClientID == "":
		return nil, errors.New("entra: no client id (AZURE_CLIENT_ID)")
	case cfg.ClientSecret == "":
		return nil, errors.New("entra: no client secret (AZURE_CLIENT_SECRET)")
	}
	if cfg.Authority == "" {
		cfg.Authority = DefaultAuthority
	}
	if cfg.GraphURL == "" {
		cfg.GraphURL = DefaultGraph
	}
	if err := atlassian.CheckBaseURL("AZURE_AUTHORITY_HOST", cfg.Authority); err != nil {
		return nil, fmt.Errorf("entra: %w", err)
	}
	cc := &clientcredentials.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret.Reveal(),
		TokenURL:  strings.TrimRight(cfg.Authority, "/") + "/" + url.PathEscape(cfg.Tenant) + "/oauth2/v2.0/token",
		Scopes:    []string{graphScope},
		AuthStyle: oauth2.AuthStyleInParams}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	tctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	tokens := idp.NewTokens(func() (*oauth2.Token, error) {
		t, err := cc.Token(tctx) // a new client-credentials request
		if err != nil {
			return nil, tokenError(err)
		}
		return t, nil
	}, cfg.Clock)
	o := cfg.Transport
	o.Name, o.BaseURL, o.Setting = Name, cfg.GraphURL, "ENTRA_GRAPH_URL"
	o.Auth = tokens.Auth(cfg.ClientSecret.Reveal())
	o.Reasons = map[int]string{http.StatusUnauthorized: "Graph rejected the app's token",
		http.StatusForbidden: "the app lacks a Graph permission this needs (User.Read.All, GroupMember.ReadWrite.All, User.EnableDisableAccount.All)"}
	if o.Log == nil {
		o.Log = cfg.Log
	}
	c, err := atlassian.New(o)
	if err != nil {
		return nil, err
	}
	a := &api{c: c, graph: c.BaseURL(), m: cfg.Map.Or(DefaultMap)}
	return &Entra{Provider: idp.New(Name, "in Entra tenant "+cfg.Tenant, a, cfg.Cache, cfg.Log), api: a}, nil
}

// tokenError keeps what the token endpoint said (its error code and
// description name the problem: invalid_client, a tenant not found) and
// nothing else.
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return fmt.Errorf("entra: the token endpoint refused the app's credentials: %s %s", re.ErrorCode, re.ErrorDescription)
	}
	return fmt.Errorf("entra: get a token: %w", err)
}

// Client returns the transport.
func (e *Entra) Client() *atlassian.Client { return e.api.c }

type graphUser struct {
	ID             string               `json:"id"`
	UPN            string               `json:"userPrincipalName"`
	Mail           string               `json:"mail"`
	AccountEnabled *bool                `json:"accountEnabled"`
	Manager        *struct{ ID string } `json:"manager"`
	Extra          map[string]any       `json:"-"`
}

type graphPage[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"@odata.nextLink"`
}

// pages GETs path and follows @odata.nextLink.
func pages[T any](ctx context.Context, c *atlassian.Client, path string, q url.Values, fn func([]T) error) error {
	for {
		var page graphPage[T]
		if _, err := c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: path, Query: q}, &page); err != nil {
			return err
		}
		if err := fn(page.Value); err != nil {
			return err
		}
		if page.NextLink == "" {
			return nil
		}
		u, err := url.Parse(page.NextLink)
		if err != nil {
			return errors.New("entra: an @odata.nextLink that is not a URL")
		}
		path, q = u.EscapedPath(), u.Query()
		if base, _ := url.Parse(c.BaseURL()); base != nil {
			path = strings.TrimPrefix(path, base.EscapedPath())
		}
	}
}

func odataQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (a *api) FindGroups(ctx context.Context, names []string) (map[string][]string, error) {
	found := map[string][]string{}
	for _, name := range atlassian.Dedupe(names) {
		q := url.Values{"$filter": {"displayName eq " + odataQuote(name)}, "$select": {"id,displayName"}}
		err := pages(ctx, a.c, "/v1.0/groups", q, func(gs []struct{ ID, DisplayName string }) error {
			for _, g := range gs {
				idp.AddExact(found, name, g.DisplayName, g.ID)
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
	q := url.Values{"$filter": {"mail eq " + odataQuote(email) + " or userPrincipalName eq " + odataQuote(email)}, "$select": {"id,mail,userPrincipalName"}}
	var ids []string
	err := pages(ctx, a.c, "/v1.0/users", q, func(us []graphUser) error {
		for _, u := range us {
			ids = append(ids, u.ID)
		}
		return nil
	})
	return ids, err
}

// Add posts the reference; Graph answers 400 "…already exist…" for a
// member, which is how it tells.
func (a *api) Add(ctx context.Context, groupID, userID, _ string) (bool, error) {
	body := map[string]string{"@odata.id": a.graph + "/v1.0/directoryObjects/" + userID}
	_, err := a.c.Do(ctx, atlassian.Request{Method: http.MethodPost, Path: "/v1.0/groups/" + url.PathEscape(groupID) + "/members/$ref", Body: body}, nil)
	if e, ok := atlassian.AsError(err); ok && e.Status == http.StatusBadRequest && e.Says("already exist") {
		return true, nil
	}
	return false, err
}

func (a *api) Remove(ctx context.Context, groupID, userID, _ string) error {
	_, err := a.c.Do(ctx, atlassian.Request{Method: http.MethodDelete, Path: "/v1.0/groups/" + url.PathEscape(groupID) + "/members/" + url.PathEscape(userID) + "/$ref"}, nil)
	if atlassian.IsNotFound(err) {
		// Not a member, or gone: tell which by looking the group up.
		if _, gerr := a.c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: "/v1.0/groups/" + url.PathEscape(groupID), Query: url.Values{"$select": {"id"}}}, nil); gerr != nil {
			return gerr
		}
		return nil
	}
	return err
}

func (a *api) IsMember(ctx context.Context, groupID, userID, _ string) (bool, error) {
	member := false
	err := pages(ctx, a.c, "/v1.0/users/"+url.PathEscape(userID)+"/memberOf", url.Values{"$select": {"id"}}, func(gs []struct{ ID string }) error {
		for _, g := range gs {
			member = member || g.ID == groupID
		}
		return nil
	})
	return member, err
}

func (a *api) Members(ctx context.Context, groupID string) ([]string, error) {
	var out []string
	q := url.Values{"$select": {"id,mail,userPrincipalName"}, "$top": {"999"}}
	err := pages(ctx, a.c, "/v1.0/groups/"+url.PathEscape(groupID)+"/members/microsoft.graph.user", q, func(us []graphUser) error {
		for _, u := range us {
			out = append(out, cmpOr(u.Mail, u.UPN))
		}
		return nil
	})
	return out, err
}

// SetSuspended PATCHes accountEnabled, which is idempotent.
func (a *api) SetSuspended(ctx context.Context, userID string, on bool) error {
	_, err := a.c.Do(ctx, atlassian.Request{Method: http.MethodPatch, Path: "/v1.0/users/" + url.PathEscape(userID), Body: map[string]bool{"accountEnabled": !on}}, nil)
	return err
}

// Synced: onPremisesSyncEnabled says the group comes from on-premises AD.
func (a *api) Synced(ctx context.Context, groupID string) (bool, error) {
	var g struct {
		Sync *bool `json:"onPremisesSyncEnabled"`
	}
	_, err := a.c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: "/v1.0/groups/" + url.PathEscape(groupID), Query: url.Values{"$select": {"id,onPremisesSyncEnabled"}}}, &g)
	return g.Sync != nil && *g.Sync, err
}

// Name names the directory source.
func (e *Entra) Name() string { return Name }

// People pages every user, 999 at a time (Graph's most), the manager
// expanded in the same request. With the default map the users are
// decoded into fixed fields: a map per user is most of the cost of a
// 100,000-person sync.
func (e *Entra) People(ctx context.Context, fn func([]directory.Entry) error) error {
	m := e.api.m
	sel := []string{"id", "userPrincipalName", "mail", "accountEnabled"}
	for _, f := range []string{m.Department, m.Employment} {
		if f != "" {
			sel = append(sel, f)
		}
	}
	q := url.Values{"$top": {"999"}}
	if m.Manager == "manager" {
		q.Set("$expand", "manager($select=id)")
	} else if m.Manager != "" {
		sel = append(sel, m.Manager)
	}
	q.Set("$select", strings.Join(sel, ","))
	if m == DefaultMap {
		return pages(ctx, e.api.c, "/v1.0/users", q, func(us []struct {
			ID             string `json:"id"`
			UPN            string `json:"userPrincipalName"`
			Mail           string `json:"mail"`
			AccountEnabled *bool  `json:"accountEnabled"`
			Department     string `json:"department"`
			EmployeeType   string `json:"employeeType"`
			Manager        *struct {
				ID string `json:"id"`
			} `json:"manager"`
		}) error {
			page := make([]directory.Entry, 0, len(us))
			for _, u := range us {
				en := directory.Entry{ID: u.ID, Login: u.UPN, Email: cmpOr(u.Mail, u.UPN), Department: u.Department,
					Employment: u.EmployeeType, Suspended: u.AccountEnabled != nil && !*u.AccountEnabled}
				if u.Manager != nil {
					en.Manager = u.Manager.ID
				}
				page = append(page, en)
			}
			return fn(page)
		})
	}
	return pages(ctx, e.api.c, "/v1.0/users", q, func(us []map[string]any) error {
		page := make([]directory.Entry, 0, len(us))
		for _, u := range us {
			en := directory.Entry{ID: str(u["id"]), Login: str(u["userPrincipalName"]), Email: cmpOr(str(u["mail"]), str(u["userPrincipalName"])),
				Department: str(u[m.Department]), Employment: str(u[m.Employment]), Suspended: u["accountEnabled"] == false}
			if m.Manager == "manager" {
				if mg, ok := u["manager"].(map[string]any); ok {
					en.Manager = str(mg["id"])
				}
			} else {
				en.Manager = str(u[m.Manager])
			}
			page = append(page, en)
		}
		return fn(page)
	})
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
