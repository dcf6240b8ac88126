package atlassianadmin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"go.uber.org/zap"
)

// What licence reviews read and do through the Admin API. The shapes are
// those of the jira.js client's generated admin models
// (github.com/MrRefactoring/jira.js, src/admin/models, generated from
// Atlassian's spec; there is none in shared/specs): multiDirectoryUser.ts,
// multiDirectoryProductAccess.ts, multiDirectoryUserGroup.ts,
// multiDirectoryUserSearchRequest.ts, linkPageCursor.ts, and for v1
// userProductAccessModel.ts and userProductLastActive.ts. Types here are
// plain Go: times are time.Time, and the zero time means "never" or
// "not given".

// Values of User.Status: a composite of AccountStatus and
// MembershipStatus (models/status.ts).
const (
	StatusActive      = "active"      // account active, membership active
	StatusSuspended   = "suspended"   // account active, access suspended
	StatusNotInvited  = "not_invited" // account active, in no directory
	StatusDeactivated = "deactivated" // account inactive
	StatusForDeletion = "for_deletion"
)

// Values of User.ManagementSource.
const (
	ManagedInvited = "invited" // invited by an admin
	ManagedSynced  = "synced"  // provisioned from an identity provider (SCIM)
)

// User is a directory user as the v2 users search describes it.
type User struct {
	AccountID        string
	AccountType      string // "atlassian", "app", "customer"
	Status           string // StatusActive, StatusSuspended, …
	AccountStatus    string // "active", "inactive", "closed"
	MembershipStatus string // "active", "suspended", "no_membership"
	ManagementSource string // ManagedInvited, ManagedSynced, or "" when the API could not tell
	ClaimStatus      string // "managed", "unmanaged"
	Email            string
	Name             string
	Department       string
	JobTitle         string
	AddedToOrg       time.Time // zero: not given
	// Products is set when UserQuery.Products asked for it: each product
	// the user may use, with their last activity in it.
	Products []ProductAccess
	// ProductsMissing: the products were asked for and the search sent
	// none at all (not an empty list): LastActiveDates has them.
	ProductsMissing bool
	// Groups is set when UserQuery.Groups asked for it: the groups the
	// user is in, within the directory searched.
	Groups []Group
}

// Synced reports whether an identity provider manages the account (SCIM):
// the Admin API will not suspend it; that is done in the identity provider.
func (u User) Synced() bool { return u.ManagementSource == ManagedSynced }

// ProductAccess is a user's access to one product.
type ProductAccess struct {
	Key string // "jira-software", "confluence", …
	ID  string // the product instance (the site's product)
	// LastActive is the user's last activity in the product: viewing a
	// page for two seconds or more, reported up to a day late. Zero means
	// never used: the v2 search sends the product without
	// lastActiveTimestamp (optional in multiDirectoryProductAccess), and
	// v1 last-active-dates does not list it at all.
	LastActive time.Time
}

// Group is a group of the organisation's directory.
type Group struct {
	ID          string
	Name        string
	DirectoryID string // "" when the answer did not say
}

// UserQuery selects the users EachUser visits. The zero value selects
// every user of the configured directory. Filters combine with AND.
type UserQuery struct {
	AccountIDs       []string
	Emails           []string // exact matches; not with SearchTerm
	SearchTerm       string   // in names and emails; not with Emails
	Status           []string // StatusActive, StatusSuspended, …
	AccountStatus    []string // "active", "inactive", "closed"
	MembershipStatus []string // "active", "suspended", "no_membership"
	EmailDomains     []string // "example.com"
	GroupIDs         []string // members of any of these groups
	ClaimStatus      string   // "managed" or "unmanaged"
	// Products and Groups expand each user with User.Products and
	// User.Groups.
	Products, Groups bool
	// PageSize is how many users each request asks for: 1 to 100
	// (default 100, the API's most).
	PageSize int
}

// Typed errors of the directory calls, matched with errors.Is. The
// *atlassian.Error behind them, if any, is in the chain too.
var (
	// ErrNotFound: no such account in the organisation's directory.
	ErrNotFound = errors.New("no such account in the organisation's directory")
	// ErrIdPManaged: an identity provider manages the account (SCIM), so
	// its access is suspended and restored there, not through the API.
	ErrIdPManaged = errors.New("the account is managed by an identity provider: change its access there")
	// ErrDeactivated: the account is deactivated; there is no access to
	// suspend or restore.
	ErrDeactivated = errors.New("the account is deactivated")
	// ErrAlreadySuspended: Suspend found the access already suspended.
	ErrAlreadySuspended = errors.New("the account's access is already suspended")
	// ErrNotSuspended: Restore found the access not suspended.
	ErrNotSuspended = errors.New("the account's access is not suspended")
)

// AccountError is a directory call about one account that the API
// refused, with the typed reason (Kind) and the API's answer (Err).
type AccountError struct {
	Op        string // "suspend", "restore", "last-active-dates"
	AccountID string
	Kind      error // ErrNotFound, ErrIdPManaged, …
	Err       error // the API's answer
}

func (e *AccountError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("%s %s: %v", e.Op, e.AccountID, e.Kind)
	}
	return fmt.Sprintf("%s %s: %v (%v)", e.Op, e.AccountID, e.Kind, e.Err)
}

// Unwrap gives errors.Is and errors.As both the kind and the answer.
func (e *AccountError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// searchBody is the v2 users search request of q.
func (q UserQuery) searchBody() (map[string]any, error) {
	if q.SearchTerm != "" && len(q.Emails) > 0 {
		return nil, errors.New("users search: Emails and SearchTerm cannot be combined")
	}
	n := q.PageSize
	if n == 0 {
		n = 100
	}
	if n < 1 || n > 100 {
		return nil, fmt.Errorf("users search: page size %d is outside 1..100", n)
	}
	body := map[string]any{"limit": n}
	for k, v := range map[string][]string{"accountIds": q.AccountIDs, "emails": q.Emails, "status": q.Status, "accountStatus": q.AccountStatus,
		"membershipStatus": q.MembershipStatus, "emailDomains": q.EmailDomains, "groupIds": q.GroupIDs} {
		if len(v) > 0 {
			body[k] = v
		}
	}
	if q.SearchTerm != "" {
		body["searchTerm"] = q.SearchTerm
	}
	if q.ClaimStatus != "" {
		body["claimStatus"] = q.ClaimStatus
	}
	var expand []string
	if q.Products {
		expand = append(expand, "productAccess")
	}
	if q.Groups {
		expand = append(expand, "groups")
	}
	if len(expand) > 0 {
		body["expand"] = expand
	}
	return body, nil
}

// apiUser is multiDirectoryUser, as much of it as jitbot reads.
type apiUser struct {
	AccountID        string  `json:"accountId"`
	AccountType      string  `json:"accountType"`
	Status           string  `json:"status"`
	AccountStatus    string  `json:"accountStatus"`
	MembershipStatus string  `json:"membershipStatus"`
	ManagementSource *string `json:"managementSource"`
	ClaimStatus      string  `json:"claimStatus"`
	Email            string  `json:"email"`
	Name             string  `json:"name"`
	Department       *string `json:"department"`
	JobTitle         string  `json:"jobTitle"`
	AddedToOrg       string  `json:"addedToOrg"`
	ProductAccess    []struct {
		Key                 string `json:"key"`
		ID                  string `json:"id"`
		LastActiveTimestamp string `json:"lastActiveTimestamp"`
	} `json:"productAccess"`
	Groups []struct {
		ID   string  `json:"id"`
		Name *string `json:"name"`
	} `json:"groups"`
}

// parseTime reads an ISO 8601 time; "" is the zero time. A time that does
// not parse is an error, never "never": reading it as "never used" could
// suspend someone who is active.
func parseTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q is not an ISO 8601 time", field, v)
}

func (a *apiUser) user() (User, error) {
	u := User{AccountID: a.AccountID, AccountType: a.AccountType, Status: a.Status, AccountStatus: a.AccountStatus,
		MembershipStatus: a.MembershipStatus, ClaimStatus: a.ClaimStatus, Email: strings.TrimSpace(a.Email), Name: a.Name, JobTitle: a.JobTitle}
	if a.ManagementSource != nil {
		u.ManagementSource = *a.ManagementSource
	}
	if a.Department != nil {
		u.Department = *a.Department
	}
	var err error
	if u.AddedToOrg, err = parseTime("addedToOrg", a.AddedToOrg); err != nil {
		return User{}, fmt.Errorf("user %s: %w", a.AccountID, err)
	}
	for _, p := range a.ProductAccess {
		t, err := parseTime("lastActiveTimestamp", p.LastActiveTimestamp)
		if err != nil {
			return User{}, fmt.Errorf("user %s, product %s: %w", a.AccountID, p.Key, err)
		}
		u.Products = append(u.Products, ProductAccess{Key: p.Key, ID: p.ID, LastActive: t})
	}
	for _, g := range a.Groups {
		x := Group{ID: g.ID}
		if g.Name != nil {
			x.Name = *g.Name
		}
		u.Groups = append(u.Groups, x)
	}
	return u, nil
}

// EachUser calls fn with every user q selects, in the API's order, one
// page (up to 100 users) at a time, so the whole directory never sits in
// memory: v2 users search, following links.next. It stops at the first
// error, from the API or from fn, and returns it as is. Rate limits are
// the transport's: it waits out each 429 until X-RateLimit-Reset.
func (p *Provider) EachUser(ctx context.Context, q UserQuery, fn func(User) error) error {
	body, err := q.searchBody()
	if err != nil {
		return err
	}
	var ferr error
	err = search(ctx, p, p.dirPath(p.dir)+"/users/search", body, func(a apiUser) bool {
		var u User
		if u, ferr = a.user(); ferr == nil {
			u.ProductsMissing = q.Products && a.ProductAccess == nil
			ferr = fn(u)
		}
		return ferr == nil
	})
	if ferr != nil {
		return ferr
	}
	return err
}

// UserByID returns one user with their products and groups, or an error
// matching ErrNotFound.
func (p *Provider) UserByID(ctx context.Context, accountID string) (User, error) {
	var found *User
	err := p.EachUser(ctx, UserQuery{AccountIDs: []string{accountID}, Products: true, Groups: true, PageSize: 1}, func(u User) error {
		if u.AccountID == accountID {
			found = &u
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return User{}, err
	}
	if found == nil {
		return User{}, approvals.Permanent(&AccountError{Op: "lookup", AccountID: accountID, Kind: ErrNotFound})
	}
	return *found, nil
}

var errStop = errors.New("stop")

// LastActive is a user's v1 last-active-dates.
type LastActive struct {
	AddedToOrg time.Time // zero: not given
	// Products lists the products the user has used, with the last time;
	// v1 leaves out the products they may use but never have.
	Products []ProductAccess
}

// LastActiveDates reads one user's last activity per product: v1 GET
// /admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates,
// all pages. It is the per-user fallback when a bulk search did not give
// a product's activity. An unknown account is an error matching
// ErrNotFound.
func (p *Provider) LastActiveDates(ctx context.Context, accountID string) (LastActive, error) {
	if accountID == "" {
		return LastActive{}, approvals.Permanent(errors.New("last-active-dates: no account id"))
	}
	path := "/admin/v1/orgs/" + url.PathEscape(p.org) + "/directory/users/" + url.PathEscape(accountID) + "/last-active-dates"
	var out LastActive
	q := url.Values{}
	seen := map[string]bool{}
	for {
		var pg struct {
			Data struct {
				ProductAccess []struct {
					ID                  string `json:"id"`
					Key                 string `json:"key"`
					LastActive          string `json:"last_active"`
					LastActiveTimestamp string `json:"last_active_timestamp"`
				} `json:"product_access"`
				AddedToOrg          string `json:"added_to_org"`
				AddedToOrgTimestamp string `json:"added_to_org_timestamp"`
			} `json:"data"`
			Links struct {
				Next string `json:"next"`
			} `json:"links"`
		}
		if _, err := p.c.Do(ctx, atlassian.Request{Method: http.MethodGet, Path: path, Query: q}, &pg); err != nil {
			if atlassian.IsNotFound(err) {
				return LastActive{}, &AccountError{Op: "last-active-dates", AccountID: accountID, Kind: ErrNotFound, Err: err}
			}
			return LastActive{}, err
		}
		// The timestamp when there is one, else the date.
		added, err := parseTime("added_to_org", or(pg.Data.AddedToOrgTimestamp, pg.Data.AddedToOrg))
		if err != nil {
			return LastActive{}, fmt.Errorf("last-active-dates %s: %w", accountID, err)
		}
		if !added.IsZero() {
			out.AddedToOrg = added
		}
		for _, x := range pg.Data.ProductAccess {
			t, err := parseTime("last_active", or(x.LastActiveTimestamp, x.LastActive))
			if err != nil {
				return LastActive{}, fmt.Errorf("last-active-dates %s, product %s: %w", accountID, x.Key, err)
			}
			out.Products = append(out.Products, ProductAccess{Key: x.Key, ID: x.ID, LastActive: t})
		}
		next := pg.Links.Next
		if next == "" || len(pg.Data.ProductAccess) == 0 || seen[next] {
			return out, nil
		}
		seen[next] = true
		q.Set("cursor", next)
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// UserGroups lists the groups the account is in, sorted by name: v2
// groups search by member. Suspension does not change them.
func (p *Provider) UserGroups(ctx context.Context, accountID string) ([]Group, error) {
	var out []Group
	err := search(ctx, p, p.dirPath(p.dir)+"/groups/search", map[string]any{"accountIds": []string{accountID}, "limit": 100}, func(g adminGroup) bool {
		out = append(out, Group(g))
		return true
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Group) int { return strings.Compare(a.Name+"\x00"+a.ID, b.Name+"\x00"+b.ID) })
	return out, nil
}

// Suspend suspends the account's access (v2 …/users/{accountId}/suspend):
// they can no longer use the organisation's products, are not billed, and
// keep their roles and group memberships for Restore. With no directory
// configured it suspends in every directory the account is in.
//
// A refusal is an *AccountError whose kind is ErrNotFound, ErrIdPManaged
// (the account is synced from an identity provider), ErrDeactivated or
// ErrAlreadySuspended (every directory said so); the kind is read from
// the answer and, when the answer is not plain, from the account itself.
func (p *Provider) Suspend(ctx context.Context, accountID string) error {
	return p.userAction(ctx, accountID, "suspend")
}

// Restore gives a suspended account its access back (v2 …/restore), with
// the roles and memberships it had; billing resumes. Its refusals are
// Suspend's, with ErrNotSuspended for an account whose access was not
// suspended.
func (p *Provider) Restore(ctx context.Context, accountID string) error {
	return p.userAction(ctx, accountID, "restore")
}

func (p *Provider) userAction(ctx context.Context, accountID, action string) error {
	if accountID == "" {
		return approvals.Permanent(fmt.Errorf("%s: no account id", action))
	}
	dirs := []string{p.dir}
	if p.dir == AnyDirectory {
		var err error
		if dirs, err = p.directoriesOf(ctx, accountID); err != nil {
			return err
		}
		if len(dirs) == 0 {
			return approvals.Permanent(&AccountError{Op: action, AccountID: accountID, Kind: ErrNotFound,
				Err: fmt.Errorf("the account %s is in no directory of organisation %s", accountID, p.org)})
		}
	}
	var already error
	changed := false
	for _, d := range dirs {
		_, err := p.c.Do(ctx, atlassian.Request{Method: http.MethodPost, Path: p.dirPath(d) + "/users/" + url.PathEscape(accountID) + "/" + action}, nil)
		if err == nil {
			changed = true
			p.log.Info("user "+action, zap.String("account_id", accountID), zap.String("directory", d))
			continue
		}
		err = p.explainRefusal(ctx, action, accountID, err)
		if errors.Is(err, ErrAlreadySuspended) || errors.Is(err, ErrNotSuspended) {
			already = err
			continue
		}
		return err
	}
	if !changed && already != nil {
		return already
	}
	return nil
}

// explainRefusal gives a refused suspend or restore its kind. Atlassian
// does not document these refusals, so the answer is read first (404;
// "already" in the detail), then, for any other 400, 403 or 409, the
// account itself: synced from an identity provider, deactivated, or
// already in the state asked for. A 403 for anything else stays what it
// was (the API key may not manage users).
func (p *Provider) explainRefusal(ctx context.Context, action, accountID string, err error) error {
	e, ok := atlassian.AsError(err)
	if !ok {
		return err
	}
	kind := func(k error) error { return &AccountError{Op: action, AccountID: accountID, Kind: k, Err: err} }
	same := ErrAlreadySuspended
	if action == "restore" {
		same = ErrNotSuspended
	}
	switch {
	case e.Status == http.StatusNotFound:
		return kind(ErrNotFound)
	case (e.Status == http.StatusConflict || e.Status == http.StatusBadRequest) && e.Says("already"):
		return kind(same)
	case e.Status != http.StatusBadRequest && e.Status != http.StatusForbidden && e.Status != http.StatusConflict:
		return err
	}
	u, lerr := p.UserByID(ctx, accountID)
	switch {
	case errors.Is(lerr, ErrNotFound):
		return kind(ErrNotFound)
	case lerr != nil:
		p.log.Warn("could not read the account to explain a refusal", zap.String("account_id", accountID), zap.String("action", action),
			zap.String("error", lerr.Error()))
		return err
	case u.Synced():
		return kind(ErrIdPManaged)
	case u.Status == StatusDeactivated || u.AccountStatus == "inactive" || u.AccountStatus == "closed":
		return kind(ErrDeactivated)
	case action == "suspend" && u.Status == StatusSuspended, action == "restore" && u.Status == StatusActive:
		return kind(same)
	}
	return err
}
