package playground

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/internal/idpfake"
	"github.com/jitbot/jitbot/policies"
	"go.uber.org/zap"
)

// The identity-provider flow in the playground: a local Okta holds the
// policy's people (department, manager as Okta's managerId, employment as
// userType), the bot runs with it as its only directory source and syncs
// it as in production, and the page's Directory panel shows what the last
// sync saw, changes people at Okta and asks for a sync now.

// Directory is what the page needs of the running bot's directory.
type Directory interface {
	// Directory returns the stored directory, sorted by email, and when
	// it was synced (zero when never).
	Directory(ctx context.Context) ([]directory.Person, time.Time, error)
	// SyncNow asks the bot's directory loop to sync at once; false when
	// no loop runs.
	SyncNow() bool
}

// The employment values the local Okta holds, as a real org's userType
// would, and what they mean to jitbot.
var oktaEmployment = map[string]string{"Employee": policies.EmploymentInternal, "Contractor": policies.EmploymentExternal}

// oktaUserType is the userType the local Okta holds for an employment.
func oktaUserType(employment string) string {
	for k, v := range oktaEmployment {
		if v == employment {
			return k
		}
	}
	return employment
}

// oktaGroup is a group of the local Okta the policy's resources name.
type oktaGroup struct{ name, id string }

// OktaID is the local Okta's user id of a person of the directory.
func OktaID(email string) string {
	return "00u" + strings.ToLower(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, email))
}

// fillOkta gives the local Okta a user per person of the directory, and
// the groups of the policy's okta resources.
func (w *World) fillOkta(p *policies.Policy) {
	for _, g := range p.Groups()[policies.SourceOkta] {
		w.oktaGroups = append(w.oktaGroups, oktaGroup{name: g, id: w.Okta.AddGroup(g)})
	}
	known := map[string]bool{}
	for _, per := range w.People {
		known[per.Email] = true
	}
	for _, per := range w.People {
		mgr := per.Manager
		if known[mgr] {
			mgr = OktaID(mgr) // Okta's managerId holds what the org puts there: here, the manager's user id
		}
		first, last, _ := strings.Cut(realName(per.Name), " ")
		w.Okta.AddUser(idpfake.User{ID: OktaID(per.Email), Login: per.Email, Email: per.Email, First: first, Last: last,
			Department: per.Department, Manager: mgr, Employment: oktaUserType(per.Employment)})
	}
}

// BotPolicy is the policy the bot runs with in the playground: p with the
// local Okta as its only directory source (in place of any the file
// names: nothing leaves 127.0.0.1), and the file's people in the local
// Okta, not over it, so that what is changed there is what the bot sees
// after a sync. Until the first sync the file's people are the directory.
// sync_every, max_drop and employment_values stay the file's, with the
// local Okta's userType values added.
func (w *World) BotPolicy(p *policies.Policy) *policies.Policy {
	d := policies.DirectorySettings{SyncEvery: policies.DefaultSyncEvery, MaxDrop: policies.DefaultMaxDrop}
	if p.Directory != nil {
		d = *p.Directory
	}
	d.Sources = []policies.DirectorySource{{Kind: policies.SourceOkta, URL: w.Okta.URL()}}
	d.EmploymentValues = maps.Clone(oktaEmployment)
	if p.Directory != nil {
		maps.Copy(d.EmploymentValues, p.Directory.EmploymentValues)
	}
	none := *p
	none.Directory = &d
	none.People = map[string]*policies.Person{}
	return none.WithPeople(p.People)
}

// idpChange is what the panel's form posts: who, and what to change at
// the local Okta ("" leaves it; Manager "-" clears it).
type idpChange struct {
	Email      string `json:"email"`
	Manager    string `json:"manager"`
	Department string `json:"department"`
	Suspend    *bool  `json:"suspend"`
}

// idpChange changes a person at the local Okta, as an admin would in
// Okta's console: the bot sees it at its next sync.
func (s *Server) idpChange(w http.ResponseWriter, r *http.Request) {
	var c idpChange
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&c); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the request is not JSON the page sends"})
		return
	}
	who, ok := s.personByEmail(c.Email)
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Choose someone of the directory to change."})
		return
	}
	var mgrID string
	switch c.Manager {
	case "", "-":
	default:
		m, ok := s.personByEmail(c.Manager)
		if !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "The manager must be someone of the directory."})
			return
		}
		if m.Email == who.Email {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Nobody manages themselves: choose another manager."})
			return
		}
		mgrID = OktaID(m.Email)
	}
	c.Department = strings.TrimSpace(c.Department)
	if c.Manager == "" && c.Department == "" && c.Suspend == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Choose a new manager or type a department first."})
		return
	}
	var did []string
	s.w.Okta.UpdateUser(OktaID(who.Email), func(u *idpfake.User) {
		if c.Manager != "" {
			u.Manager = mgrID
			did = append(did, "manager "+orNone(c.Manager))
		}
		if c.Department != "" {
			u.Department = c.Department
			did = append(did, "department "+c.Department)
		}
		if c.Suspend != nil {
			u.Suspended = *c.Suspend
			did = append(did, map[bool]string{true: "suspended", false: "active"}[*c.Suspend])
		}
	})
	line := "Okta now has " + who.Name + ": " + strings.Join(did, ", ") + ". jitbot sees it at its next directory sync (Sync now, or on its schedule)."
	s.log.Info("changed at the local Okta", zap.String("email", who.Email), zap.Strings("what", did))
	s.setIdPStatus(line)
	s.answer(w, nil, map[string]any{"status": line})
}

func orNone(manager string) string {
	if manager == "-" {
		return "none"
	}
	return manager
}

// idpSync asks the bot's directory loop to sync now.
func (s *Server) idpSync(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Directory == nil || !s.cfg.Directory.SyncNow() {
		writeJSON(w, http.StatusConflict, map[string]string{"error": "jitbot's directory sync is not running here."})
		return
	}
	line := "Asked jitbot to sync the directory from Okta at " + s.w.Clock.Now().Format("15:04:05") + "; the table shows the result."
	s.setIdPStatus(line)
	s.answer(w, nil, map[string]any{"status": line})
}

func (s *Server) setIdPStatus(line string) {
	s.mu.Lock()
	s.idpStatus = line
	s.mu.Unlock()
	s.notify()
}

// personByEmail finds a person of the directory.
func (s *Server) personByEmail(email string) (Person, bool) {
	email = strings.ToLower(strings.TrimSpace(email))
	i := slices.IndexFunc(s.w.People, func(p Person) bool { return p.Email == email })
	if i < 0 {
		return Person{}, false
	}
	return s.w.People[i], true
}

// directoryShown is how many of the directory's latest audit events the
// panel lists.
const directoryShown = 10

// renderDirectory is the Directory panel: the people as the last sync saw
// them and who said each attribute, whether Okta has them suspended now,
// and the directory's audit events.
func (s *Server) renderDirectory(ctx context.Context) string {
	var b strings.Builder
	b.WriteString(`<h2 id="directory-title">Directory <span class="muted">(synced from the local Okta)</span></h2>`)
	if s.cfg.Directory == nil {
		b.WriteString(`<p class="muted">The bot's directory is not wired to this page.</p>`)
		return b.String()
	}
	var sources []string
	every := ""
	if d := s.cfg.Policy().Directory; d != nil {
		for _, src := range d.Sources {
			sources = append(sources, src.String())
		}
		every = " · syncs every " + policies.FormatDuration(d.SyncEvery)
	}
	people, at, err := s.cfg.Directory.Directory(ctx)
	if err != nil {
		s.log.Warn("directory panel", zap.Error(err))
		b.WriteString(`<p class="error">The synced directory could not be read.</p>`)
		return b.String()
	}
	synced := "not synced yet: the policy file's people are in force"
	if !at.IsZero() {
		synced = "last synced " + at.Format("Mon 2 Jan 15:04:05")
	}
	b.WriteString(`<p class="muted">Source: ` + esc(strings.Join(sources, ", ")) + esc(every) + ` · <span id="directory-synced">` + esc(synced) + `</span></p>`)
	s.mu.Lock()
	st := s.idpStatus
	s.mu.Unlock()
	if st != "" {
		b.WriteString(`<p class="review-status" role="status" id="idp-status">` + esc(st) + `</p>`)
	}
	if len(people) > 0 {
		b.WriteString(`<table class="accounts directory"><thead><tr><th scope="col">person</th><th scope="col">department</th><th scope="col">manager</th>` +
			`<th scope="col">employment</th><th scope="col">from</th></tr></thead><tbody>`)
		for _, p := range people {
			from := map[string]bool{}
			for _, v := range p.Sources {
				from[v] = true
			}
			// Okta's state now, beside what the sync saw: a suspension
			// alone changes no attribute the directory keeps.
			now := ""
			if u, ok := s.w.Okta.User(p.Email); !ok {
				now = ` <span class="idp-state">gone from Okta</span>`
			} else if u.Suspended {
				now = ` <span class="idp-state">suspended at Okta</span>`
			}
			b.WriteString(`<tr data-email="` + esc(p.Email) + `"><td>` + esc(localPart(p.Email)) + now + `</td><td class="department">` + esc(p.Department) +
				`</td><td class="manager">` + esc(localPart(p.Manager)) + `</td><td>` + esc(p.Employment) + `</td><td>` +
				esc(strings.Join(slices.Sorted(maps.Keys(from)), ", ")) + `</td></tr>`)
		}
		b.WriteString(`</tbody></table>`)
	}
	if len(s.w.oktaGroups) > 0 {
		b.WriteString(`<h3>Okta groups</h3><ul class="groups">`)
		for _, g := range s.w.oktaGroups {
			b.WriteString(groupItem("data-okta-group", g.name, s.w.Okta.Members(g.id), nil))
		}
		b.WriteString(`</ul>`)
	}
	events, _, err := lastEvents(ctx, s.cfg.Audit, directoryShown, func(e *approvals.Event) bool {
		return strings.HasPrefix(e.Action, "directory.")
	})
	if err != nil {
		s.log.Warn("directory panel", zap.Error(err))
		b.WriteString(`<p class="error">The directory's audit events could not be read.</p>`)
		return b.String()
	}
	b.WriteString(`<h3>What the syncs did</h3><ol class="audit directory-events" reversed>`)
	if len(events) == 0 {
		b.WriteString(`<li class="muted">nothing yet</li>`)
	}
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		if e.Action == directory.ActionChanged {
			b.WriteString(`<li data-action="` + esc(e.Action) + `"><time>` + esc(e.Time.Format("Mon 15:04:05")) + `</time> <code>` + esc(e.Action) +
				`</code> ` + esc(localPart(e.Subject)) + `'s ` + esc(e.Data["field"]) + `: ` + esc(orDash(e.Data["old"])) + ` → ` + esc(orDash(e.Data["new"])))
			if src := e.Data["source"]; src != "" {
				b.WriteString(` <span class="muted">(from ` + esc(src) + `)</span>`)
			}
			b.WriteString(`</li>`)
			continue
		}
		if e.Action == directory.ActionSynced && e.Reason == "" {
			e.Reason = e.Data["people"] + " people, " + e.Data["changes"] + " changes, " + e.Data["problems"] + " problems"
		}
		b.WriteString(auditItem(e))
	}
	b.WriteString(`</ol>`)
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// departments lists the directory's departments, for the form's
// suggestions.
func (w *World) departments() []string {
	set := map[string]bool{}
	for _, p := range w.People {
		if p.Department != "" {
			set[p.Department] = true
		}
	}
	out := slices.Collect(maps.Keys(set))
	sort.Strings(out)
	return out
}

// people is the switcher's people as the bot's last directory sync has
// them: a department, manager or employment changed at Okta shows in
// their labels, and so does who manages whom, once the bot has synced it.
// Before the first sync (or without a directory) they are the policy's.
func (s *Server) people(ctx context.Context) []Person {
	if s.cfg.Directory == nil {
		return s.w.People
	}
	dir, at, err := s.cfg.Directory.Directory(ctx)
	if err != nil || at.IsZero() {
		return s.w.People
	}
	synced := make(map[string]directory.Person, len(dir))
	for _, p := range dir {
		synced[p.Email] = p
	}
	out := slices.Clone(s.w.People)
	for i, per := range out {
		if p, ok := synced[per.Email]; ok {
			out[i].Department, out[i].Manager, out[i].Employment = p.Department, p.Manager, p.Employment
		}
	}
	setManagerRoles(out)
	return out
}
