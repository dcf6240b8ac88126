package localslack

import (
	"slices"
	"strings"
)

// Setting up the local Slack's world (users, user groups, channels, DMs) and its faults (revoked tokens, scopes, rate limits, failures).

// AddUser adds or replaces a workspace member.
func (s *Server) AddUser(u User) {
	if u.ID == "" {
		s.tb.Errorf("localslack: AddUser without ID")
		return
	}
	if u.Name == "" {
		u.Name = u.ID
	}
	if u.TZ == "" {
		u.TZ = "UTC"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.ID]; !ok {
		s.userOrder = append(s.userOrder, u.ID)
	}
	s.users[u.ID] = &u
	s.notifyLocked()
}

// AddUserGroup adds or replaces a user group (subteam) with its members.
func (s *Server) AddUserGroup(id, handle string, memberIDs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[id]; !ok {
		s.groupOrder = append(s.groupOrder, id)
	}
	s.groups[id] = &userGroup{id: id, handle: handle, users: slices.Clone(memberIDs)}
	s.notifyLocked()
}

// SetUserGroupMembers replaces the members of an existing user group.
func (s *Server) SetUserGroupMembers(id string, memberIDs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.groups[id]; ok {
		g.users = slices.Clone(memberIDs)
	} else {
		s.tb.Errorf("localslack: SetUserGroupMembers: no user group %s", id)
	}
}

// AddChannel adds a public channel the bot can post to, e.g.
// AddChannel("C0IT", "it-access").
func (s *Server) AddChannel(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.channels[id]; !ok {
		s.chanOrder = append(s.chanOrder, id)
	}
	s.channels[id] = &channel{id: id, name: strings.TrimPrefix(name, "#")}
}

// DMChannel returns the id of the direct-message channel between the bot and
// userID ("D" followed by the user id without its first letter).
func (s *Server) DMChannel(userID string) string {
	if len(userID) < 2 {
		return "D" + userID
	}
	return "D" + userID[1:]
}

// openDMLocked returns the DM channel with a known user, creating it.
func (s *Server) openDMLocked(userID string) (string, bool) {
	if _, ok := s.users[userID]; !ok {
		return "", false
	}
	id := s.DMChannel(userID)
	if _, ok := s.channels[id]; !ok {
		s.channels[id] = &channel{id: id, name: userID, dmUser: userID}
		s.chanOrder = append(s.chanOrder, id)
	}
	return id, true
}

// resolveChannelLocked turns a channel argument (id, #name, name, user id or
// DM id) into a channel id.
func (s *Server) resolveChannelLocked(arg string) (string, bool) {
	if arg == "" {
		return "", false
	}
	if c, ok := s.channels[arg]; ok {
		return c.id, true
	}
	name := strings.TrimPrefix(arg, "#")
	for _, id := range s.chanOrder {
		if c := s.channels[id]; c.dmUser == "" && c.name == name {
			return id, true
		}
	}
	if _, ok := s.users[arg]; ok {
		return s.openDMLocked(arg)
	}
	if strings.HasPrefix(arg, "D") {
		for _, uid := range s.userOrder {
			if s.DMChannel(uid) == arg {
				return s.openDMLocked(uid)
			}
		}
	}
	return "", false
}

// RevokeBotToken makes every later call with the bot token answer
// token_revoked.
func (s *Server) RevokeBotToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[s.opts.BotToken] = true
}

// RevokeAppToken makes apps.connections.open answer token_revoked.
func (s *Server) RevokeAppToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[s.opts.AppToken] = true
}

// SetScopes replaces the bot token's scopes.
func (s *Server) SetScopes(scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scopes = map[string]bool{}
	for _, sc := range scopes {
		s.scopes[sc] = true
	}
}

// RateLimit answers the next n calls of method with HTTP 429, a Retry-After
// header of retryAfter seconds and {"ok":false,"error":"ratelimited"}.
// slack-go surfaces it as *slack.RateLimitedError.
func (s *Server) RateLimit(method string, n, retryAfter int) {
	s.setFault(method, &fault{remaining: n, status: 429, retryAfter: retryAfter, code: "ratelimited"})
}

// FailNext answers the next n calls of method with HTTP 200 and
// {"ok":false,"error":code}, e.g. "channel_not_found" or "fatal_error".
func (s *Server) FailNext(method string, n int, code string) {
	s.setFault(method, &fault{remaining: n, status: 200, code: code})
}

// ServerErrorNext answers the next n calls of method with an HTTP error
// status such as 500 or 503; slack-go surfaces it as slack.StatusCodeError.
func (s *Server) ServerErrorNext(method string, n, status int) {
	s.setFault(method, &fault{remaining: n, status: status, code: "internal_error"})
}

// setFault replaces any pending fault of method.
func (s *Server) setFault(method string, f *fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = f
}
