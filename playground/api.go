package playground

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/localslack"
	"go.uber.org/zap"
)

// The page's API: commands, clicks, submissions, the clock, review runs, files and the audit export.

// post is what the page's script sends.
type post struct {
	As      string                       `json:"as"`
	Channel string                       `json:"channel"`
	TS      string                       `json:"ts"`
	View    string                       `json:"view"`
	Action  string                       `json:"action"`
	Option  string                       `json:"option"`
	Text    string                       `json:"text"`
	Values  map[string]map[string]string `json:"values"`
	Skip    string                       `json:"skip"`
	Running *bool                        `json:"running"`
	Rule    string                       `json:"rule"`
}

func (s *Server) readPost(w http.ResponseWriter, r *http.Request) (*post, bool) {
	var p post
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&p); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the request is not JSON the page sends"})
		return nil, false
	}
	if p.As != "" {
		if _, ok := s.w.Person(p.As); !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "nobody in the directory has that Slack id"})
			return nil, false
		}
	}
	return &p, true
}

// answer replies to a post: ok, or the emulator's error as a sentence.
func (s *Server) answer(w http.ResponseWriter, err error, extra map[string]any) {
	if err != nil {
		msg := err.Error()
		if errors.Is(err, localslack.ErrNoAck) || errors.Is(err, localslack.ErrNoConnection) {
			msg = "jitbot did not answer in time (Slack gives an app 3 seconds); it may still be starting"
		}
		writeJSON(w, http.StatusConflict, map[string]string{"error": strings.TrimPrefix(msg, "localslack: ")})
		return
	}
	if extra == nil {
		extra = map[string]any{}
	}
	extra["ok"] = true
	writeJSON(w, http.StatusOK, extra)
}

// command sends a slash command as Slack does: the text escaped (&, <,
// >) and, as the app's manifest asks (should_escape), @handles and
// #channels turned into <@U…|handle> and <#C…|channel>.
func (s *Server) command(w http.ResponseWriter, r *http.Request) {
	p, ok := s.readPost(w, r)
	if !ok {
		return
	}
	text := strings.TrimSpace(p.Text)
	if !strings.HasPrefix(text, "/") {
		if p.Channel != s.w.Slack.DMChannel(p.As) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "The playground sends slash commands here: try /access help."})
			return
		}
		_, err := s.w.Slack.DirectMessage(p.As, text)
		s.answer(w, err, nil)
		return
	}
	cmd, args, _ := strings.Cut(text, " ")
	if cmd != "/access" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": cmd + " is not a command of this workspace: jitbot's is /access."})
		return
	}
	ch := p.Channel
	if ch == "home" || ch == "" {
		ch = s.w.Slack.DMChannel(p.As)
	}
	_, err := s.w.Slack.SlashCommand(p.As, ch, cmd, s.escapeCommand(strings.TrimSpace(args)))
	s.answer(w, err, nil)
}

// escapeCommand does to slash command text what Slack does.
func (s *Server) escapeCommand(text string) string {
	text = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(text)
	words := strings.Split(text, " ")
	for i, wd := range words {
		switch {
		case strings.HasPrefix(wd, "@"):
			for _, per := range s.w.People {
				if strings.EqualFold(per.Name, wd[1:]) {
					words[i] = "<@" + per.SlackID + "|" + per.Name + ">"
				}
			}
		case strings.HasPrefix(wd, "#"):
			for _, c := range s.w.Slack.Channels() {
				if c.Name == wd[1:] {
					words[i] = "<#" + c.ID + "|" + c.Name + ">"
				}
			}
		}
	}
	return strings.Join(words, " ")
}

// action sends the block_actions Slack sends for a click or a choice.
func (s *Server) action(w http.ResponseWriter, r *http.Request) {
	p, ok := s.readPost(w, r)
	if !ok {
		return
	}
	a := localslack.BlockActionArgs{ChannelID: p.Channel, MessageTS: p.TS, ViewID: p.View, ActionID: p.Action, SelectedOption: p.Option}
	if p.View != "" && p.Values != nil {
		a.State = s.values(p.View, p.As, p.Values)
	}
	_, err := s.w.Slack.BlockAction(p.As, a)
	s.answer(w, err, nil)
}

// values turns what the page's form holds into the emulator's Values,
// leaving out what the person left empty (Slack sends no value for an
// empty input).
func (s *Server) values(viewID, user string, in map[string]map[string]string) localslack.Values {
	out := localslack.Values{}
	for bid, acts := range in {
		for aid, v := range acts {
			if v == "" {
				continue
			}
			if out[bid] == nil {
				out[bid] = map[string]any{}
			}
			out[bid][aid] = v
		}
	}
	return out
}

// submit submits a modal. Required inputs the person left empty are
// answered here, as Slack's client does before anything is sent; the
// app's errors are kept with what was typed, and shown.
func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	p, ok := s.readPost(w, r)
	if !ok {
		return
	}
	typed := map[string]string{}
	for bid, acts := range p.Values {
		for aid, v := range acts {
			typed[bid+"/"+aid] = v
		}
	}
	ack, err := s.w.Slack.ViewSubmission(p.As, p.View, s.values(p.View, p.As, p.Values))
	if err != nil {
		s.answer(w, err, nil)
		return
	}
	s.mu.Lock()
	if errs := ack.Errors(); ack.ResponseAction() == "errors" && len(errs) > 0 {
		f := s.forms[p.View]
		if f == nil {
			f = &form{}
			s.forms[p.View] = f
		}
		f.values, f.errors = typed, errs
		f.n++
	} else {
		delete(s.forms, p.View)
	}
	s.mu.Unlock()
	s.answer(w, nil, map[string]any{"errors": ack.Errors()})
}

func (s *Server) closeView(w http.ResponseWriter, r *http.Request) {
	p, ok := s.readPost(w, r)
	if !ok {
		return
	}
	_, err := s.w.Slack.ViewClosed(p.As, p.View)
	s.mu.Lock()
	delete(s.forms, p.View)
	s.mu.Unlock()
	s.answer(w, err, nil)
}

// home tells the bot the person opened its App Home.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	p, ok := s.readPost(w, r)
	if !ok {
		return
	}
	_, err := s.w.Slack.AppHomeOpened(p.As)
	s.answer(w, err, nil)
}

// clock skips the simulated time ahead, or pauses and resumes it.
func (s *Server) clock(w http.ResponseWriter, r *http.Request) {
	p, ok := s.readPost(w, r)
	if !ok {
		return
	}
	if p.Running != nil {
		s.w.Clock.SetRunning(*p.Running)
	}
	if p.Skip != "" {
		d, err := time.ParseDuration(p.Skip)
		if err != nil || d <= 0 || d > 366*day {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "skip takes a duration such as 15m, 1h or 24h"})
			return
		}
		s.w.Clock.Skip(d)
		s.log.Info("clock skipped", zap.Duration("by", d), zap.Time("now", s.w.Clock.Now()))
	}
	s.answer(w, nil, map[string]any{"now": s.w.Clock.Now().Format(timeLayout)})
}

// review runs a review rule now, in the background: the page shows its
// progress, then what it found.
func (s *Server) review(w http.ResponseWriter, r *http.Request) {
	p, ok := s.readPost(w, r)
	if !ok {
		return
	}
	if s.cfg.Reviews == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "reviews are not wired"})
		return
	}
	s.mu.Lock()
	if strings.HasSuffix(s.reviews[p.Rule], "…") {
		s.mu.Unlock()
		writeJSON(w, http.StatusConflict, map[string]string{"error": "that review is already running"})
		return
	}
	s.reviews[p.Rule] = "Syncing activity from Atlassian, then running…"
	s.mu.Unlock()
	s.notify()
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		line, err := s.cfg.Reviews.RunNow(s.ctx, p.Rule)
		if err != nil {
			line = "The run failed: " + err.Error()
			s.log.Warn("review run from the page", zap.String("rule", p.Rule), zap.Error(err))
		}
		s.mu.Lock()
		s.reviews[p.Rule] = line
		s.mu.Unlock()
		s.notify()
	}()
	s.answer(w, nil, nil)
}

// file serves an uploaded file's bytes.
func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	f, ok := s.w.Slack.File(r.PathValue("id"))
	if !ok || !f.Completed {
		http.NotFound(w, r)
		return
	}
	ct := "application/octet-stream"
	switch strings.ToLower(fileExt(f.Name)) {
	case "png":
		ct = "image/png"
	case "csv":
		ct = "text/csv; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	_, _ = w.Write(f.Bytes)
}

// export streams the audit trail as jitbot audit export does.
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	ct, ext := "application/jsonl; charset=utf-8", "jsonl"
	switch format {
	case "", "jsonl":
		format = "jsonl"
	case "csv":
		ct, ext = "text/csv; charset=utf-8", "csv"
	default:
		http.Error(w, "format is jsonl or csv", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", `attachment; filename="jitbot-audit.`+ext+`"`)
	if _, err := audit.Export(r.Context(), s.cfg.Audit, w, format, time.Time{}, time.Time{}); err != nil {
		s.log.Warn("audit export", zap.Error(err))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
