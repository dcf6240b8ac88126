package atlassianfake

import (
	"net/http"
	"sort"
	"strings"
	"time"
)

// The Admin API's group membership writes, suspension and restore, last activity and directories.

// adminGroup finds the group in the path, which must be in the path's
// directory ("-" is refused for writes). The lock is held.
func (s *Server) adminGroup(w http.ResponseWriter, r *http.Request) *Group {
	g := s.groups[r.PathValue("group")]
	if g == nil || g.Directory != r.PathValue("dir") {
		writeAdminError(w, http.StatusNotFound, "ADMIN-404-10", "Not Found", "Group not found in this directory")
		return nil
	}
	return g
}

func (s *Server) denyWrites(w http.ResponseWriter) bool {
	if s.faults.DenyWrites {
		writeAdminError(w, http.StatusForbidden, "ADMIN-403-3", "Forbidden", "The API key does not have permission to manage this organization's users and groups.")
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
	u := s.users.get(body.AccountID)
	if u == nil {
		writeAdminError(w, http.StatusNotFound, "ADMIN-404-8", "Not Found", "User not found in this directory")
		return
	}
	if !s.change("admin", "add", g, u) {
		writeAdminError(w, http.StatusConflict, "ADMIN-409-28", "Conflict", "The user is already a member of the group.")
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
	u := s.users.get(r.PathValue("account"))
	if u == nil || !s.change("admin", "remove", g, u) {
		writeAdminError(w, http.StatusNotFound, "ADMIN-404-8", "Not Found", "The user is not a member of the group.")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// adminSuspend suspends or restores (by the path's last segment) a user's
// access in a directory. Suspension keeps the account's group memberships,
// which count again on restore. Atlassian documents no error answers for
// these two calls; the fake's are assumptions:
//   - an account synced from an identity provider (managementSource
//     "synced") is refused 403 ADMIN-UAM-403-1: its access is managed in the
//     identity provider;
//   - a deactivated account is refused 400 ADMIN-UAM-400-2 "Inactive user";
//   - suspending a suspended account, or restoring an active one, is
//     refused 409 ADMIN-409-28 with "already" in the detail;
//   - an unknown account, or one not in the directory, is 404 ADMIN-404-8.
func (s *Server) adminSuspend(w http.ResponseWriter, r *http.Request) {
	if !s.adminOrg(w, r) {
		return
	}
	op := "restore"
	if strings.HasSuffix(r.URL.Path, "/suspend") {
		op = "suspend"
	}
	if r.PathValue("dir") == "-" {
		s.badRequest(w, r, "ADMIN-400-24", "a directory id is required to "+op+" a user")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	status, code, title, detail := s.suspend(op, r.PathValue("account"), r.PathValue("dir"))
	s.suspends = append(s.suspends, SuspendCall{Time: s.now(), Wall: time.Now(), Op: op, AccountID: r.PathValue("account"),
		Directory: r.PathValue("dir"), Status: status})
	if status != http.StatusNoContent {
		writeAdminError(w, status, code, title, detail)
		return
	}
	w.WriteHeader(status)
}

// suspend applies op and says how to answer. The lock is held.
func (s *Server) suspend(op, account, dir string) (status int, code, title, detail string) {
	u := s.users.get(account)
	switch {
	case s.faults.DenyWrites:
		return http.StatusForbidden, "ADMIN-403-3", "Forbidden", "The API key does not have permission to manage this organization's users."
	case u == nil || dir != s.opts.Directory:
		return http.StatusNotFound, "ADMIN-404-8", "Not Found", "User not found in this directory"
	case u.managementSource() == "synced":
		return http.StatusForbidden, "ADMIN-UAM-403-1", "Forbidden",
			"This account is synced from an identity provider: manage its access in the identity provider."
	case !u.Active:
		return http.StatusBadRequest, "ADMIN-UAM-400-2", "Inactive user", "The account is deactivated."
	case op == "suspend" && u.Suspended:
		return http.StatusConflict, "ADMIN-409-28", "Conflict", "The user's access is already suspended in this directory."
	case op == "restore" && !u.Suspended:
		return http.StatusConflict, "ADMIN-409-28", "Conflict", "The user's access is already active in this directory."
	}
	u.Suspended = op == "suspend"
	return http.StatusNoContent, "", "", ""
}

// v1ActivityPage is how many products a v1 last-active-dates page holds
// (the fake's choice: the API pages with a cursor and publishes no size).
const v1ActivityPage = 10

// adminLastActive is v1 GET …/directory/users/{accountId}/last-active-dates:
// userProductAccessActivityPage, {data: {product_access: [{id, key,
// last_active (yyyy-MM-dd), last_active_timestamp}], added_to_org,
// added_to_org_timestamp}, links: {next}}. As Atlassian documents it, a
// product the user never accessed is not listed.
func (s *Server) adminLastActive(w http.ResponseWriter, r *http.Request) {
	if !s.adminOrg(w, r) {
		return
	}
	type product struct {
		ID                  string `json:"id"`
		Key                 string `json:"key"`
		LastActive          string `json:"last_active"`
		LastActiveTimestamp string `json:"last_active_timestamp"`
	}
	s.mu.Lock()
	u := s.users.get(r.PathValue("account"))
	if u == nil {
		s.mu.Unlock()
		writeAdminError(w, http.StatusNotFound, "ADMIN-404-8", "Not Found", "User not found")
		return
	}
	used := []product{}
	for _, p := range u.Products {
		if !p.LastActive.IsZero() {
			used = append(used, product{ID: p.ID, Key: p.Key, LastActive: p.LastActive.UTC().Format(time.DateOnly),
				LastActiveTimestamp: p.LastActive.UTC().Format(time.RFC3339)})
		}
	}
	added := u.AddedToOrg
	s.mu.Unlock()
	sort.Slice(used, func(i, j int) bool { return used[i].Key+used[i].ID < used[j].Key+used[j].ID })
	from, to, next, ok := cursorPage(r.URL.Query().Get("cursor"), v1ActivityPage, len(used))
	if !ok {
		s.badRequest(w, r, "ADMIN-400-1", "Invalid page cursor")
		return
	}
	data := map[string]any{"product_access": used[from:to]}
	if !added.IsZero() {
		data["added_to_org"] = added.UTC().Format(time.DateOnly)
		data["added_to_org_timestamp"] = added.UTC().Format(time.RFC3339)
	}
	links := map[string]string{}
	if next != "" {
		links["next"] = next
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "links": links})
}

func (s *Server) adminDirectories(w http.ResponseWriter, r *http.Request) {
	if !s.adminOrg(w, r) {
		return
	}
	account := r.URL.Query().Get("accountId")
	s.mu.Lock()
	known := s.users.get(account) != nil
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
