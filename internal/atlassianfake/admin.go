package atlassianfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// The organisation Admin API, v2 only: directory user and group search,
// group memberships, suspend and restore. The v1 suspend-access and
// group-membership endpoints are answered 410 and fail the test.

const adminPrefix = "/admin/v2/orgs/{org}/directories/{dir}"

func (s *Server) routeAdmin() {
	s.mux.HandleFunc("GET /admin/v2/orgs/{org}/directories", s.adminDirectories)
	s.mux.HandleFunc("POST "+adminPrefix+"/users/search", s.adminUserSearch)
	s.mux.HandleFunc("POST "+adminPrefix+"/groups/search", s.adminGroupSearch)
	s.mux.HandleFunc("POST "+adminPrefix+"/groups/{group}/memberships", s.adminAddMember)
	s.mux.HandleFunc("DELETE "+adminPrefix+"/groups/{group}/memberships/{account}", s.adminRemoveMember)
	s.mux.HandleFunc("POST "+adminPrefix+"/users/{account}/suspend", s.adminSuspend)
	s.mux.HandleFunc("POST "+adminPrefix+"/users/{account}/restore", s.adminSuspend)
	s.mux.HandleFunc("/admin/v1/", func(http.ResponseWriter, *http.Request) {}) // answered 410 in serve
}

func writeAdminError(w http.ResponseWriter, status int, code, title, detail string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]string{{
		"code": code, "status": strconv.Itoa(status), "title": title, "detail": detail}}})
}

// adminOrg checks the org in the path; it answers 404 when it is not ours.
func (s *Server) adminOrg(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("org") != s.opts.OrgID {
		writeAdminError(w, http.StatusNotFound, "ADMIN-404-1", "Not Found", "organization not found")
		return false
	}
	if d := r.PathValue("dir"); d != "" && d != "-" && d != s.opts.Directory && !s.knownDirectory(d) {
		writeAdminError(w, http.StatusNotFound, "ADMIN-404-2", "Not Found", "directory not found")
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
		s.violation("%s %s: the body is not a JSON object", r.Method, r.URL.Path)
		writeAdminError(w, http.StatusBadRequest, "ADMIN-400-1", "Bad Request", "invalid request body")
		return false
	}
	for k := range raw {
		if !slices.Contains(allowed, k) {
			s.violation("%s %s: unknown field %q", r.Method, r.URL.Path, k)
			writeAdminError(w, http.StatusBadRequest, "ADMIN-400-2", "Bad Request", "unknown field "+k)
			return false
		}
	}
	if err := json.Unmarshal(buf.Bytes(), v); err != nil {
		s.violation("%s %s: %v", r.Method, r.URL.Path, err)
		writeAdminError(w, http.StatusBadRequest, "ADMIN-400-3", "Bad Request", err.Error())
		return false
	}
	return true
}

type adminLinks struct {
	Self string `json:"self,omitempty"`
	Next string `json:"next,omitempty"`
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

var userSearchFields = []string{"cursor", "limit", "accountIds", "directoryIds", "resourceIds", "groupIds", "mfaEnabled",
	"claimStatus", "status", "accountStatus", "membershipStatus", "roleIds", "emailDomains", "searchTerm", "emails", "expand", "sortBy"}

type adminUser struct {
	AccountID        string     `json:"accountId"`
	AccountType      string     `json:"accountType"`
	AccountStatus    string     `json:"accountStatus"`
	MembershipStatus string     `json:"membershipStatus"`
	Name             string     `json:"name"`
	Email            string     `json:"email"`
	Links            adminLinks `json:"links"`
}

func (s *Server) adminUserSearch(w http.ResponseWriter, r *http.Request) {
	if !s.adminOrg(w, r) {
		return
	}
	var q struct {
		Cursor     string   `json:"cursor"`
		Limit      int      `json:"limit"`
		AccountIDs []string `json:"accountIds"`
		GroupIDs   []string `json:"groupIds"`
		Emails     []string `json:"emails"`
		SearchTerm string   `json:"searchTerm"`
	}
	if !s.decodeStrict(w, r, userSearchFields, &q) {
		return
	}
	if q.SearchTerm != "" && len(q.Emails) > 0 {
		writeAdminError(w, http.StatusBadRequest, "ADMIN-400-4", "Bad Request", "searchTerm and emails are mutually exclusive")
		return
	}
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.Limit < 1 || q.Limit > 100 {
		s.violation("users/search: limit %d is outside 1..100", q.Limit)
		writeAdminError(w, http.StatusBadRequest, "ADMIN-400-5", "Bad Request", "limit must be between 1 and 100")
		return
	}
	s.mu.Lock()
	var found []*User
	for _, u := range s.users {
		if len(q.AccountIDs) > 0 && !slices.Contains(q.AccountIDs, u.AccountID) {
			continue
		}
		if len(q.Emails) > 0 && !slices.ContainsFunc(q.Emails, func(e string) bool { return strings.EqualFold(e, u.Email) }) {
			continue
		}
		if q.SearchTerm != "" && !strings.Contains(strings.ToLower(u.Name+" "+u.Email), strings.ToLower(q.SearchTerm)) {
			continue
		}
		if len(q.GroupIDs) > 0 && !slices.ContainsFunc(q.GroupIDs, func(g string) bool { return s.members[g][u.AccountID] }) {
			continue
		}
		found = append(found, u)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].AccountID < found[j].AccountID })
	from, to, next, ok := cursorPage(q.Cursor, q.Limit, len(found))
	if !ok {
		s.mu.Unlock()
		writeAdminError(w, http.StatusBadRequest, "ADMIN-400-6", "Bad Request", "invalid cursor")
		return
	}
	out := make([]adminUser, 0, to-from)
	for _, u := range found[from:to] {
		au := adminUser{AccountID: u.AccountID, AccountType: "atlassian", AccountStatus: "active", MembershipStatus: "active",
			Name: u.Name, Email: u.Email, Links: adminLinks{Self: s.srv.URL + "/admin/v2/orgs/" + s.opts.OrgID + "/directories/" + s.opts.Directory + "/users/" + u.AccountID}}
		if !u.Active {
			au.AccountStatus = "inactive"
		}
		if u.Suspended {
			au.MembershipStatus = "suspended"
		}
		out = append(out, au)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": out, "links": adminLinks{Next: next}})
}

var groupSearchFields = []string{"cursor", "limit", "sortBy", "accountIds", "directoryIds", "roleIds", "resourceOwners",
	"resourceIds", "searchTerm", "groupIds", "groupNames", "expand"}

func (s *Server) adminGroupSearch(w http.ResponseWriter, r *http.Request) {
	if !s.adminOrg(w, r) {
		return
	}
	var q struct {
		Cursor     string   `json:"cursor"`
		Limit      int      `json:"limit"`
		GroupIDs   []string `json:"groupIds"`
		GroupNames []string `json:"groupNames"`
		SearchTerm string   `json:"searchTerm"`
	}
	if !s.decodeStrict(w, r, groupSearchFields, &q) {
		return
	}
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.Limit < 1 || q.Limit > 100 {
		s.violation("groups/search: limit %d is outside 1..100", q.Limit)
		writeAdminError(w, http.StatusBadRequest, "ADMIN-400-5", "Bad Request", "limit must be between 1 and 100")
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
		if dir != "-" && g.Directory != dir {
			continue
		}
		if len(q.GroupIDs) > 0 && !slices.Contains(q.GroupIDs, g.ID) {
			continue
		}
		if len(q.GroupNames) > 0 && !slices.ContainsFunc(q.GroupNames, func(n string) bool { return strings.EqualFold(n, g.Name) }) {
			continue
		}
		if q.SearchTerm != "" && !strings.Contains(strings.ToLower(g.Name), strings.ToLower(q.SearchTerm)) {
			continue
		}
		found = append(found, group{ID: g.ID, Name: g.Name, DirectoryID: g.Directory})
	}
	s.mu.Unlock()
	sort.Slice(found, func(i, j int) bool { return found[i].Name+found[i].ID < found[j].Name+found[j].ID })
	from, to, next, ok := cursorPage(q.Cursor, q.Limit, len(found))
	if !ok {
		writeAdminError(w, http.StatusBadRequest, "ADMIN-400-6", "Bad Request", "invalid cursor")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": found[from:to], "links": adminLinks{Next: next}})
}

// adminGroup finds the group in the path, which must be in the path's
// directory ("-" is refused for writes). The lock is held.
func (s *Server) adminGroup(w http.ResponseWriter, r *http.Request) *Group {
	g := s.groups[r.PathValue("group")]
	if g == nil || g.Directory != r.PathValue("dir") {
		writeAdminError(w, http.StatusNotFound, "ADMIN-404-3", "Not Found", "group not found in this directory")
		return nil
	}
	return g
}

func (s *Server) denyWrites(w http.ResponseWriter) bool {
	if s.faults.DenyWrites {
		writeAdminError(w, http.StatusForbidden, "ADMIN-403-1", "Forbidden", "The API key does not have permission to manage this directory.")
		return true
	}
	return false
}

func (s *Server) adminAddMember(w http.ResponseWriter, r *http.Request) {
	if !s.adminOrg(w, r) {
		return
	}
	var body struct {
		AccountID string `json:"accountId"`
	}
	if !s.decodeStrict(w, r, []string{"accountId"}, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.denyWrites(w) {
		return
	}
	g := s.adminGroup(w, r)
	if g == nil {
		return
	}
	u := s.users[body.AccountID]
	if u == nil {
		writeAdminError(w, http.StatusNotFound, "ADMIN-404-4", "Not Found", "user not found in this directory")
		return
	}
	if !s.change("admin", "add", g, u) {
		writeAdminError(w, http.StatusConflict, "ADMIN-409-1", "Conflict", "The user is already a member of the group.")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminRemoveMember(w http.ResponseWriter, r *http.Request) {
	if !s.adminOrg(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.denyWrites(w) {
		return
	}
	g := s.adminGroup(w, r)
	if g == nil {
		return
	}
	u := s.users[r.PathValue("account")]
	if u == nil || !s.change("admin", "remove", g, u) {
		writeAdminError(w, http.StatusNotFound, "ADMIN-404-5", "Not Found", "The user is not a member of the group.")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// adminSuspend suspends or restores (by the path's last segment) a user's
// access in a directory; doing it twice is harmless.
func (s *Server) adminSuspend(w http.ResponseWriter, r *http.Request) {
	if !s.adminOrg(w, r) {
		return
	}
	if r.PathValue("dir") == "-" {
		writeAdminError(w, http.StatusBadRequest, "ADMIN-400-7", "Bad Request", "a directory id is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.denyWrites(w) {
		return
	}
	u := s.users[r.PathValue("account")]
	if u == nil || r.PathValue("dir") != s.opts.Directory {
		writeAdminError(w, http.StatusNotFound, "ADMIN-404-4", "Not Found", "user not found in this directory")
		return
	}
	u.Suspended = strings.HasSuffix(r.URL.Path, "/suspend")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminDirectories(w http.ResponseWriter, r *http.Request) {
	if !s.adminOrg(w, r) {
		return
	}
	account := r.URL.Query().Get("accountId")
	s.mu.Lock()
	_, known := s.users[account]
	s.mu.Unlock()
	type dir struct {
		DirectoryID string `json:"directoryId"`
		Name        string `json:"name"`
	}
	data := []dir{}
	if account == "" || known {
		data = append(data, dir{DirectoryID: s.opts.Directory, Name: "Example org directory"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "links": adminLinks{}})
}
