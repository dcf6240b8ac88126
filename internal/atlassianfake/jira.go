package atlassianfake

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Jira Cloud platform REST v3: the group and user operations jitbot uses.

func (s *Server) routeJira() {
	s.mux.HandleFunc("GET /rest/api/3/user/search", s.jiraUserSearch)
	s.mux.HandleFunc("GET /rest/api/3/group/bulk", s.jiraGroupBulk)
	s.mux.HandleFunc("GET /rest/api/3/group/member", s.jiraGroupMembers)
	s.mux.HandleFunc("GET /rest/api/3/user/groups", s.jiraUserGroups)
	s.mux.HandleFunc("POST /rest/api/3/group/user", s.jiraAddUser)
	s.mux.HandleFunc("DELETE /rest/api/3/group/user", s.jiraRemoveUser)
}

// jiraUser is the spec's User / UserDetails as the fake fills it.
type jiraUser struct {
	AccountID    string `json:"accountId"`
	AccountType  string `json:"accountType"`
	Active       bool   `json:"active"`
	DisplayName  string `json:"displayName"`
	EmailAddress string `json:"emailAddress,omitempty"`
	Self         string `json:"self"`
	TimeZone     string `json:"timeZone"`
}

func (s *Server) jiraUserJSON(u *User) jiraUser {
	j := jiraUser{AccountID: u.AccountID, AccountType: u.accountType(), Active: u.Active && !u.Suspended, DisplayName: u.Name,
		Self: s.url + "/rest/api/3/user?accountId=" + u.AccountID, TimeZone: "Europe/Berlin"}
	if !u.HideEmail {
		j.EmailAddress = u.Email
	}
	return j
}

type jiraPage struct {
	IsLast     bool   `json:"isLast"`
	MaxResults int    `json:"maxResults"`
	NextPage   string `json:"nextPage,omitempty"`
	Self       string `json:"self"`
	StartAt    int    `json:"startAt"`
	Total      int    `json:"total"`
	Values     any    `json:"values"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJiraError(w http.ResponseWriter, status int, msgs ...string) {
	writeJSON(w, status, map[string]any{"errorMessages": msgs, "errors": map[string]string{}})
}

// paging reads startAt and maxResults (default and cap given).
func paging(r *http.Request, def, limit int) (int, int) {
	start, _ := strconv.Atoi(r.URL.Query().Get("startAt"))
	n, err := strconv.Atoi(r.URL.Query().Get("maxResults"))
	if err != nil || n <= 0 {
		n = def
	}
	return max(start, 0), min(n, limit)
}

func window(total, start, n int) (int, int) {
	from := min(start, total)
	return from, min(from+n, total)
}

func (s *Server) jiraUserSearch(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("query")))
	start, n := paging(r, 50, 1000)
	s.mu.Lock()
	var found []*User
	for _, u := range s.users.sorted() {
		if !u.Active || q == "" {
			continue
		}
		// Jira matches the start of the display name or of the email;
		// a hidden email is not searchable.
		if strings.HasPrefix(strings.ToLower(u.Name), q) || (!u.HideEmail && strings.HasPrefix(strings.ToLower(u.Email), q)) {
			found = append(found, u)
		}
	}
	from, to := window(len(found), start, n)
	out := make([]jiraUser, 0, to-from)
	for _, u := range found[from:to] {
		out = append(out, s.jiraUserJSON(u))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) jiraGroupBulk(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, n := paging(r, 50, 50)
	ids, names := q["groupId"], q["groupName"]
	type groupDetails struct {
		GroupID string `json:"groupId"`
		Name    string `json:"name"`
	}
	s.mu.Lock()
	found := []groupDetails{}
	for _, g := range s.groups {
		keep := len(ids) == 0 && len(names) == 0
		for _, id := range ids {
			keep = keep || id == g.ID
		}
		for _, name := range names {
			keep = keep || strings.EqualFold(name, g.Name)
		}
		if keep {
			found = append(found, groupDetails{GroupID: g.ID, Name: g.Name})
		}
	}
	s.mu.Unlock()
	sort.Slice(found, func(i, j int) bool { return found[i].Name < found[j].Name })
	from, to := window(len(found), start, n)
	writeJSON(w, http.StatusOK, jiraPage{IsLast: to >= len(found), MaxResults: n, StartAt: from, Total: len(found),
		Self: s.url + r.URL.RequestURI(), Values: found[from:to]})
}

// jiraGroup finds the group a request names by groupId or groupname. The
// lock is held.
func (s *Server) jiraGroup(r *http.Request) *Group {
	q := r.URL.Query()
	if id := q.Get("groupId"); id != "" {
		return s.groups[id]
	}
	if name := q.Get("groupname"); name != "" {
		return s.groupByName(name)
	}
	return nil
}

func (s *Server) jiraGroupMembers(w http.ResponseWriter, r *http.Request) {
	start, n := paging(r, 50, 50)
	inactive := r.URL.Query().Get("includeInactiveUsers") == "true"
	s.mu.Lock()
	g := s.jiraGroup(r)
	if g == nil {
		s.mu.Unlock()
		writeJiraError(w, http.StatusNotFound, "Specified group does not exist.")
		return
	}
	var found []*User
	for id := range s.members[g.ID] {
		if u := s.users.get(id); inactive || (u.Active && !u.Suspended) {
			found = append(found, u)
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].AccountID < found[j].AccountID })
	from, to := window(len(found), start, n)
	out := make([]jiraUser, 0, to-from)
	for _, u := range found[from:to] {
		out = append(out, s.jiraUserJSON(u))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, jiraPage{IsLast: to >= len(found), MaxResults: n, StartAt: from, Total: len(found),
		Self: s.url + r.URL.RequestURI(), Values: out})
}

// jiraUserGroups answers GET /rest/api/3/user/groups: the groups one
// account is in (GroupName: groupId, name, self), as Jira lists them.
func (s *Server) jiraUserGroups(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("accountId")
	type groupName struct {
		GroupID string `json:"groupId"`
		Name    string `json:"name"`
		Self    string `json:"self"`
	}
	s.mu.Lock()
	if s.users.get(id) == nil {
		s.mu.Unlock()
		writeJiraError(w, http.StatusNotFound, "User does not exist or you do not have permission to see it.")
		return
	}
	out := []groupName{}
	for gid, members := range s.members {
		if g := s.groups[gid]; g != nil && members[id] {
			out = append(out, groupName{GroupID: g.ID, Name: g.Name, Self: s.url + "/rest/api/3/group?groupId=" + g.ID})
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) jiraAddUser(w http.ResponseWriter, r *http.Request) {
	var body struct {
		AccountID string `json:"accountId"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.AccountID == "" {
		writeJiraError(w, http.StatusBadRequest, "accountId is required.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.DenyWrites {
		writeJiraError(w, http.StatusForbidden, "You are not authorized to perform this action. Administrator privileges are required.")
		return
	}
	g := s.jiraGroup(r)
	if g == nil {
		writeJiraError(w, http.StatusNotFound, "Specified group does not exist.")
		return
	}
	u := s.users.get(body.AccountID)
	if u == nil {
		writeJiraError(w, http.StatusNotFound, "The user with account ID '"+body.AccountID+"' does not exist.")
		return
	}
	if !s.change("jira", "add", g, u) {
		writeJiraError(w, http.StatusBadRequest, "Cannot add user. User is already a member of '"+g.Name+"'")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"groupId": g.ID, "name": g.Name,
		"self": s.url + "/rest/api/3/group?groupId=" + g.ID})
}

func (s *Server) jiraRemoveUser(w http.ResponseWriter, r *http.Request) {
	account := r.URL.Query().Get("accountId")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.DenyWrites {
		writeJiraError(w, http.StatusForbidden, "You are not authorized to perform this action. Administrator privileges are required.")
		return
	}
	g := s.jiraGroup(r)
	if g == nil {
		writeJiraError(w, http.StatusNotFound, "Specified group does not exist.")
		return
	}
	u := s.users.get(account)
	if u == nil {
		writeJiraError(w, http.StatusNotFound, "The user with account ID '"+account+"' does not exist.")
		return
	}
	if !s.change("jira", "remove", g, u) {
		writeJiraError(w, http.StatusBadRequest, "Cannot remove user '"+account+"' from group '"+g.Name+"' since user is not a member of '"+g.Name+"'")
		return
	}
	w.WriteHeader(http.StatusOK)
}
