package atlassianfake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The organisation Admin API: v2 directory user and group search, group
// memberships, suspend and restore, the directories of a user, and the one
// v1 read still served, a user's last-active dates. The v1 suspend-access,
// restore-access and group-membership endpoints, which Atlassian switched
// off after 30 June 2026, answer 410 Gone and fail the test.
//
// There is no official Admin API spec in shared/specs. The request and
// answer shapes follow the generated models of the jira.js client
// (github.com/MrRefactoring/jira.js, src/admin, themselves generated from
// Atlassian's spec): models/multiDirectoryUserSearchRequest.ts (search
// body, limit default 50), multiDirectoryUser.ts (a user),
// multiDirectoryProductAccess.ts ({key, id, lastActiveTimestamp}, the
// timestamp optional), multiDirectoryUserGroup.ts ({id, name,
// description}), linkPageCursor.ts (links.self/prev/next),
// multiDirectoryGroupSearchRequest.ts (group search, limit default 20),
// userProductAccessActivityPage.ts, userProductAccessModel.ts and
// userProductLastActive.ts (v1 last-active-dates), and the error codes of
// applicationError.ts and apiError.ts (ADMIN-400-1, ADMIN-404-8,
// ADMIN-UAM-400-2, …). What those models leave open is the fake's
// assumption, said where it is made.

const adminPrefix = "/admin/v2/orgs/{org}/directories/{dir}"

// goneV1 are the v1 endpoints Atlassian switched off.
var goneV1 = []string{
	"POST /admin/v1/orgs/{org}/directory/users/{account}/suspend-access",
	"POST /admin/v1/orgs/{org}/directory/users/{account}/restore-access",
	"POST /admin/v1/orgs/{org}/directory/groups/{group}/memberships",
	"DELETE /admin/v1/orgs/{org}/directory/groups/{group}/memberships/{account}",
}

// GoneRoutes are the switched-off v1 routes as Calls names them, so a
// test can assert that none was called.
func GoneRoutes() []string { return slices.Clone(goneV1) }

func (s *Server) routeAdmin() {
	s.mux.HandleFunc("GET /admin/v2/orgs/{org}/directories", s.adminDirectories)
	s.mux.HandleFunc("POST "+adminPrefix+"/users/search", s.adminUserSearch)
	s.mux.HandleFunc("POST "+adminPrefix+"/groups/search", s.adminGroupSearch)
	s.mux.HandleFunc("POST "+adminPrefix+"/groups/{group}/memberships", s.adminAddMember)
	s.mux.HandleFunc("DELETE "+adminPrefix+"/groups/{group}/memberships/{account}", s.adminRemoveMember)
	s.mux.HandleFunc("POST "+adminPrefix+"/users/{account}/suspend", s.adminSuspend)
	s.mux.HandleFunc("POST "+adminPrefix+"/users/{account}/restore", s.adminSuspend)
	s.mux.HandleFunc("GET /admin/v1/orgs/{org}/directory/users/{account}/last-active-dates", s.adminLastActive)
	for _, p := range goneV1 {
		s.mux.HandleFunc(p, func(http.ResponseWriter, *http.Request) {}) // answered 410 in serve
	}
}

func writeAdminError(w http.ResponseWriter, status int, code, title, detail string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]string{{
		"code": code, "status": strconv.Itoa(status), "title": title, "detail": detail}}})
}

// badRequest answers 400 for a request jitbot should never send, and
// fails the test.
func (s *Server) badRequest(w http.ResponseWriter, r *http.Request, code, detail string) {
	s.violation("%s %s: %s", r.Method, r.URL.Path, detail)
	writeAdminError(w, http.StatusBadRequest, code, "Bad Request", detail)
}

// adminOrg checks the org in the path; it answers 404 when it is not ours.
func (s *Server) adminOrg(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("org") != s.opts.OrgID {
		writeAdminError(w, http.StatusNotFound, "ADMIN-404-2", "Not Found", "Organization not found")
		return false
	}
	if d := r.PathValue("dir"); d != "" && d != "-" && d != s.opts.Directory && !s.knownDirectory(d) {
		writeAdminError(w, http.StatusNotFound, "ADMIN-404-1", "Not Found", "Directory not found")
		return false
	}
	return true
}

func (s *Server) knownDirectory(d string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.groups {
		if g.Directory == d {
			return true
		}
	}
	return false
}

// decodeStrict decodes a JSON body, flagging fields the API does not have.
func (s *Server) decodeStrict(w http.ResponseWriter, r *http.Request, allowed []string, v any) bool {
	var raw map[string]json.RawMessage
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil || json.Unmarshal(buf.Bytes(), &raw) != nil {
		s.badRequest(w, r, "ADMIN-400-24", "the body is not a JSON object")
		return false
	}
	for k := range raw {
		if !slices.Contains(allowed, k) {
			s.badRequest(w, r, "ADMIN-400-24", "unknown field "+k)
			return false
		}
	}
	if err := json.Unmarshal(buf.Bytes(), v); err != nil {
		s.badRequest(w, r, "ADMIN-400-24", err.Error())
		return false
	}
	return true
}

// adminLinks is linkPageCursor / linkSelfCursor.
type adminLinks struct {
	Self string `json:"self,omitempty"`
	Prev string `json:"prev,omitempty"`
	Next string `json:"next,omitempty"`
}

// pageLimit reads limit: def when absent, else 1..100. The API caps pages
// at 100; asking for more is an error.
func (s *Server) pageLimit(w http.ResponseWriter, r *http.Request, limit *int, def int) (int, bool) {
	if limit == nil {
		return def, true
	}
	if *limit < 1 || *limit > 100 {
		s.badRequest(w, r, "ADMIN-400-24", fmt.Sprintf("limit %d is outside 1..100", *limit))
		return 0, false
	}
	return *limit, true
}

// cursorPage pages n items: the cursor is the offset, made opaque.
func cursorPage(cursor string, limit, n int) (from, to int, next string, ok bool) {
	if cursor != "" {
		off, err := strconv.Atoi(strings.TrimPrefix(cursor, "fake-cursor-"))
		if err != nil || !strings.HasPrefix(cursor, "fake-cursor-") {
			return 0, 0, "", false
		}
		from = min(off, n)
	}
	to = min(from+limit, n)
	if to < n {
		next = fmt.Sprintf("fake-cursor-%d", to)
	}
	return from, to, next, true
}

// The users search's cursor is the last account id of the page before
// (keyset paging), made opaque: a page is a binary search into the sorted
// accounts, and accounts added while a client pages do not shift it.
func userCursor(afterID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("after:" + afterID))
}

func parseUserCursor(c string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !bytes.HasPrefix(b, []byte("after:")) {
		return "", false
	}
	return string(b[len("after:"):]), true
}

// isoTime writes times as the Admin API does: ISO 8601 in UTC.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

var userSearchFields = []string{"cursor", "limit", "accountIds", "directoryIds", "resourceIds", "groupIds", "mfaEnabled",
	"claimStatus", "status", "accountStatus", "membershipStatus", "roleIds", "emailDomains", "searchTerm", "emails", "expand", "sortBy"}

// userSearch is multiDirectoryUserSearchRequest.
type userSearch struct {
	Cursor           string   `json:"cursor"`
	Limit            *int     `json:"limit"`
	AccountIDs       []string `json:"accountIds"`
	Emails           []string `json:"emails"`
	SearchTerm       string   `json:"searchTerm"`
	Status           []string `json:"status"`
	AccountStatus    []string `json:"accountStatus"`
	MembershipStatus []string `json:"membershipStatus"`
	EmailDomains     []string `json:"emailDomains"`
	GroupIDs         []string `json:"groupIds"`
	ClaimStatus      string   `json:"claimStatus"`
	Expand           []string `json:"expand"`
	// The API has these; the fake does not implement them.
	DirectoryIDs []string          `json:"directoryIds"`
	ResourceIDs  []string          `json:"resourceIds"`
	RoleIDs      []string          `json:"roleIds"`
	MFAEnabled   *bool             `json:"mfaEnabled"`
	SortBy       []json.RawMessage `json:"sortBy"`
}

// The enums of multiDirectoryUserSearchRequest.
var (
	statusEnum           = []string{"active", "suspended", "not_invited", "deactivated", "for_deletion"}
	accountStatusEnum    = []string{"active", "inactive", "closed"}
	membershipStatusEnum = []string{"active", "suspended", "no_membership"}
	claimStatusEnum      = []string{"managed", "unmanaged"}
	expandEnum           = []string{"platformRoles", "counts.resources", "productAccess", "groups"}
)

// check reports what is wrong with q, if anything.
func (q *userSearch) check() string {
	switch {
	case q.SearchTerm != "" && len(q.Emails) > 0:
		return "searchTerm and emails are mutually exclusive"
	case len(q.DirectoryIDs) > 0 || len(q.ResourceIDs) > 0 || len(q.RoleIDs) > 0 || q.MFAEnabled != nil || len(q.SortBy) > 0:
		return "the fake does not implement the directoryIds, resourceIds, roleIds, mfaEnabled and sortBy fields"
	case q.ClaimStatus != "" && !slices.Contains(claimStatusEnum, q.ClaimStatus):
		return fmt.Sprintf("claimStatus %q is not one of %v", q.ClaimStatus, claimStatusEnum)
	}
	for _, f := range []struct {
		name       string
		got, allow []string
	}{{"status", q.Status, statusEnum}, {"accountStatus", q.AccountStatus, accountStatusEnum},
		{"membershipStatus", q.MembershipStatus, membershipStatusEnum}, {"expand", q.Expand, expandEnum}} {
		for _, v := range f.got {
			if !slices.Contains(f.allow, v) {
				return fmt.Sprintf("%s %q is not one of %v", f.name, v, f.allow)
			}
		}
	}
	return ""
}

// match applies every filter of q to u (they combine with AND).
func (s *Server) match(q *userSearch, u *User) bool {
	switch {
	case len(q.AccountIDs) > 0 && !slices.Contains(q.AccountIDs, u.AccountID),
		len(q.Emails) > 0 && !slices.ContainsFunc(q.Emails, func(e string) bool { return strings.EqualFold(e, u.Email) }),
		len(q.Status) > 0 && !slices.Contains(q.Status, u.status()),
		len(q.AccountStatus) > 0 && !slices.Contains(q.AccountStatus, u.accountStatus()),
		len(q.MembershipStatus) > 0 && !slices.Contains(q.MembershipStatus, u.membershipStatus()),
		q.ClaimStatus != "" && q.ClaimStatus != u.claimStatus(),
		len(q.GroupIDs) > 0 && !slices.ContainsFunc(q.GroupIDs, func(g string) bool { return s.members[g][u.AccountID] }):
		return false
	}
	if len(q.EmailDomains) > 0 {
		_, domain, _ := strings.Cut(u.Email, "@")
		if !slices.ContainsFunc(q.EmailDomains, func(d string) bool { return strings.EqualFold(strings.TrimPrefix(d, "@"), domain) }) {
			return false
		}
	}
	if q.SearchTerm != "" {
		t := strings.ToLower(q.SearchTerm)
		return strings.Contains(strings.ToLower(u.Name), t) || strings.Contains(strings.ToLower(u.Email), t)
	}
	return true
}

// candidates narrows the accounts to search through an index when a
// filter allows it, else returns all of them; sorted by account id.
func (s *Server) candidates(q *userSearch) []*User {
	var list []*User
	switch {
	case len(q.AccountIDs) > 0:
		for _, id := range q.AccountIDs {
			if u := s.users.get(id); u != nil {
				list = append(list, u)
			}
		}
	case len(q.Emails) > 0:
		for _, e := range q.Emails {
			list = append(list, s.users.byEmail[strings.ToLower(e)]...)
		}
	case len(q.GroupIDs) > 0:
		for _, g := range q.GroupIDs {
			for id := range s.members[g] {
				list = append(list, s.users.get(id))
			}
		}
	default:
		return s.users.sorted()
	}
	sort.Slice(list, func(i, j int) bool { return list[i].AccountID < list[j].AccountID })
	return slices.CompactFunc(list, func(a, b *User) bool { return a == b })
}

// adminUserJSON is multiDirectoryUser as the fake fills it.
type adminUserJSON struct {
	AccountID        string               `json:"accountId"`
	AccountType      string               `json:"accountType"`
	Status           string               `json:"status"`
	AccountStatus    string               `json:"accountStatus"`
	MembershipStatus string               `json:"membershipStatus"`
	AddedToOrg       string               `json:"addedToOrg,omitempty"`
	Name             string               `json:"name"`
	Email            string               `json:"email,omitempty"`
	ClaimStatus      string               `json:"claimStatus"`
	ManagementSource string               `json:"managementSource"`
	JobTitle         string               `json:"jobTitle,omitempty"`
	Department       string               `json:"department,omitempty"`
	PlatformRoles    *[]string            `json:"platformRoles,omitempty"`
	ProductAccess    *[]productAccessJSON `json:"productAccess,omitempty"`
	Groups           *[]userGroupJSON     `json:"groups,omitempty"`
	Links            adminLinks           `json:"links"`
}

// productAccessJSON is multiDirectoryProductAccess: lastActiveTimestamp
// is optional there, and the fake leaves it out for a product the account
// may use but never has.
type productAccessJSON struct {
	Key                 string `json:"key"`
	ID                  string `json:"id"`
	LastActiveTimestamp string `json:"lastActiveTimestamp,omitempty"`
}

// userGroupJSON is multiDirectoryUserGroup.
type userGroupJSON struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Description *string `json:"description"`
}

func (s *Server) adminUserJSON(u *User, dir string, expand []string) adminUserJSON {
	j := adminUserJSON{AccountID: u.AccountID, AccountType: u.accountType(), Status: u.status(), AccountStatus: u.accountStatus(),
		MembershipStatus: u.membershipStatus(), Name: u.Name, Email: u.Email, ClaimStatus: u.claimStatus(),
		ManagementSource: u.managementSource(), JobTitle: u.JobTitle, Department: u.Department,
		Links: adminLinks{Self: s.url + "/admin/v2/orgs/" + s.opts.OrgID + "/directories/" + s.opts.Directory + "/users/" + u.AccountID}}
	if !u.AddedToOrg.IsZero() {
		j.AddedToOrg = isoTime(u.AddedToOrg)
	}
	if slices.Contains(expand, "platformRoles") {
		j.PlatformRoles = &[]string{}
	}
	if slices.Contains(expand, "productAccess") && !u.NoBulkActivity {
		pa := make([]productAccessJSON, 0, len(u.Products))
		for _, p := range u.Products {
			x := productAccessJSON{Key: p.Key, ID: p.ID}
			if !p.LastActive.IsZero() {
				x.LastActiveTimestamp = isoTime(p.LastActive)
			}
			pa = append(pa, x)
		}
		j.ProductAccess = &pa
	}
	if slices.Contains(expand, "groups") {
		gs := []userGroupJSON{}
		for _, g := range s.groupsOf(u.AccountID, dir) {
			gs = append(gs, userGroupJSON{ID: g.ID, Name: g.Name})
		}
		j.Groups = &gs
	}
	return j
}

// adminUserSearch pages the accounts by account id. Each page holds up to
// limit (default 50, at most 100) matches; links.next is there only when
// another match follows.
func (s *Server) adminUserSearch(w http.ResponseWriter, r *http.Request) {
	if !s.adminOrg(w, r) {
		return
	}
	var q userSearch
	if !s.decodeStrict(w, r, userSearchFields, &q) {
		return
	}
	if msg := q.check(); msg != "" {
		s.badRequest(w, r, "ADMIN-400-24", msg)
		return
	}
	limit, ok := s.pageLimit(w, r, q.Limit, 50)
	if !ok {
		return
	}
	afterID := ""
	if q.Cursor != "" {
		if afterID, ok = parseUserCursor(q.Cursor); !ok {
			s.badRequest(w, r, "ADMIN-400-1", "Invalid page cursor")
			return
		}
	}
	s.mu.Lock()
	list := s.candidates(&q)
	start := 0
	if q.Cursor != "" {
		start = after(list, afterID)
	}
	out := make([]adminUserJSON, 0, limit)
	next := ""
	for _, u := range list[start:] {
		if !s.match(&q, u) {
			continue
		}
		if len(out) == limit {
			next = userCursor(out[len(out)-1].AccountID)
			break
		}
		out = append(out, s.adminUserJSON(u, r.PathValue("dir"), q.Expand))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": out, "links": adminLinks{Self: q.Cursor, Next: next}})
}

var groupSearchFields = []string{"cursor", "limit", "sortBy", "accountIds", "directoryIds", "roleIds", "resourceOwners",
	"resourceIds", "searchTerm", "groupIds", "groupNames", "expand"}

// adminGroupSearch is the v2 group search: by name, id, search term, or
// member (accountIds: the groups any of the accounts is in).
func (s *Server) adminGroupSearch(w http.ResponseWriter, r *http.Request) {
	if !s.adminOrg(w, r) {
		return
	}
	var q struct {
		Cursor     string   `json:"cursor"`
		Limit      *int     `json:"limit"`
		AccountIDs []string `json:"accountIds"`
		GroupIDs   []string `json:"groupIds"`
		GroupNames []string `json:"groupNames"`
		SearchTerm string   `json:"searchTerm"`
	}
	if !s.decodeStrict(w, r, groupSearchFields, &q) {
		return
	}
	if len(q.GroupNames) > 0 && (q.SearchTerm != "" || len(q.GroupIDs) > 0) {
		s.badRequest(w, r, "ADMIN-400-24", "groupNames is mutually exclusive with searchTerm and groupIds")
		return
	}
	limit, ok := s.pageLimit(w, r, q.Limit, 20)
	if !ok {
		return
	}
	dir := r.PathValue("dir")
	type group struct {
		ID          string     `json:"id"`
		Name        string     `json:"name"`
		DirectoryID string     `json:"directoryId"`
		Links       adminLinks `json:"links"`
	}
	s.mu.Lock()
	var found []group
	for _, g := range s.groups {
		switch {
		case dir != "-" && g.Directory != dir,
			len(q.GroupIDs) > 0 && !slices.Contains(q.GroupIDs, g.ID),
			len(q.GroupNames) > 0 && !slices.ContainsFunc(q.GroupNames, func(n string) bool { return strings.EqualFold(n, g.Name) }),
			q.SearchTerm != "" && !strings.Contains(strings.ToLower(g.Name), strings.ToLower(q.SearchTerm)),
			len(q.AccountIDs) > 0 && !slices.ContainsFunc(q.AccountIDs, func(a string) bool { return s.members[g.ID][a] }):
			continue
		}
		found = append(found, group{ID: g.ID, Name: g.Name, DirectoryID: g.Directory})
	}
	s.mu.Unlock()
	sort.Slice(found, func(i, j int) bool { return found[i].Name+found[i].ID < found[j].Name+found[j].ID })
	from, to, next, ok := cursorPage(q.Cursor, limit, len(found))
	if !ok {
		s.badRequest(w, r, "ADMIN-400-1", "Invalid page cursor")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": found[from:to], "links": adminLinks{Next: next}})
}
