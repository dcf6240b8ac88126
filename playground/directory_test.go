package playground

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/policies"
)

// newTestWorld starts the world of a policy for a test, closed at its end.
func newTestWorld(t *testing.T, policy string) (*policies.Policy, *World) {
	t.Helper()
	p := loadTestPolicy(t, policy)
	w, err := NewWorld(p, WorldOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return p, w
}

func TestWorld_Okta(t *testing.T) {
	_, w := newTestWorld(t, testPolicy)
	ann, ok := w.Okta.User("ann.lee@example.com")
	if !ok {
		t.Fatal("ann is not in the local Okta")
	}
	if ann.ID != OktaID(ann.Email) || ann.Manager != OktaID("max@example.com") || ann.Department != "Engineering" ||
		ann.Employment != "Employee" || ann.First != "Ann" || ann.Last != "Lee" {
		t.Errorf("ann at Okta: got %+v, want her id, max's id as managerId, Engineering, Employee, Ann Lee", ann)
	}
	if max, _ := w.Okta.User("max@example.com"); max.Manager != "" {
		t.Errorf("max at Okta: got manager %q, want none", max.Manager)
	}
	if got := w.Getenv("OKTA_API_TOKEN"); got == "" || got != w.Okta.Token() {
		t.Errorf("OKTA_API_TOKEN: got %q, want the local Okta's token", got)
	}
}

func TestWorld_BotPolicy(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		p, w := newTestWorld(t, testPolicy)
		q := w.BotPolicy(p)
		if q.Directory == nil || len(q.Directory.Sources) != 1 || q.Directory.Sources[0].Kind != policies.SourceOkta ||
			q.Directory.Sources[0].URL != w.Okta.URL() {
			t.Fatalf("sources: got %+v, want the local Okta alone", q.Directory)
		}
		if q.Directory.SyncEvery != policies.DefaultSyncEvery || q.Directory.MaxDrop != policies.DefaultMaxDrop {
			t.Errorf("settings: got every %v, max_drop %v, want the defaults", q.Directory.SyncEvery, q.Directory.MaxDrop)
		}
		if got := q.Directory.EmploymentValues; got["Employee"] != "internal" || got["Contractor"] != "external" {
			t.Errorf("employment_values: got %v, want Employee internal, Contractor external", got)
		}
		// The file's people are the directory until a sync, but no
		// override: what Okta says wins.
		if n := len(q.OwnPeople()); n != 0 {
			t.Errorf("the bot's policy has %d people of its own, want 0", n)
		}
		if per, ok := q.Person("ann.lee@example.com"); !ok || per.Manager != "max@example.com" {
			t.Errorf("ann before a sync: got %+v, %v, want max as her manager", per, ok)
		}
		if p.Directory != nil || len(p.OwnPeople()) != 3 {
			t.Errorf("the loaded policy changed: directory %+v, %d people", p.Directory, len(p.OwnPeople()))
		}
		if q.Hash != p.Hash {
			t.Errorf("hash: got %s, want the file's %s (a reload of the same file changes nothing)", q.Hash, p.Hash)
		}
	})
	t.Run("TheFilesSources", func(t *testing.T) {
		p, w := newTestWorld(t, strings.Replace(testPolicy, "directory:\n", `directory:
  sources:
    - entra: {tenant: 00000000-0000-0000-0000-000000000000}
  sync_every: 2h
  employment_values: {Staff: internal}
`, 1))
		d := w.BotPolicy(p).Directory
		if len(d.Sources) != 1 || d.Sources[0].Kind != policies.SourceOkta {
			t.Errorf("sources: got %v, want the local Okta in place of the file's entra", d.Sources)
		}
		if d.SyncEvery != 2*time.Hour || d.EmploymentValues["Staff"] != "internal" || d.EmploymentValues["Employee"] != "internal" {
			t.Errorf("settings: got every %v, values %v; want the file's 2h and Staff, with Employee added", d.SyncEvery, d.EmploymentValues)
		}
		if p.Directory.Sources[0].Kind != policies.SourceEntra {
			t.Errorf("the loaded policy's sources changed: %v", p.Directory.Sources)
		}
	})
}

// fakeDirectory is the bot's directory as the page sees it.
type fakeDirectory struct {
	people  []directory.Person
	at      time.Time
	running bool
	syncs   int
}

func (f *fakeDirectory) Directory(context.Context) ([]directory.Person, time.Time, error) {
	return f.people, f.at, nil
}

func (f *fakeDirectory) SyncNow() bool {
	if f.running {
		f.syncs++
	}
	return f.running
}

func TestServer_IdP(t *testing.T) {
	p, w := newTestWorld(t, testPolicy)
	dir := &fakeDirectory{running: true, at: w.Clock.Now(), people: []directory.Person{
		{Person: policies.Person{Email: "ann.lee@example.com", Department: "Engineering", Manager: "max@example.com"},
			Sources: map[string]string{"department": "okta", "manager": "okta"}},
	}}
	s, err := NewServer(Config{World: w, Policy: func() *policies.Policy { return w.BotPolicy(p) }, Audit: noEvents{}, Directory: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	post := func(path, body string) (int, map[string]any) {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/"+path, strings.NewReader(body))
		req.Header.Set("X-Playground", "1")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		var out map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out
	}
	for _, tc := range []struct{ name, give, want string }{
		{"ErrNobody", `{"email": "eve@example.com", "manager": "max@example.com"}`, "Choose someone of the directory to change."},
		{"ErrStrangerManager", `{"email": "ann.lee@example.com", "manager": "eve@example.com"}`, "The manager must be someone of the directory."},
		{"ErrSelf", `{"email": "ann.lee@example.com", "manager": "ann.lee@example.com"}`, "Nobody manages themselves: choose another manager."},
		{"ErrNothing", `{"email": "ann.lee@example.com"}`, "Choose a new manager or type a department first."},
		{"ErrNotJSON", `manager=max`, "the request is not JSON the page sends"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := post("api/idp", tc.give)
			if code != http.StatusBadRequest || out["error"] != tc.want {
				t.Errorf("got %d %v, want 400 %q", code, out["error"], tc.want)
			}
		})
	}
	if u, _ := w.Okta.User("ann.lee@example.com"); u.Manager != OktaID("max@example.com") {
		t.Fatalf("a refused change changed Okta: ann's manager %q", u.Manager)
	}

	t.Run("OK", func(t *testing.T) {
		code, out := post("api/idp", `{"email": "Ann.Lee@example.com", "manager": "sam@example.com", "department": " Platform "}`)
		if code != http.StatusOK {
			t.Fatalf("got %d %v", code, out)
		}
		u, _ := w.Okta.User("ann.lee@example.com")
		if u.Manager != OktaID("sam@example.com") || u.Department != "Platform" {
			t.Errorf("ann at Okta: manager %q, department %q; want sam's id, Platform", u.Manager, u.Department)
		}
		// The panel shows the last sync's directory, not Okta's: ann's
		// manager stays max until the bot syncs.
		panel := s.renderDirectory(context.Background())
		for _, want := range []string{`<td class="manager">max</td>`, "Okta now has ann.lee: manager sam@example.com, department Platform."} {
			if !strings.Contains(panel, want) {
				t.Errorf("the panel lacks %q:\n%s", want, panel)
			}
		}
	})
	t.Run("Suspend", func(t *testing.T) {
		if code, out := post("api/idp", `{"email": "ann.lee@example.com", "suspend": true}`); code != http.StatusOK {
			t.Fatalf("got %d %v", code, out)
		}
		if u, _ := w.Okta.User("ann.lee@example.com"); !u.Suspended {
			t.Error("ann is not suspended at Okta")
		}
		if panel := s.renderDirectory(context.Background()); !strings.Contains(panel, `<td>ann.lee <span class="idp-state">suspended at Okta</span></td>`) {
			t.Errorf("the panel does not show ann suspended at Okta:\n%s", panel)
		}
		if code, _ := post("api/idp", `{"email": "ann.lee@example.com", "suspend": false}`); code != http.StatusOK {
			t.Fatal("unsuspend refused")
		}
		if u, _ := w.Okta.User("ann.lee@example.com"); u.Suspended {
			t.Error("ann is still suspended at Okta")
		}
	})
	t.Run("Sync", func(t *testing.T) {
		if code, _ := post("api/idp/sync", `{}`); code != http.StatusOK || dir.syncs != 1 {
			t.Errorf("sync now: got %d and %d syncs asked, want 200 and 1", code, dir.syncs)
		}
		dir.running = false
		if code, out := post("api/idp/sync", `{}`); code != http.StatusConflict || out["error"] != "jitbot's directory sync is not running here." {
			t.Errorf("sync with no loop: got %d %v", code, out["error"])
		}
	})
}

// events is an audit trail for the panels.
type events []approvals.Event

func (es events) Events(_ context.Context, _, _ time.Time, fn func(*approvals.Event) error) error {
	for i := range es {
		if err := fn(&es[i]); err != nil {
			return err
		}
	}
	return nil
}

// The panel lists the directory's audit events, newest first, and only
// those: a sync's counts, a change with its old and new value and source,
// a refusal with its reason (every text escaped).
func TestServer_DirectoryEvents(t *testing.T) {
	p, w := newTestWorld(t, testPolicy)
	at := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	trail := events{
		{Time: at, Actor: "system", Action: directory.ActionSynced, Data: map[string]string{"people": "3", "changes": "0", "problems": "0"}},
		{Time: at, Actor: "alice@example.com", Action: "request.created", Subject: "ann.lee@example.com", Resource: "db-admins"},
		{Time: at.Add(time.Hour), Actor: "system", Action: directory.ActionChanged, Subject: "ann.lee@example.com",
			Data: map[string]string{"field": "manager", "old": "max@example.com", "new": "sam@example.com", "source": "okta"}},
		{Time: at.Add(2 * time.Hour), Actor: "system", Action: directory.ActionRefused, Reason: "directory source okta failed: <down>"},
	}
	s, err := NewServer(Config{World: w, Policy: func() *policies.Policy { return w.BotPolicy(p) }, Audit: trail,
		Directory: &fakeDirectory{running: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	panel := s.renderDirectory(context.Background())
	want := []string{
		`<code>directory.refused</code> <span class="actor">system</span> <q>directory source okta failed: &lt;down&gt;</q>`,
		`<code>directory.changed</code> ann.lee's manager: max@example.com → sam@example.com <span class="muted">(from okta)</span>`,
		`<code>directory.synced</code> <span class="actor">system</span> <q>3 people, 0 changes, 0 problems</q>`,
	}
	last := -1
	for _, wnt := range want {
		i := strings.Index(panel, wnt)
		if i < 0 {
			t.Fatalf("the panel lacks %q:\n%s", wnt, panel)
		}
		if i < last {
			t.Errorf("%q is out of order (newest first):\n%s", wnt, panel)
		}
		last = i
	}
	if strings.Contains(panel, "request.created") {
		t.Errorf("the directory panel lists a request's event:\n%s", panel)
	}
	if !strings.Contains(panel, "not synced yet") {
		t.Errorf("a directory never synced is not said so:\n%s", panel)
	}
}

// The switcher names people as the last sync has them: once the bot has
// synced ann's new manager from Okta, sam is "manager of ann.lee" and max
// no longer is; before any sync the policy's people stand.
func TestServer_SwitcherFollowsTheSync(t *testing.T) {
	p, w := newTestWorld(t, testPolicy)
	dir := &fakeDirectory{running: true}
	s, err := NewServer(Config{World: w, Policy: func() *policies.Policy { return w.BotPolicy(p) }, Audit: noEvents{}, Directory: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	label := func(email string) string {
		for _, per := range s.people(context.Background()) {
			if per.Email == email {
				return per.Label()
			}
		}
		return ""
	}
	if !strings.Contains(label("max@example.com"), "manager of ann.lee") {
		t.Fatalf("before any sync: max is %q, want the policy's manager of ann.lee", label("max@example.com"))
	}
	dir.at = w.Clock.Now()
	for _, per := range w.People {
		dp := directory.Person{Person: policies.Person{Email: per.Email, Department: per.Department, Manager: per.Manager, Employment: per.Employment}}
		if per.Email == "ann.lee@example.com" {
			dp.Manager, dp.Department = "sam@example.com", "Platform"
		}
		dir.people = append(dir.people, dp)
	}
	if got := label("sam@example.com"); !strings.Contains(got, "manager of ann.lee") {
		t.Errorf("after the sync: sam is %q, want manager of ann.lee", got)
	}
	if got := label("max@example.com"); strings.Contains(got, "manager of") {
		t.Errorf("after the sync: max is %q, want no longer a manager", got)
	}
	if got := label("ann.lee@example.com"); !strings.Contains(got, "Platform") {
		t.Errorf("after the sync: ann is %q, want her new department", got)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
	if page := rec.Body.String(); !strings.Contains(page, html.EscapeString(label("sam@example.com"))) {
		t.Errorf("the page's switcher lacks %q", label("sam@example.com"))
	}
}
