package idpfake

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Google is a local Google Workspace: the OAuth token endpoint (/token,
// a service account's signed assertion with domain-wide delegation) and
// the Admin SDK Directory API (/admin/directory/v1: users, groups,
// members).
type Google struct {
	*core
	tokens
	subject string
	key     *rsa.PrivateKey
	email   string
}

// Scopes the fake requires of a token request.
var GoogleScopes = []string{
	"https://www.googleapis.com/auth/admin.directory.user",
	"https://www.googleapis.com/auth/admin.directory.group.member",
}

var keyOnce struct {
	sync.Once
	key *rsa.PrivateKey
	err error
}

// serviceKey is one RSA key per process: generating one costs a second
// under the race detector.
func serviceKey() (*rsa.PrivateKey, error) {
	keyOnce.Do(func() { keyOnce.key, keyOnce.err = rsa.GenerateKey(rand.Reader, 2048) })
	return keyOnce.key, keyOnce.err
}

// NewGoogle starts a fake Google Workspace for a test, its requests
// checked against the official discovery document.
func NewGoogle(tb TB, o Options) *Google { return newFake(tb, "Google", o, startGoogle) }

// StartGoogle starts a fake Google Workspace for a program.
func StartGoogle(o Options) (*Google, error) { return startGoogle(nil, o, false) }

func startGoogle(tb TB, o Options, validate bool) (*Google, error) {
	key, err := serviceKey()
	if err != nil {
		return nil, err
	}
	f := &Google{core: newCore(tb, o, dialect{
		fail:    googleError,
		down:    [2]string{"backendError", "Backend Error"},
		denied:  [2]string{"authError", "Invalid Credentials"},
		limited: googleLimited(o.Google429),
	}), subject: o.Subject, key: key, email: "jitbot@jitbot-test.iam.gserviceaccount.com", tokens: newTokens(o.TokenTTL)}
	if f.subject == "" {
		f.subject = "admin@example.com"
	}
	spec, ok, err := specOf(o, validate, GoogleSpecFile, parseGoogle)
	if err != nil {
		return nil, err
	}
	var check func(*http.Request, []byte) error
	if ok {
		check = func(r *http.Request, body []byte) error {
			if r.URL.Path == "/token" {
				return nil
			}
			return spec.check(r, body)
		}
	}
	auth := func(h http.HandlerFunc) http.HandlerFunc { return f.bearer(&f.tokens, h) }
	const p = "/admin/directory/v1/"
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("GET "+p+"users", auth(f.listUsers))
	mux.HandleFunc("GET "+p+"users/{userKey}", auth(f.getUser))
	mux.HandleFunc("PUT "+p+"users/{userKey}", auth(f.updateUser))
	mux.HandleFunc("GET "+p+"groups", auth(f.listGroups))
	mux.HandleFunc("GET "+p+"groups/{groupKey}", auth(f.getGroup))
	mux.HandleFunc("GET "+p+"groups/{groupKey}/members", auth(f.members))
	mux.HandleFunc("POST "+p+"groups/{groupKey}/members", auth(f.insertMember))
	mux.HandleFunc("DELETE "+p+"groups/{groupKey}/members/{memberKey}", auth(f.deleteMember))
	mux.HandleFunc("GET "+p+"groups/{groupKey}/hasMember/{memberKey}", auth(f.hasMember))
	return f, f.serve(f.handler(check, mux))
}

// Subject is the admin the service account must impersonate.
func (f *Google) Subject() string { return f.subject }

// TokensIssued counts the access tokens handed out.
func (f *Google) TokensIssued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

// ServiceAccountJSON is a service account key file whose token_uri is
// the fake's.
func (f *Google) ServiceAccountJSON() []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(f.key)
	b, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "jitbot-test", "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": f.email, "client_id": "1234567890", "token_uri": f.url + "/token"})
	return b
}

func googleError(w http.ResponseWriter, status int, reason, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": msg,
		"errors": []map[string]string{{"message": msg, "domain": "global", "reason": reason}}}})
}

// googleLimited answers as the Admin SDK does: 403 userRateLimitExceeded
// (or, with as429, 429 rateLimitExceeded), with no advice on when to come
// back.
func googleLimited(as429 bool) func(http.Header, budget, time.Duration) (int, string, string) {
	return func(http.Header, budget, time.Duration) (int, string, string) {
		if as429 {
			return http.StatusTooManyRequests, "rateLimitExceeded", "Rate Limit Exceeded"
		}
		return http.StatusForbidden, "userRateLimitExceeded", "User Rate Limit Exceeded"
	}
}

// token checks the assertion: RS256 by the service account's key, issued
// by its email, for the subject, with the scopes, to this token URI.
func (f *Google) token(w http.ResponseWriter, r *http.Request) {
	bad := func(desc string) { oauthError(w, http.StatusBadRequest, "invalid_grant", desc) }
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		bad("grant_type must be urn:ietf:params:oauth:grant-type:jwt-bearer")
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		bad("Invalid JWT")
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err != nil || rsa.VerifyPKCS1v15(&f.key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		bad("Invalid JWT Signature.")
		return
	}
	var c struct {
		Iss, Sub, Aud, Scope string
		Exp, Iat             int64
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(raw, &c); err != nil {
		bad("Invalid JWT")
		return
	}
	scopes := strings.Fields(c.Scope)
	for _, s := range GoogleScopes {
		if !strings.Contains(" "+c.Scope+" ", " "+s+" ") {
			oauthError(w, http.StatusBadRequest, "unauthorized_client",
				"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
			return
		}
	}
	switch {
	case c.Iss != f.email:
		bad("Invalid issuer")
	case c.Aud != f.url+"/token":
		bad("Invalid JWT audience: " + c.Aud)
	case c.Sub != f.subject:
		oauthError(w, http.StatusUnauthorized, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method.")
	case time.Unix(c.Exp, 0).Before(f.now()) || len(scopes) == 0:
		bad("Invalid JWT: Token must be a short-lived token")
	default:
		f.grant(w, &f.tokens, nil)
	}
}

func (f *Google) userJSON(u User) map[string]any {
	out := map[string]any{"kind": "admin#directory#user", "id": u.ID, "primaryEmail": u.Email, "suspended": u.Suspended,
		"name": map[string]string{"givenName": u.First, "familyName": u.Last, "fullName": strings.TrimSpace(u.First + " " + u.Last)}}
	if u.Department != "" || u.Employment != "" {
		out["organizations"] = []map[string]any{{"department": u.Department, "description": u.Employment, "primary": true}}
	}
	if u.Manager != "" {
		out["relations"] = []map[string]string{{"type": "manager", "value": u.Manager}}
	}
	return out
}

func maxResults(r *http.Request, def, most int) int {
	n, err := strconv.Atoi(r.URL.Query().Get("maxResults"))
	if err != nil || n <= 0 {
		return def
	}
	return min(n, most)
}

func (f *Google) listUsers(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("customer") == "" && r.URL.Query().Get("domain") == "" {
		googleError(w, http.StatusBadRequest, "badRequest", "Bad Request")
		return
	}
	f.mu.Lock()
	page, next := f.page(r.URL.Query().Get("pageToken"), maxResults(r, 100, 500))
	f.mu.Unlock()
	users := make([]map[string]any, 0, len(page))
	for _, u := range page {
		users = append(users, f.userJSON(u))
	}
	out := map[string]any{"kind": "admin#directory#users", "users": users}
	if next != "" {
		out["nextPageToken"] = next
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *Google) getUser(w http.ResponseWriter, r *http.Request) {
	u, ok := f.User(r.PathValue("userKey"))
	if !ok {
		googleError(w, http.StatusNotFound, "notFound", "Resource Not Found: userKey")
		return
	}
	writeJSON(w, http.StatusOK, f.userJSON(u))
}

func (f *Google) updateUser(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Suspended *bool `json:"suspended"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		googleError(w, http.StatusBadRequest, "invalid", "Invalid Input")
		return
	}
	f.mu.Lock()
	u := f.find(r.PathValue("userKey"))
	if u != nil && body.Suspended != nil {
		f.suspend(u, *body.Suspended)
	}
	var out map[string]any
	if u != nil {
		out = f.userJSON(*u)
	}
	f.mu.Unlock()
	if u == nil {
		googleError(w, http.StatusNotFound, "notFound", "Resource Not Found: userKey")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *Google) groupJSON(g *group) map[string]any {
	return map[string]any{"kind": "admin#directory#group", "id": g.ID, "email": g.Email, "name": g.Name,
		"directMembersCount": strconv.Itoa(len(g.members))}
}

func (f *Google) listGroups(w http.ResponseWriter, r *http.Request) {
	after := r.URL.Query().Get("pageToken")
	n := maxResults(r, 200, 200)
	f.mu.Lock()
	groups := []map[string]any{}
	next := ""
	for _, g := range f.sortedGroups() {
		if after != "" && g.ID <= after {
			continue
		}
		if len(groups) == n {
			next = after
			break
		}
		groups = append(groups, f.groupJSON(g))
		after = g.ID
	}
	f.mu.Unlock()
	out := map[string]any{"kind": "admin#directory#groups", "groups": groups}
	if next != "" {
		out["nextPageToken"] = next
	}
	writeJSON(w, http.StatusOK, out)
}

// group finds a group by id or email, as groupKey allows.
func (f *Google) group(key string) *group {
	if g := f.groups[key]; g != nil {
		return g
	}
	for _, g := range f.groups {
		if strings.EqualFold(g.Email, key) {
			return g
		}
	}
	return nil
}

func (f *Google) getGroup(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	g := f.group(r.PathValue("groupKey"))
	var out map[string]any
	if g != nil {
		out = f.groupJSON(g)
	}
	f.mu.Unlock()
	if g == nil {
		googleError(w, http.StatusNotFound, "notFound", "Resource Not Found: groupKey")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *Google) members(w http.ResponseWriter, r *http.Request) {
	after := r.URL.Query().Get("pageToken")
	n := maxResults(r, 200, 200)
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.group(r.PathValue("groupKey"))
	if g == nil {
		googleError(w, http.StatusNotFound, "notFound", "Resource Not Found: groupKey")
		return
	}
	ms := []map[string]any{}
	next := ""
	for _, u := range f.users {
		if !g.members[u.ID] || (after != "" && u.ID <= after) {
			continue
		}
		if len(ms) == n {
			next = after
			break
		}
		ms = append(ms, map[string]any{"kind": "admin#directory#member", "id": u.ID, "email": u.Email, "role": "MEMBER", "type": "USER", "status": "ACTIVE"})
		after = u.ID
	}
	out := map[string]any{"kind": "admin#directory#members", "members": ms}
	if next != "" {
		out["nextPageToken"] = next
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *Google) insertMember(w http.ResponseWriter, r *http.Request) {
	var body struct{ Email, ID, Role string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		googleError(w, http.StatusBadRequest, "invalid", "Invalid Input")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.group(r.PathValue("groupKey"))
	u := f.find(body.Email)
	if u == nil && body.ID != "" {
		u = f.byID[body.ID]
	}
	switch {
	case g == nil:
		googleError(w, http.StatusNotFound, "notFound", "Resource Not Found: groupKey")
	case u == nil:
		googleError(w, http.StatusNotFound, "notFound", "Resource Not Found: memberKey")
	case !f.memberChange(g, u, true):
		googleError(w, http.StatusConflict, "duplicate", "Member already exists.")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"kind": "admin#directory#member", "id": u.ID, "email": u.Email, "role": "MEMBER", "type": "USER"})
	}
}

func (f *Google) deleteMember(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.group(r.PathValue("groupKey"))
	u := f.find(r.PathValue("memberKey"))
	switch {
	case g == nil:
		googleError(w, http.StatusNotFound, "notFound", "Resource Not Found: groupKey")
	case u == nil || !f.memberChange(g, u, false):
		googleError(w, http.StatusNotFound, "notFound", "Resource Not Found: memberKey")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (f *Google) hasMember(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.group(r.PathValue("groupKey"))
	u := f.find(r.PathValue("memberKey"))
	if g == nil {
		googleError(w, http.StatusNotFound, "notFound", "Resource Not Found: groupKey")
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"isMember": u != nil && g.members[u.ID]})
}
