package idpfake

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Entra is a local Microsoft Entra ID: the token endpoint
// (/{tenant}/oauth2/v2.0/token, client credentials) and Microsoft Graph
// v1.0 (/v1.0/users, their manager and memberOf, accountEnabled; /v1.0/groups
// and their members).
type Entra struct {
	*core
	tokens
	clientID, secret, tenant string
	unavailable              int // the next n Graph requests answer 503
}

// GraphScope is the scope a client-credentials token for Graph asks for.
const GraphScope = "https://graph.microsoft.com/.default"

// NewEntra starts a fake Entra ID for a test, Graph requests checked
// against the official CSDL (skipped, with a line, when absent).
func NewEntra(tb TB, o Options) *Entra { return newFake(tb, "Entra", o, startEntra) }

// StartEntra starts a fake Entra ID for a program (the playground).
func StartEntra(o Options) (*Entra, error) { return startEntra(nil, o, false) }

func startEntra(tb TB, o Options, validate bool) (*Entra, error) {
	f := &Entra{core: newCore(tb, o, dialect{
		fail:    graphError,
		down:    [2]string{"generalException", "An internal server error occurred."},
		denied:  [2]string{"InvalidAuthenticationToken", "Access token has expired or is not yet valid."},
		limited: graphLimited,
	}), clientID: o.ClientID, secret: o.ClientSecret, tenant: o.Tenant, tokens: newTokens(o.TokenTTL)}
	if f.clientID == "" {
		f.clientID = "jitbot-client-id"
	}
	if f.secret == "" {
		f.secret = "entra-client-secret-0123456789"
	}
	if f.tenant == "" {
		f.tenant = "00000000-0000-0000-0000-000000000000"
	}
	g, ok, err := specOf(o, validate, GraphSpecFile, parseGraph)
	if err != nil {
		return nil, err
	}
	var check func(*http.Request, []byte) error
	if ok {
		check = func(r *http.Request, body []byte) error {
			if !strings.HasPrefix(r.URL.Path, "/v1.0/") {
				return nil
			}
			return g.check(r, body)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", f.token)
	mux.HandleFunc("GET /v1.0/users", f.auth(f.listUsers))
	mux.HandleFunc("GET /v1.0/users/{id}", f.auth(f.getUser))
	mux.HandleFunc("PATCH /v1.0/users/{id}", f.auth(f.patchUser))
	mux.HandleFunc("GET /v1.0/users/{id}/memberOf", f.auth(f.memberOf))
	mux.HandleFunc("GET /v1.0/groups", f.auth(f.listGroups))
	mux.HandleFunc("GET /v1.0/groups/{id}", f.auth(f.getGroup))
	mux.HandleFunc("GET /v1.0/groups/{id}/members", f.auth(f.members))
	mux.HandleFunc("GET /v1.0/groups/{id}/members/microsoft.graph.user", f.auth(f.members))
	mux.HandleFunc("POST /v1.0/groups/{id}/members/$ref", f.auth(f.addMember))
	mux.HandleFunc("DELETE /v1.0/groups/{id}/members/{uid}/$ref", f.auth(f.removeMember))
	return f, f.serve(f.handler(check, mux))
}

// ClientID, ClientSecret and Tenant are the credentials the fake accepts.
func (f *Entra) ClientID() string     { return f.clientID }
func (f *Entra) ClientSecret() string { return f.secret }
func (f *Entra) Tenant() string       { return f.tenant }

// TokensIssued counts the access tokens handed out.
func (f *Entra) TokensIssued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

// SetUnavailable makes the next n Graph requests answer 503 with Retry-After: 1.
func (f *Entra) SetUnavailable(n int) {
	f.mu.Lock()
	f.unavailable = n
	f.mu.Unlock()
}

func graphError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg,
		"innerError": map[string]string{"date": time.Now().UTC().Format(time.RFC3339), "request-id": "00000000-0000-0000-0000-000000000001"}}})
}

// graphNotFound is Graph's 404 for an object id.
func graphNotFound(w http.ResponseWriter, id string) {
	graphError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
}

// graphLimited answers 429 with Retry-After in whole seconds, as Graph does.
func graphLimited(h http.Header, _ budget, wait time.Duration) (int, string, string) {
	h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	return http.StatusTooManyRequests, "TooManyRequests", "Too many requests."
}

func (f *Entra) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "")
		return
	}
	switch {
	case r.PathValue("tenant") != f.tenant:
		oauthError(w, http.StatusBadRequest, "invalid_request", "AADSTS90002: Tenant not found.")
	case r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != GraphScope:
		f.problem("token request: grant_type %q scope %q, want client_credentials and %s", r.PostForm.Get("grant_type"), r.PostForm.Get("scope"), GraphScope)
		oauthError(w, http.StatusBadRequest, "invalid_scope", "")
	case r.PostForm.Get("client_id") != f.clientID || r.PostForm.Get("client_secret") != f.secret:
		oauthError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
	default:
		f.grant(w, &f.tokens, func(ttl int) map[string]any { return map[string]any{"ext_expires_in": ttl} })
	}
}

// auth lets h answer requests with an unexpired token, after the 503s
// SetUnavailable asked for.
func (f *Entra) auth(h http.HandlerFunc) http.HandlerFunc {
	h = f.bearer(&f.tokens, h)
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		busy := f.unavailable > 0
		if busy {
			f.unavailable--
		}
		f.mu.Unlock()
		if busy {
			w.Header().Set("Retry-After", "1")
			graphError(w, http.StatusServiceUnavailable, "serviceNotAvailable", "The service is temporarily unavailable.")
			return
		}
		h(w, r)
	}
}

func (f *Entra) userJSON(u User, sel []string, expandManager bool) map[string]any {
	all := map[string]any{"id": u.ID, "userPrincipalName": u.Login, "mail": u.Email, "givenName": u.First, "surname": u.Last,
		"department": nilIfEmpty(u.Department), "employeeType": nilIfEmpty(u.Employment), "accountEnabled": !u.Suspended,
		"displayName": strings.TrimSpace(u.First + " " + u.Last)}
	out := all
	if len(sel) > 0 {
		out = map[string]any{"id": u.ID}
		for _, s := range sel {
			if v, ok := all[s]; ok {
				out[s] = v
			}
		}
	}
	if expandManager && u.Manager != "" {
		// The manager's object id, even when the listing does not hold it
		// (an object of another kind, or one deleted since).
		out["manager"] = map[string]any{"@odata.type": "#microsoft.graph.user", "id": u.Manager}
	}
	return out
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

var eqClause = regexpMust(`(\w+) eq '([^']*)'`)

// filterUser matches Graph's "mail eq 'x' or userPrincipalName eq 'x'".
func filterUser(u *User, filter string) bool {
	for _, m := range eqClause.FindAllStringSubmatch(filter, -1) {
		switch m[1] {
		case "mail":
			if strings.EqualFold(u.Email, m[2]) {
				return true
			}
		case "userPrincipalName":
			if strings.EqualFold(u.Login, m[2]) {
				return true
			}
		case "id":
			if u.ID == m[2] {
				return true
			}
		}
	}
	return false
}

func topOf(r *http.Request, def, most int) int {
	n, err := strconv.Atoi(r.URL.Query().Get("$top"))
	if err != nil || n <= 0 {
		return def
	}
	return min(n, most)
}

// nextLink is @odata.nextLink: the same query with $skiptoken.
func (f *Entra) nextLink(r *http.Request, after string) string {
	q := r.URL.Query()
	q.Set("$skiptoken", after)
	return f.url + r.URL.Path + "?" + q.Encode()
}

func (f *Entra) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sel := splitList(q.Get("$select"))
	expand := strings.HasPrefix(q.Get("$expand"), "manager")
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]any{"@odata.context": f.url + "/v1.0/$metadata#users"}
	var vals []map[string]any
	if flt := q.Get("$filter"); flt != "" {
		for _, u := range f.users {
			if filterUser(u, flt) {
				vals = append(vals, f.userJSON(*u, sel, expand))
			}
		}
	} else {
		page, after := f.page(q.Get("$skiptoken"), topOf(r, 100, 999))
		for _, u := range page {
			vals = append(vals, f.userJSON(u, sel, expand))
		}
		if after != "" {
			out["@odata.nextLink"] = f.nextLink(r, after)
		}
	}
	if vals == nil {
		vals = []map[string]any{}
	}
	out["value"] = vals
	writeJSON(w, http.StatusOK, out)
}

func (f *Entra) getUser(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.find(r.PathValue("id"))
	if u == nil {
		graphNotFound(w, r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, f.userJSON(*u, splitList(r.URL.Query().Get("$select")), false))
}

func (f *Entra) patchUser(w http.ResponseWriter, r *http.Request) {
	var body map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		graphError(w, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload.")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.find(r.PathValue("id"))
	if u == nil {
		graphNotFound(w, r.PathValue("id"))
		return
	}
	if v, ok := body["accountEnabled"]; ok {
		var enabled bool
		if err := json.Unmarshal(v, &enabled); err != nil {
			graphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'accountEnabled' of resource 'User'.")
			return
		}
		f.suspend(u, !enabled)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *Entra) groupJSON(g *group) map[string]any {
	return map[string]any{"id": g.ID, "displayName": g.Name, "mail": g.Email, "onPremisesSyncEnabled": nilIfFalse(g.Synced)}
}

func nilIfFalse(b bool) any {
	if !b {
		return nil
	}
	return true
}

func (f *Entra) listGroups(w http.ResponseWriter, r *http.Request) {
	flt := r.URL.Query().Get("$filter")
	f.mu.Lock()
	defer f.mu.Unlock()
	vals := []map[string]any{}
	for _, g := range f.sortedGroups() {
		for _, m := range eqClause.FindAllStringSubmatch(flt, -1) {
			if m[1] == "displayName" && strings.EqualFold(m[2], g.Name) { // Graph compares case-insensitively
				vals = append(vals, f.groupJSON(g))
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": vals})
}

func (f *Entra) getGroup(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[r.PathValue("id")]
	if g == nil {
		graphNotFound(w, r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, f.groupJSON(g))
}

func (f *Entra) members(w http.ResponseWriter, r *http.Request) {
	after := r.URL.Query().Get("$skiptoken")
	top := topOf(r, 100, 999)
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[r.PathValue("id")]
	if g == nil {
		graphNotFound(w, r.PathValue("id"))
		return
	}
	vals := []map[string]any{}
	out := map[string]any{}
	for _, u := range f.users {
		if !g.members[u.ID] || (after != "" && u.ID <= after) {
			continue
		}
		if len(vals) == top {
			out["@odata.nextLink"] = f.nextLink(r, after)
			break
		}
		m := f.userJSON(*u, splitList(r.URL.Query().Get("$select")), false)
		m["@odata.type"] = "#microsoft.graph.user"
		vals = append(vals, m)
		after = u.ID
	}
	out["value"] = vals
	writeJSON(w, http.StatusOK, out)
}

func (f *Entra) memberOf(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.find(r.PathValue("id"))
	if u == nil {
		graphNotFound(w, r.PathValue("id"))
		return
	}
	vals := []map[string]any{}
	for _, g := range f.sortedGroups() {
		if g.members[u.ID] {
			m := f.groupJSON(g)
			m["@odata.type"] = "#microsoft.graph.group"
			vals = append(vals, m)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": vals})
}

func (f *Entra) addMember(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID string `json:"@odata.id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.ID == "" {
		graphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid JSON: @odata.id is required.")
		return
	}
	u, err := url.Parse(body.ID)
	uid := ""
	if err == nil {
		uid = u.Path[strings.LastIndex(u.Path, "/")+1:]
		if !strings.Contains(u.Path, "/directoryObjects/") {
			f.problem("@odata.id %s is not a directoryObjects reference", body.ID)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g, user := f.groups[r.PathValue("id")], f.byID[uid]
	switch {
	case g == nil || user == nil:
		graphError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource does not exist or one of its queried reference-property objects are not present.")
	case !f.memberChange(g, user, true):
		graphError(w, http.StatusBadRequest, "Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'.")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (f *Entra) removeMember(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, user := f.groups[r.PathValue("id")], f.byID[r.PathValue("uid")]
	if g == nil || user == nil || !f.memberChange(g, user, false) {
		graphNotFound(w, r.PathValue("uid"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
