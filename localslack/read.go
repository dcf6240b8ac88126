package localslack

import (
	"fmt"
	"slices"
	"time"
)

// What a test or the playground reads of the local Slack: messages, ephemerals, views, calls, violations, acks, channels and users.

// Messages returns the current state of the messages in a channel (id or
// name), oldest first, deleted ones left out.
func (s *Server) Messages(channelID string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.resolveChannelLocked(channelID); ok {
		channelID = id
	}
	var out []Message
	for _, m := range s.messages[channelID] {
		if !m.Deleted {
			out = append(out, copyMessage(m))
		}
	}
	return out
}

// Message returns one message by channel and ts, deleted or not.
func (s *Server) Message(channelID, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findMessageLocked(channelID, ts)
	if m == nil {
		return Message{}, false
	}
	return copyMessage(m), true
}

// DMsTo returns the current state of the messages in the bot's DM with
// userID.
func (s *Server) DMsTo(userID string) []Message { return s.Messages(s.DMChannel(userID)) }

// Ephemerals returns the ephemeral messages shown to userID, oldest first.
func (s *Server) Ephemerals(userID string) []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Ephemeral
	for _, e := range s.ephemerals {
		if e.User == userID && !e.Deleted {
			c := *e
			c.Blocks = slices.Clone(e.Blocks)
			out = append(out, c)
		}
	}
	return out
}

// LastView returns the modal userID saw most recently (opened, pushed or
// updated), open or not.
func (s *Server) LastView(userID string) (View, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.lastModal[userID]
	if !ok {
		return View{}, false
	}
	return s.exportViewLocked(s.views[id]), true
}

// OpenViews returns userID's open modal stack, root first.
func (s *Server) OpenViews(userID string) []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []View
	for _, id := range s.stacks[userID] {
		out = append(out, s.exportViewLocked(s.views[id]))
	}
	return out
}

// Home returns the App Home view published for userID.
func (s *Server) Home(userID string) (View, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.homes[userID]
	if !ok {
		return View{}, false
	}
	return s.exportViewLocked(s.views[id]), true
}

// ViewByID returns a view by id.
func (s *Server) ViewByID(id string) (View, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.views[id]
	if !ok {
		return View{}, false
	}
	return s.exportViewLocked(v), true
}

// Calls returns the recorded calls of method, or of every method when
// method is "".
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Violations returns every recorded violation, oldest first.
func (s *Server) Violations() []Violation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// Acks returns every Socket Mode ack received, in arrival order.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.acks)
}

// NewTriggerID mints a trigger_id for userID, as a user interaction would.
func (s *Server) NewTriggerID(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newTriggerLocked(userID)
}

func (s *Server) newTriggerLocked(userID string) string {
	s.seq++
	id := fmt.Sprintf("%d.%d.%s", 800000000000+s.seq, 4158371226881, s.randHexLocked(32))
	s.triggers[id] = &trigger{user: userID, issued: s.now()}
	return id
}

// useTriggerLocked consumes a trigger, answering Slack's error code on
// failure.
func (s *Server) useTriggerLocked(id string) (*trigger, string) {
	t, ok := s.triggers[id]
	if !ok || t.used {
		return nil, "invalid_trigger_id"
	}
	if s.now().Sub(t.issued) > s.opts.TriggerTTL {
		return nil, "expired_trigger_id"
	}
	t.used = true
	return t, ""
}

// WaitFor calls cond until it reports true or timeout passes, and reports
// whether it did. cond runs without the emulator's lock held, so it may
// call Messages, Calls and the like.
func (s *Server) WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-tick.C:
		case <-deadline.C:
			return cond()
		}
	}
}

// Changed returns a channel that is closed at the emulator's next state
// change (a message posted or edited, a view opened, a call answered…):
// take it, read the state, and wait on it for the next change.
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Channel is a public channel of the emulated workspace.
type Channel struct {
	ID   string
	Name string // without the #
}

// Channels returns the public channels (AddChannel), in the order they
// were added; DMs are left out.
func (s *Server) Channels() []Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Channel
	for _, id := range s.chanOrder {
		if c := s.channels[id]; c.dmUser == "" {
			out = append(out, Channel{ID: c.id, Name: c.name})
		}
	}
	return out
}

// Users returns the workspace's members, the bot included, in the order
// they were added.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.userOrder))
	for _, id := range s.userOrder {
		out = append(out, *s.users[id])
	}
	return out
}
