package atlassianfake

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// User is an Atlassian account in the directory.
type User struct {
	AccountID string
	Email     string
	Name      string
	Active    bool // false: deactivated (accountStatus inactive)
	Suspended bool // access suspended in the directory (Admin API)
	HideEmail bool // profile visibility hides the email from Jira

	// What the Admin API v2 users search shows. Empty fields read as the
	// common case: AccountType "atlassian", ManagementSource "invited",
	// ClaimStatus "managed".
	AccountType      string // "atlassian", "app", "customer"
	ManagementSource string // "invited" or "synced" (from an identity provider by SCIM)
	ClaimStatus      string // "managed" or "unmanaged"
	Department       string
	JobTitle         string
	AddedToOrg       time.Time // zero: not sent
	// Products the account has access to, with its last activity in each.
	Products []Product
	// NoBulkActivity leaves productAccess out of this account's v2 users
	// search results even when asked for (the v1 last-active-dates still
	// has it): what a directory looks like when bulk activity lags.
	NoBulkActivity bool
}

// Product is access to one product, with the last activity in it.
type Product struct {
	Key string // "jira-software", "confluence"
	// ID is the product instance's id; default Options.SiteID.
	ID string
	// LastActive is the last activity; zero means access but never used:
	// the v2 search then sends the product without lastActiveTimestamp,
	// and v1 last-active-dates leaves it out.
	LastActive time.Time
}

// SuspendCall is one v2 suspend or restore request the fake answered.
type SuspendCall struct {
	Time      time.Time // Options.Now
	Wall      time.Time
	Op        string // "suspend" or "restore"
	AccountID string
	Directory string
	Status    int // the HTTP status answered
}

// Status values of the Admin API (v2 users search "status"), a composite
// of accountStatus and membershipStatus.
const (
	StatusActive      = "active"
	StatusSuspended   = "suspended"
	StatusDeactivated = "deactivated"
)

func (u *User) accountType() string      { return or(u.AccountType, "atlassian") }
func (u *User) managementSource() string { return or(u.ManagementSource, "invited") }
func (u *User) claimStatus() string      { return or(u.ClaimStatus, "managed") }

func (u *User) accountStatus() string {
	if u.Active {
		return "active"
	}
	return "inactive"
}

func (u *User) membershipStatus() string {
	if u.Suspended {
		return "suspended"
	}
	return "active"
}

func (u *User) status() string {
	switch {
	case !u.Active:
		return StatusDeactivated
	case u.Suspended:
		return StatusSuspended
	}
	return StatusActive
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// directory holds the accounts: a slice sorted by account id (the order
// the Admin API pages in, so a page is a binary search and a slice) with
// indexes by id and by email. Generated ids increase, so adding keeps the
// slice sorted; an id out of order marks it for one sort at the next read.
// The Server's lock is held for every method.
type directory struct {
	byID     map[string]*User
	byEmail  map[string][]*User // lower(email)
	order    []*User
	unsorted bool
}

func newDirectory() directory {
	return directory{byID: map[string]*User{}, byEmail: map[string][]*User{}}
}

// put adds u or replaces the account with its id.
func (d *directory) put(u User) *User {
	if old := d.byID[u.AccountID]; old != nil {
		d.unindexEmail(old)
		*old = u
		d.indexEmail(old)
		return old
	}
	p := &u
	d.byID[u.AccountID] = p
	if n := len(d.order); n > 0 && d.order[n-1].AccountID > u.AccountID {
		d.unsorted = true
	}
	d.order = append(d.order, p)
	d.indexEmail(p)
	return p
}

func (d *directory) indexEmail(u *User) {
	k := strings.ToLower(u.Email)
	d.byEmail[k] = append(d.byEmail[k], u)
}

func (d *directory) unindexEmail(u *User) {
	k := strings.ToLower(u.Email)
	list := slices.DeleteFunc(d.byEmail[k], func(x *User) bool { return x == u })
	if len(list) == 0 {
		delete(d.byEmail, k)
	} else {
		d.byEmail[k] = list
	}
}

func (d *directory) get(id string) *User { return d.byID[id] }

// email returns the account with the email, the first by account id when
// several share it.
func (d *directory) email(e string) *User {
	var found *User
	for _, u := range d.byEmail[strings.ToLower(e)] {
		if found == nil || u.AccountID < found.AccountID {
			found = u
		}
	}
	return found
}

// sorted returns every account in account id order.
func (d *directory) sorted() []*User {
	if d.unsorted {
		sort.Slice(d.order, func(i, j int) bool { return d.order[i].AccountID < d.order[j].AccountID })
		d.unsorted = false
	}
	return d.order
}

// after returns the index in list (sorted by account id) of the first
// account whose id sorts after id.
func after(list []*User, id string) int {
	return sort.Search(len(list), func(i int) bool { return list[i].AccountID > id })
}

func (s *Server) newAccountID() string {
	s.nextID++
	return fmt.Sprintf("5b10ac8d82e05b22cc%06x", s.nextID)
}

// fillUser completes a user's defaults. The lock is held.
func (s *Server) fillUser(u *User) {
	if u.AccountID == "" {
		u.AccountID = s.newAccountID()
	}
	if u.Name == "" {
		u.Name, _, _ = strings.Cut(u.Email, "@")
	}
	u.Products = slices.Clone(u.Products)
	for i := range u.Products {
		if u.Products[i].ID == "" {
			u.Products[i].ID = s.opts.SiteID
		}
	}
}

// AddUser adds an active account with email and returns its account id.
func (s *Server) AddUser(email string) string {
	return s.PutUser(User{Email: email, Active: true})
}

// PutUser adds or replaces an account; an empty AccountID is generated.
func (s *Server) PutUser(u User) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fillUser(&u)
	s.users.put(u)
	return u.AccountID
}

// AddUsers adds n active accounts in one step and returns their ids in
// order. Each starts as user%06d@example.com (numbered from the number
// of accounts already there), named after its email, and fill, if not
// nil, completes it (given its index from 0) before it is stored.
// 100,000 take a fraction of a second.
func (s *Server) AddUsers(n int, fill func(i int, u *User)) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, n)
	base := len(s.users.order)
	s.users.order = slices.Grow(s.users.order, n)
	for i := range n {
		u := User{Email: fmt.Sprintf("user%06d@example.com", base+i), Active: true}
		if fill != nil {
			fill(i, &u)
		}
		s.fillUser(&u)
		s.users.put(u)
		ids[i] = u.AccountID
	}
	return ids
}

// User returns the account with the email (the first, by account id).
func (s *Server) User(email string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users.email(email); u != nil {
		return copyUser(u), true
	}
	return User{}, false
}

// UserByID returns the account with the id, as it is now: its
// suspension, status and product activity included.
func (s *Server) UserByID(accountID string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users.get(accountID); u != nil {
		return copyUser(u), true
	}
	return User{}, false
}

func copyUser(u *User) User {
	c := *u
	c.Products = slices.Clone(u.Products)
	return c
}

// Status returns the account's status as the Admin API composes it:
// StatusActive, StatusSuspended or StatusDeactivated ("" if unknown).
func (s *Server) Status(accountID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users.get(accountID); u != nil {
		return u.status()
	}
	return ""
}

// Suspended reports whether the account with email is suspended.
func (s *Server) Suspended(email string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users.email(email)
	return u != nil && u.Suspended
}

// SuspendCalls returns every v2 suspend and restore request answered, in
// order, refused ones included (with their status).
func (s *Server) SuspendCalls() []SuspendCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.suspends)
}

// SetActivity records that the account used the product (by key) at at,
// giving it access to the product if it had none. A zero at means access,
// never used.
func (s *Server) SetActivity(accountID, product string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.mustUser(accountID)
	if u == nil {
		return
	}
	for i := range u.Products {
		if u.Products[i].Key == product {
			u.Products[i].LastActive = at
			return
		}
	}
	u.Products = append(u.Products, Product{Key: product, ID: s.opts.SiteID, LastActive: at})
}

// ClearActivity forgets the account's activity in every product, keeping
// its access: it reads as never used.
func (s *Server) ClearActivity(accountID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.mustUser(accountID); u != nil {
		for i := range u.Products {
			u.Products[i].LastActive = time.Time{}
		}
	}
}

// SetProducts replaces the account's product access.
func (s *Server) SetProducts(accountID string, products []Product) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.mustUser(accountID); u != nil {
		c := User{Products: products}
		s.fillUser(&c)
		u.Products = c.Products
	}
}

func (s *Server) mustUser(accountID string) *User {
	u := s.users.get(accountID)
	if u == nil {
		s.tb.Fatalf("atlassianfake: no account %s", accountID)
	}
	return u
}

// SetMember adds or removes a membership directly, as an admin clicking in
// Atlassian Administration would: it is not recorded as a change.
func (s *Server) SetMember(group, email string, member bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, u := s.groupByName(group), s.users.email(email)
	if g == nil || u == nil {
		s.tb.Fatalf("atlassianfake: SetMember(%q, %q): no such group or user", group, email)
		return
	}
	s.setMember(g, u.AccountID, member)
}

// SetMemberID is SetMember by account id, for accounts without an email
// or many accounts at once.
func (s *Server) SetMemberID(group, accountID string, member bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupByName(group)
	if g == nil || s.users.get(accountID) == nil {
		s.tb.Fatalf("atlassianfake: SetMemberID(%q, %q): no such group or user", group, accountID)
		return
	}
	s.setMember(g, accountID, member)
}

func (s *Server) setMember(g *Group, accountID string, member bool) {
	if member {
		s.members[g.ID][accountID] = true
	} else {
		delete(s.members[g.ID], accountID)
	}
}

// IsMember reports whether the account with email is in group.
func (s *Server) IsMember(group, email string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, u := s.groupByName(group), s.users.email(email)
	return g != nil && u != nil && s.members[g.ID][u.AccountID]
}

// Members returns the emails of group's members, sorted.
func (s *Server) Members(group string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupByName(group)
	if g == nil {
		return nil
	}
	var out []string
	for id := range s.members[g.ID] {
		out = append(out, s.users.get(id).Email)
	}
	sort.Strings(out)
	return out
}

// GroupsOf returns the names of the groups the account is in, sorted.
// Suspension does not change them.
func (s *Server) GroupsOf(accountID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, g := range s.groupsOf(accountID, "-") {
		out = append(out, g.Name)
	}
	return out
}

// groupsOf returns the account's groups in directory dir ("-": all),
// sorted by name. The lock is held.
func (s *Server) groupsOf(accountID, dir string) []*Group {
	var out []*Group
	for id, m := range s.members {
		if g := s.groups[id]; m[accountID] && (dir == "-" || g.Directory == dir) {
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name+out[i].ID < out[j].Name+out[j].ID })
	return out
}

// Groups returns every group of every directory, sorted by name.
func (s *Server) Groups() []Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Group, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name+out[i].ID < out[j].Name+out[j].ID })
	return out
}

// Users returns every account, in the order the Admin API pages them
// (by account id).
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.users.sorted()
	out := make([]User, len(list))
	for i, u := range list {
		out[i] = copyUser(u)
	}
	return out
}
