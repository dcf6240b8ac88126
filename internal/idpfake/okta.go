package idpfake

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Okta is a local Okta org: users (/api/v1/users), their lifecycle
// (suspend, unsuspend) and groups with their members.
type Okta struct {
	*core
	token string
	spec  *routes
}

// NewOkta starts a fake Okta for a test, its requests checked against the
// official OpenAPI description (skipped, with a line, when absent).
func NewOkta(tb TB, o Options) *Okta { return newFake(tb, "Okta", o, startOkta) }

// StartOkta starts a fake Okta for a program (the playground).
func StartOkta(o Options) (*Okta, error) { return startOkta(nil, o, false) }

func startOkta(tb TB, o Options, validate bool) (*Okta, error) {
	f := &Okta{token: o.Token}
	f.core = newCore(tb, o, dialect{
		fail:     func(w http.ResponseWriter, status int, code, msg string) { oktaError(w, status, code, msg) },
		down:     [2]string{"E0000009", "Internal Server Error"},
		denied:   [2]string{"E0000011", "Invalid token provided"},
		limited:  f.limited,
		budgeted: f.budgeted,
	})
	if f.token == "" {
		f.token = "okta-api-token-0123456789"
	}
	spec, ok, err := specOf(o, validate, OktaSpecFile, parseOkta)
	if err != nil {
		return nil, err
	}
	var check func(*http.Request, []byte) error
	if ok {
		f.spec, check = spec, spec.check
	}
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return f.authorize(func(r *http.Request) bool { return r.Header.Get("Authorization") == "SSWS "+f.token }, h)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/users", auth(f.listUsers))
	mux.HandleFunc("GET /api/v1/users/{id}", auth(f.getUser))
	mux.HandleFunc("POST /api/v1/users/{id}/lifecycle/suspend", auth(f.lifecycle(true)))
	mux.HandleFunc("POST /api/v1/users/{id}/lifecycle/unsuspend", auth(f.lifecycle(false)))
	mux.HandleFunc("GET /api/v1/users/{id}/groups", auth(f.userGroups))
	mux.HandleFunc("GET /api/v1/groups", auth(f.listGroups))
	mux.HandleFunc("GET /api/v1/groups/{groupId}", auth(f.getGroup))
	mux.HandleFunc("GET /api/v1/groups/{groupId}/users", auth(f.groupUsers))
	mux.HandleFunc("PUT /api/v1/groups/{groupId}/users/{userId}", auth(f.member(true)))
	mux.HandleFunc("DELETE /api/v1/groups/{groupId}/users/{userId}", auth(f.member(false)))
	return f, f.serve(f.handler(check, mux))
}

// Token returns the API token the fake accepts.
func (f *Okta) Token() string { return f.token }

func oktaError(w http.ResponseWriter, status int, code, summary string, causes ...string) {
	cs := []map[string]string{}
	for _, c := range causes {
		cs = append(cs, map[string]string{"errorSummary": c})
	}
	writeJSON(w, status, map[string]any{"errorCode": code, "errorSummary": summary, "errorLink": code,
		"errorId": "oae" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36), "errorCauses": cs})
}

// budgeted sets the rate-limit headers Okta sends with every answer: the
// budget, what is left of it, and when it grows (epoch seconds; Okta's
// window resets whole, the fake's token bucket a request at a time).
func (f *Okta) budgeted(h http.Header, b budget) {
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(b.limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(b.remaining))
	h.Set("X-Rate-Limit-Reset", epochSeconds(b.next))
}

// limited answers 429 as Okta does: nothing remaining, and
// X-Rate-Limit-Reset (epoch seconds) when the next request passes.
func (f *Okta) limited(h http.Header, b budget, wait time.Duration) (int, string, string) {
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(b.limit))
	h.Set("X-Rate-Limit-Remaining", "0")
	h.Set("X-Rate-Limit-Reset", epochSeconds(f.now().Add(wait)))
	return http.StatusTooManyRequests, "E0000047", "API call exceeded rate limit due to too many requests."
}

func (f *Okta) userJSON(u User) map[string]any {
	status := "ACTIVE"
	if u.Suspended {
		status = "SUSPENDED"
	}
	profile := map[string]any{"login": u.Login, "email": u.Email, "firstName": u.First, "lastName": u.Last}
	for k, v := range map[string]string{"department": u.Department, "managerId": u.Manager, "userType": u.Employment} {
		if v != "" {
			profile[k] = v
		}
	}
	if f.spec != nil {
		for k := range profile {
			if !f.spec.profile[k] {
				f.problem("the fake's user profile has %q, not in Okta's UserProfile", k)
			}
		}
	}
	return map[string]any{"id": u.ID, "status": status, "type": map[string]string{"id": "oty1"}, "profile": profile,
		"_links": map[string]any{"self": map[string]string{"href": f.url + "/api/v1/users/" + u.ID}}}
}

func limitOf(r *http.Request, def, most int) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n <= 0 {
		return def
	}
	return min(n, most)
}

// next sets Okta's Link header: rel="self" and, when more follow, rel="next".
func (f *Okta) next(w http.ResponseWriter, r *http.Request, after string, limit int) {
	self := f.url + r.URL.RequestURI()
	links := []string{fmt.Sprintf(`<%s>; rel="self"`, self)}
	if after != "" {
		q := url.Values{"after": {after}, "limit": {strconv.Itoa(limit)}}
		links = append(links, fmt.Sprintf(`<%s%s?%s>; rel="next"`, f.url, r.URL.Path, q.Encode()))
	}
	w.Header()["Link"] = links
}

func (f *Okta) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if s := q.Get("search"); s != "" { // profile.email eq "x" or profile.login eq "x"
		field, val, ok := strings.Cut(s, " eq ")
		val = strings.Trim(strings.TrimSpace(val), `"`)
		if !ok || (field != "profile.email" && field != "profile.login") {
			oktaError(w, http.StatusBadRequest, "E0000031", "Invalid search.", "the fake knows profile.email eq and profile.login eq")
			return
		}
		f.mu.Lock()
		var out []map[string]any
		for _, u := range f.users {
			if (field == "profile.email" && strings.EqualFold(u.Email, val)) || (field == "profile.login" && strings.EqualFold(u.Login, val)) {
				out = append(out, f.userJSON(*u))
			}
		}
		f.mu.Unlock()
		if out == nil {
			out = []map[string]any{}
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	limit := limitOf(r, 200, 200)
	f.mu.Lock()
	page, after := f.page(q.Get("after"), limit)
	f.mu.Unlock()
	out := make([]map[string]any, 0, len(page))
	for _, u := range page {
		out = append(out, f.userJSON(u))
	}
	f.next(w, r, after, limit)
	writeJSON(w, http.StatusOK, out)
}

func (f *Okta) getUser(w http.ResponseWriter, r *http.Request) {
	u, ok := f.User(r.PathValue("id"))
	if !ok {
		oktaError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+r.PathValue("id")+" (User)")
		return
	}
	writeJSON(w, http.StatusOK, f.userJSON(u))
}

func (f *Okta) lifecycle(suspend bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		u := f.find(r.PathValue("id"))
		var changed bool
		if u != nil {
			changed = f.suspend(u, suspend)
		}
		f.mu.Unlock()
		switch {
		case u == nil:
			oktaError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+r.PathValue("id")+" (User)")
		case !changed && suspend:
			oktaError(w, http.StatusBadRequest, "E0000001", "Api validation failed: suspend", "Cannot suspend a user that is not active")
		case !changed:
			oktaError(w, http.StatusBadRequest, "E0000001", "Api validation failed: unsuspend", "Cannot unsuspend a user that is not suspended")
		default:
			writeJSON(w, http.StatusOK, map[string]any{})
		}
	}
}

func (f *Okta) groupJSON(g *group) map[string]any {
	typ := "OKTA_GROUP"
	if g.Synced {
		typ = "APP_GROUP" // imported from a directory (Active Directory, LDAP) or an app
	}
	return map[string]any{"id": g.ID, "type": typ, "objectClass": []string{"okta:user_group"},
		"profile": map[string]string{"name": g.Name, "description": ""}}
}

// listGroups answers ?q= (a prefix of the name) or every group.
func (f *Okta) listGroups(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(r.URL.Query().Get("q"))
	f.mu.Lock()
	out := []map[string]any{}
	for _, g := range f.sortedGroups() {
		if strings.HasPrefix(strings.ToLower(g.Name), q) {
			out = append(out, f.groupJSON(g))
		}
	}
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (f *Okta) groupUsers(w http.ResponseWriter, r *http.Request) {
	limit := limitOf(r, 1000, 1000)
	after := r.URL.Query().Get("after")
	f.mu.Lock()
	g := f.groups[r.PathValue("groupId")]
	if g == nil {
		f.mu.Unlock()
		oktaError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+r.PathValue("groupId")+" (UserGroup)")
		return
	}
	out := []map[string]any{}
	next := ""
	for _, u := range f.users { // sorted by id
		if !g.members[u.ID] || (after != "" && u.ID <= after) {
			continue
		}
		if len(out) == limit {
			next = after
			break
		}
		out = append(out, f.userJSON(*u))
		after = u.ID
	}
	f.mu.Unlock()
	f.next(w, r, next, limit)
	writeJSON(w, http.StatusOK, out)
}

// member adds or removes; both are idempotent at Okta (204 either way).
func (f *Okta) member(add bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		g := f.groups[r.PathValue("groupId")]
		u := f.byID[r.PathValue("userId")]
		if g != nil && u != nil {
			f.memberChange(g, u, add)
		}
		f.mu.Unlock()
		switch {
		case g == nil:
			oktaError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+r.PathValue("groupId")+" (UserGroup)")
		case u == nil:
			oktaError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+r.PathValue("userId")+" (User)")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}
}

func (f *Okta) getGroup(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	g := f.groups[r.PathValue("groupId")]
	var out map[string]any
	if g != nil {
		out = f.groupJSON(g)
	}
	f.mu.Unlock()
	if g == nil {
		oktaError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+r.PathValue("groupId")+" (UserGroup)")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// userGroups lists the groups the user is a member of.
func (f *Okta) userGroups(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	u := f.find(r.PathValue("id"))
	out := []map[string]any{}
	if u != nil {
		for _, g := range f.sortedGroups() {
			if g.members[u.ID] {
				out = append(out, f.groupJSON(g))
			}
		}
	}
	f.mu.Unlock()
	if u == nil {
		oktaError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+r.PathValue("id")+" (User)")
		return
	}
	writeJSON(w, http.StatusOK, out)
}
