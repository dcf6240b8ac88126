package playground

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jitbot/jitbot/policies"
	"go.uber.org/zap"
)

//go:embed assets
var assets embed.FS

// Reviewer runs a licence review rule now, for the page's buttons: an
// activity sync, then the run. It returns a line saying what the run
// found.
type Reviewer interface {
	RunNow(ctx context.Context, rule string) (string, error)
}

// Config wires the page.
type Config struct {
	World *World
	// Policy is the policy in force (read at every page), for the review
	// rules' schedules.
	Policy func() *policies.Policy
	// Audit is the audit trail the panel shows and exports.
	Audit audit.Source
	// Reviews runs review rules when asked; nil hides the buttons.
	Reviews Reviewer
	// Directory is the bot's synced directory, for the Directory panel
	// (directory.go); nil leaves the panel empty.
	Directory Directory
	Log       *zap.Logger
}

// Server is the playground's page: the local Slack as a person of the
// directory sees it, the simulated clock's buttons, and panels showing the
// local Atlassian, the licence reviews and the audit trail.
type Server struct {
	cfg  Config
	w    *World
	log  *zap.Logger
	page *template.Template
	mux  *http.ServeMux
	ctx  context.Context // background work (review runs) ends with it
	stop context.CancelFunc

	mu      sync.Mutex
	seen    map[string]string // user/channel → what the user last saw there
	forms   map[string]*form  // view id → what was typed, and the app's errors
	reviews map[string]string // rule → what its last run from the page did
	// idpStatus says what the Directory panel last did (directory.go).
	idpStatus string
	changed   chan struct{}
	bg        sync.WaitGroup
}

// form is what a person submitted in a modal the app answered with
// errors: the values are shown again with the errors beside them.
type form struct {
	values map[string]string
	errors map[string]string
	n      int
}

// NewServer builds the page. Close ends the background work it started.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	page, err := template.ParseFS(assets, "assets/page.html")
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, w: cfg.World, log: cfg.Log, page: page, ctx: ctx, stop: stop,
		seen: map[string]string{}, forms: map[string]*form{}, reviews: map[string]string{}, changed: make(chan struct{})}
	static, _ := fs.Sub(assets, "assets")
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /{$}", s.index)
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /api/parts", s.parts)
	s.mux.HandleFunc("GET /api/events", s.events)
	s.mux.HandleFunc("POST /api/command", s.command)
	s.mux.HandleFunc("POST /api/action", s.action)
	s.mux.HandleFunc("POST /api/submit", s.submit)
	s.mux.HandleFunc("POST /api/close", s.closeView)
	s.mux.HandleFunc("POST /api/home", s.home)
	s.mux.HandleFunc("POST /api/clock", s.clock)
	s.mux.HandleFunc("POST /api/review", s.review)
	s.mux.HandleFunc("POST /api/idp", s.idpChange)    // directory.go
	s.mux.HandleFunc("POST /api/idp/sync", s.idpSync) // directory.go
	s.mux.HandleFunc("GET /files/{id}", s.file)
	s.mux.HandleFunc("GET /audit/export", s.export)
	s.mux.HandleFunc("GET /evidence/pack.zip", s.evidencePack) // evidence.go
	return s, nil
}

// Close stops the review runs the page started and waits for them.
func (s *Server) Close() {
	s.stop()
	s.bg.Wait()
}

// ServeHTTP serves the page. Only loopback names are accepted as Host, so
// that a web site cannot reach the playground through DNS rebinding, and
// every POST must carry the X-Playground header, which a cross-site form
// cannot send.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if ip := net.ParseIP(host); !(host == "localhost" || ip != nil && ip.IsLoopback()) {
		http.Error(w, "the playground answers on 127.0.0.1 and localhost only", http.StatusMisdirectedRequest)
		return
	}
	if r.Method == http.MethodPost && r.Header.Get("X-Playground") != "1" {
		http.Error(w, "missing X-Playground header", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

// notify wakes the pages for a change the fakes do not see (a review run
// starting or ending).
func (s *Server) notify() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// viewer is who the page shows and where.
type viewer struct {
	user    Person
	channel string // a channel id, the DM's id, or "home"
}

// viewerOf reads ?as= (a Slack id) and ?c= (a channel), defaulting to the
// first person and their DM with jitbot.
func (s *Server) viewerOf(as, c string) viewer {
	p, ok := s.w.Person(as)
	if !ok {
		p = s.w.People[0]
		for _, q := range s.w.People { // the example's requester, when there is one
			if q.Manager != "" {
				p = q
				break
			}
		}
	}
	if c == "" {
		c = s.w.Slack.DMChannel(p.SlackID)
	}
	return viewer{user: p, channel: c}
}

// Page data for the template.
type pageData struct {
	As, Channel string
	People      []Person
	Parts       map[string]template.HTML
	ModalKey    string
	Skips       []skip
	Departments []string // the Directory panel's suggestions
}

type skip struct{ Label, Value string }

var skips = []skip{{"+15 min", "15m"}, {"+1 hour", "1h"}, {"+1 day", "24h"}, {"+1 week", "168h"}}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	v := s.viewerOf(r.URL.Query().Get("as"), r.URL.Query().Get("c"))
	parts, key := s.render(r.Context(), v)
	html := map[string]template.HTML{}
	for k, p := range parts {
		html[k] = template.HTML(p) // rendered by render.go/mrkdwn.go, every text escaped
	}
	var buf bytes.Buffer
	if err := s.page.Execute(&buf, pageData{As: v.user.SlackID, Channel: v.channel, People: s.people(r.Context()), Parts: html,
		ModalKey: key, Skips: skips, Departments: s.w.departments()}); err != nil {
		s.log.Error("page", zap.Error(err))
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// parts answers the page's parts as HTML, for the script to swap in.
func (s *Server) parts(w http.ResponseWriter, r *http.Request) {
	v := s.viewerOf(r.URL.Query().Get("as"), r.URL.Query().Get("c"))
	parts, key := s.render(r.Context(), v)
	writeJSON(w, http.StatusOK, map[string]any{"parts": parts, "modalKey": key, "as": v.user.SlackID, "channel": v.channel})
}

// events tells the page, as server-sent events, when anything it shows
// may have changed: the local Slack's state, the clock, a review run, and
// once a second for the clock's display, the Atlassian panel and the
// audit trail.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		s.mu.Lock()
		mine := s.changed
		s.mu.Unlock()
		slackCh, clockCh := s.w.Slack.Changed(), s.w.Clock.Changed()
		if _, err := fmt.Fprint(w, "data: change\n\n"); err != nil {
			return
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		case <-slackCh:
			// Let a burst of changes settle into one refresh.
			time.Sleep(40 * time.Millisecond)
		case <-clockCh:
		case <-mine:
		case <-t.C:
		}
	}
}

// render renders every part of the page for v.
func (s *Server) render(ctx context.Context, v viewer) (map[string]string, string) {
	main := s.renderMain(v) // before the sidebar: it marks what was seen
	modal, key := s.renderModal(v)
	return map[string]string{
		"clock":     s.renderClock(),
		"sidebar":   s.renderSidebar(v),
		"main":      main,
		"modal":     modal,
		"atlassian": s.renderAtlassian(),
		"review":    s.renderReview() + s.renderCertifications(), // certify.go
		"audit":     s.renderAudit(ctx),
		"directory": s.renderDirectory(ctx), // directory.go
	}, key
}

const timeLayout = "Mon 2 Jan 2006 15:04:05 MST"

func (s *Server) renderClock() string {
	c := s.w.Clock
	state, button := "running at real speed", "Pause"
	if !c.Running() {
		state, button = "paused", "Resume"
	}
	return `<span class="sim-label">Simulated time</span> <time id="now">` + esc(c.Now().Format(timeLayout)) + `</time> <span class="sim-state">` +
		esc(state) + `</span> <button type="button" class="btn small" id="clock-toggle" data-act="clock-run" data-on="` +
		strconv.FormatBool(!c.Running()) + `">` + button + `</button>`
}

// names resolves mentions for rendering.
type names struct{ w *World }

func (n names) UserName(id string) string {
	if p, ok := n.w.Person(id); ok {
		return p.Name
	}
	return id
}

func (n names) ChannelName(id string) string {
	for _, c := range n.w.Slack.Channels() {
		if c.ID == id {
			return c.Name
		}
	}
	return id
}

// fingerprint sums up what a person can see in a channel, to mark it new
// in the sidebar until they look.
func (s *Server) fingerprint(v viewer, channel string) string {
	if channel == "home" {
		if h, ok := s.w.Slack.Home(v.user.SlackID); ok {
			return strconv.Itoa(h.Versions)
		}
		return ""
	}
	n := 0
	for _, m := range s.w.Slack.Messages(channel) {
		n += 1 + len(m.Edits)
	}
	for _, e := range s.w.Slack.Ephemerals(v.user.SlackID) {
		if e.Channel == channel {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func (s *Server) renderSidebar(v viewer) string {
	var b strings.Builder
	item := func(id, label, icon string) {
		fp := s.fingerprint(v, id)
		s.mu.Lock()
		isNew := fp != "" && s.seen[v.user.SlackID+"/"+id] != fp
		s.mu.Unlock()
		cur := ""
		if id == v.channel {
			cur = ` aria-current="page"`
			isNew = false
		}
		b.WriteString(`<li><button type="button" class="nav" data-act="channel" data-c="` + esc(id) + `"` + cur + ` id="nav-` + esc(id) + `">` +
			`<span class="icon" aria-hidden="true">` + icon + `</span>` + esc(label))
		if isNew {
			b.WriteString(` <span class="new" title="new">new</span>`)
		}
		b.WriteString(`</button></li>`)
	}
	b.WriteString(`<h2 class="side-title">jitbot</h2><ul>`)
	item("home", "Home", "⌂")
	item(s.w.Slack.DMChannel(v.user.SlackID), "Messages", "✉")
	b.WriteString(`</ul><h2 class="side-title">Channels</h2><ul>`)
	for _, c := range s.w.Slack.Channels() {
		item(c.ID, c.Name, "#")
	}
	b.WriteString(`</ul>`)
	return b.String()
}

// entry is a message or an ephemeral reply, in the order they came.
type entry struct {
	at        time.Time
	ts        string
	msg       *localslack.Message
	ephemeral *localslack.Ephemeral
}

func (s *Server) renderMain(v viewer) string {
	var b strings.Builder
	uid := v.user.SlackID
	defer func() {
		s.mu.Lock()
		s.seen[uid+"/"+v.channel] = s.fingerprint(v, v.channel)
		s.mu.Unlock()
	}()
	if v.channel == "home" {
		b.WriteString(`<h2 class="main-title">Home <span class="muted">· jitbot's App Home for ` + esc(v.user.Name) + `</span></h2>`)
		h, ok := s.w.Slack.Home(uid)
		if !ok {
			b.WriteString(`<p class="muted">Opening App Home…</p>`)
			return b.String()
		}
		r := renderer{names: names{s.w}, at: target{view: h.ID}}
		b.WriteString(`<div class="home">` + r.blocks(h.Blocks) + `</div>`)
		return b.String()
	}
	title, dm := "#"+names{s.w}.ChannelName(v.channel), v.channel == s.w.Slack.DMChannel(uid)
	if dm {
		title = "jitbot"
	}
	b.WriteString(`<h2 class="main-title">` + esc(title))
	if dm {
		b.WriteString(` <span class="muted">· your messages with the bot</span>`)
	}
	b.WriteString(`</h2><ol class="messages" aria-live="polite">`)
	msgs := s.w.Slack.Messages(v.channel)
	var entries []entry
	replies := map[string][]*localslack.Message{}
	for i := range msgs {
		m := &msgs[i]
		if m.ThreadTS != "" && m.ThreadTS != m.TS {
			replies[m.ThreadTS] = append(replies[m.ThreadTS], m)
			continue
		}
		entries = append(entries, entry{at: m.PostedAt, ts: m.TS, msg: m})
	}
	eph := s.w.Slack.Ephemerals(uid)
	for i := range eph {
		if e := &eph[i]; e.Channel == v.channel {
			entries = append(entries, entry{at: e.At, ts: e.TS, ephemeral: e})
		}
	}
	sort.SliceStable(entries, func(i, j int) bool {
		if !entries[i].at.Equal(entries[j].at) {
			return entries[i].at.Before(entries[j].at)
		}
		return tsSeq(entries[i].ts) < tsSeq(entries[j].ts)
	})
	if len(entries) == 0 {
		hint := "Nothing here yet."
		if dm {
			hint = "Nothing here yet. Type /access below to ask for access, or /access help."
		}
		b.WriteString(`<li class="empty muted">` + esc(hint) + `</li>`)
	}
	for _, e := range entries {
		if e.ephemeral != nil {
			b.WriteString(s.renderEphemeral(e.ephemeral))
			continue
		}
		b.WriteString(`<li class="msg">` + s.renderMessage(e.msg))
		if rs := replies[e.msg.TS]; len(rs) > 0 {
			b.WriteString(`<ol class="thread" aria-label="replies">`)
			for _, rm := range rs {
				b.WriteString(`<li class="msg reply">` + s.renderMessage(rm) + `</li>`)
			}
			b.WriteString(`</ol>`)
		}
		b.WriteString(`</li>`)
	}
	b.WriteString(`</ol>`)
	return b.String()
}

// tsSeq is the sequence part of a message ts, which orders messages of
// one second.
func tsSeq(ts string) int {
	_, seq, _ := strings.Cut(ts, ".")
	n, _ := strconv.Atoi(seq)
	return n
}

func (s *Server) renderMessage(m *localslack.Message) string {
	var b strings.Builder
	b.WriteString(`<div class="meta"><b>jitbot</b> <span class="app">APP</span> <time>` + esc(m.PostedAt.Format("15:04")) + `</time>`)
	if len(m.Edits) > 0 {
		b.WriteString(` <span class="muted">(edited ` + esc(m.UpdatedAt.Format("15:04")) + `)</span>`)
	}
	b.WriteString(`</div>`)
	if len(m.Blocks) > 0 && string(m.Blocks) != "null" && string(m.Blocks) != "[]" {
		r := renderer{names: names{s.w}, at: target{channel: m.Channel, ts: m.TS}}
		b.WriteString(`<div class="blocks">` + r.blocks(m.Blocks) + `</div>`)
	} else if m.Text != "" {
		b.WriteString(`<div class="bk-text">` + mrkdwnHTML(m.Text, names{s.w}) + `</div>`)
	}
	for _, id := range m.Files {
		f, ok := s.w.Slack.File(id)
		if !ok {
			continue
		}
		b.WriteString(renderFile(f))
	}
	return b.String()
}

// renderFile shows an uploaded file: an image inline, a CSV as a preview
// of its first rows, each with a download link.
func renderFile(f localslack.File) string {
	url := "/files/" + f.ID
	title := f.Title
	if title == "" {
		title = f.Name
	}
	var b strings.Builder
	b.WriteString(`<figure class="file">`)
	switch ext := strings.ToLower(fileExt(f.Name)); ext {
	case "png", "jpg", "jpeg", "gif":
		alt := f.AltText
		if alt == "" {
			alt = title
		}
		b.WriteString(`<img src="` + esc(url) + `" alt="` + esc(alt) + `" loading="lazy">`)
	case "csv":
		lines := strings.SplitN(strings.TrimRight(string(f.Bytes), "\n"), "\n", 7)
		b.WriteString(`<pre class="csv">`)
		for i, l := range lines {
			if i == 6 {
				b.WriteString("…")
				break
			}
			b.WriteString(esc(l) + "\n")
		}
		b.WriteString(`</pre>`)
	}
	b.WriteString(`<figcaption>📎 <a href="` + esc(url) + `" download="` + esc(f.Name) + `">` + esc(title) + `</a> <span class="muted">(` +
		esc(sizeOf(len(f.Bytes))) + `)</span></figcaption></figure>`)
	return b.String()
}

func fileExt(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return ""
}

func sizeOf(n int) string {
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%.1f kB", float64(n)/1024)
}

func (s *Server) renderEphemeral(e *localslack.Ephemeral) string {
	var b strings.Builder
	b.WriteString(`<li class="msg ephemeral"><div class="meta"><b>jitbot</b> <span class="app">APP</span> <time>` + esc(e.At.Format("15:04")) +
		`</time> <span class="muted">· only visible to you</span></div>`)
	if len(e.Blocks) > 0 && string(e.Blocks) != "null" && string(e.Blocks) != "[]" {
		r := renderer{names: names{s.w}, at: target{channel: e.Channel, ts: e.TS}}
		b.WriteString(`<div class="blocks">` + r.blocks(e.Blocks) + `</div>`)
	} else {
		b.WriteString(`<div class="bk-text">` + mrkdwnHTML(e.Text, names{s.w}) + `</div>`)
	}
	b.WriteString(`</li>`)
	return b.String()
}

// renderModal renders the person's top modal, and a key that changes only
// when the modal does, so that the script leaves a form being filled in
// alone.
func (s *Server) renderModal(v viewer) (string, string) {
	stack := s.w.Slack.OpenViews(v.user.SlackID)
	if len(stack) == 0 {
		return "", ""
	}
	top := stack[len(stack)-1]
	var state struct {
		Title  obj `json:"title"`
		Submit obj `json:"submit"`
		Close  obj `json:"close"`
		State  struct {
			Values map[string]map[string]obj `json:"values"`
		} `json:"state"`
	}
	_ = json.Unmarshal(top.JSON, &state)
	values := map[string]string{}
	for bid, acts := range state.State.Values {
		for aid, val := range acts {
			switch {
			case val["value"] != nil:
				values[bid+"/"+aid], _ = val["value"].(string)
			case val["selected_option"] != nil:
				values[bid+"/"+aid] = str(objOf(val["selected_option"]), "value")
			case val["selected_date"] != nil:
				values[bid+"/"+aid], _ = val["selected_date"].(string)
			}
		}
	}
	s.mu.Lock()
	f := s.forms[top.ID]
	var errs map[string]string
	n := 0
	if f != nil {
		for k, v := range f.values {
			values[k] = v
		}
		errs, n = f.errors, f.n
	}
	s.mu.Unlock()
	r := renderer{names: names{s.w}, at: target{view: top.ID}, values: values, errors: errs}
	body := r.blocks(top.Blocks)
	title := plainText(state.Title)
	closeLabel := plainText(state.Close)
	if closeLabel == "" {
		closeLabel = "Close"
	}
	var b strings.Builder
	b.WriteString(`<dialog class="slack-modal" aria-labelledby="modal-title"><form class="modal" data-view="` + esc(top.ID) + `" novalidate>` +
		`<header><h2 id="modal-title">` + esc(title) + `</h2><span class="muted">jitbot</span></header><div class="modal-body">` + body + `</div><footer>` +
		`<button type="button" class="btn" data-act="close-modal" data-view="` + esc(top.ID) + `">` + esc(closeLabel) + `</button>`)
	if sub := plainText(state.Submit); sub != "" {
		b.WriteString(` <button type="submit" class="btn primary">` + esc(sub) + `</button>`)
	}
	b.WriteString(`</footer></form></dialog>`)
	return b.String(), fmt.Sprintf("%s/%s/%d", top.ID, top.Hash, n)
}
