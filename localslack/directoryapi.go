package localslack

import (
	"slices"
	"strings"
)

// The Web API's conversations, users, user groups and team methods.

func (s *Server) conversationsOpen(q *request) map[string]any {
	if arg := q.str("channel"); arg != "" {
		ch, ok := s.resolveChannelLocked(arg)
		if !ok {
			return fail("channel_not_found")
		}
		return map[string]any{"no_op": true, "already_open": true, "channel": map[string]any{"id": ch}}
	}
	var ids []string
	for _, id := range strings.Split(q.str("users"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return fail("users_list_not_supplied")
	}
	for _, id := range ids {
		if _, ok := s.users[id]; !ok {
			return fail("user_not_found")
		}
	}
	if len(ids) > 8 {
		return fail("too_many_users")
	}
	if len(ids) == 1 {
		_, existed := s.channels[s.DMChannel(ids[0])]
		dm, _ := s.openDMLocked(ids[0])
		ch := map[string]any{"id": dm}
		if q.flag("return_im") {
			ch = map[string]any{"id": dm, "is_im": true, "user": ids[0], "created": s.now().Unix(), "is_open": true}
		}
		return map[string]any{"no_op": existed, "already_open": existed, "channel": ch}
	}
	sorted := slices.Sorted(slices.Values(ids))
	id := "G" + strings.Join(sorted, "")
	_, existed := s.channels[id]
	if !existed {
		s.channels[id] = &channel{id: id, name: "mpdm-" + strings.Join(sorted, "--") + "-1"}
		s.chanOrder = append(s.chanOrder, id)
	}
	return map[string]any{"no_op": existed, "already_open": existed, "channel": map[string]any{"id": id}}
}

func (s *Server) conversationsInfo(q *request) map[string]any {
	ch, ok := s.resolveChannelLocked(q.str("channel"))
	if !ok {
		return fail("channel_not_found")
	}
	c := s.channels[ch]
	out := map[string]any{"id": c.id, "name": c.name, "is_channel": c.dmUser == "" && !strings.HasPrefix(c.id, "G"),
		"is_im": c.dmUser != "", "is_mpim": strings.HasPrefix(c.id, "G"), "is_private": false, "is_archived": false, "created": 0}
	if c.dmUser != "" {
		out["user"] = c.dmUser
	}
	return map[string]any{"channel": out}
}

func (s *Server) userJSONLocked(u *User) map[string]any {
	profile := map[string]any{
		"real_name":               u.RealName,
		"real_name_normalized":    u.RealName,
		"display_name":            u.DisplayName,
		"display_name_normalized": u.DisplayName,
		"title":                   u.Title,
		"team":                    s.opts.TeamID,
		"image_48":                "",
	}
	if s.scopes["users:read.email"] && u.Email != "" {
		profile["email"] = u.Email
	}
	if u.IsBot {
		profile["bot_id"] = s.opts.BotID
	}
	team := s.opts.TeamID
	if u.TeamID != "" {
		team = u.TeamID
	}
	return map[string]any{
		"id": u.ID, "team_id": team, "name": u.Name, "deleted": u.Deleted, "is_stranger": u.IsStranger,
		"real_name": u.RealName, "tz": u.TZ, "tz_label": u.TZ, "tz_offset": u.TZOffset,
		"is_bot": u.IsBot, "is_admin": u.IsAdmin, "is_owner": false, "is_primary_owner": false,
		"is_restricted": u.IsRestricted, "is_ultra_restricted": u.IsUltraRestricted,
		"is_app_user": false, "updated": 0, "profile": profile,
	}
}

func (s *Server) usersInfo(q *request) map[string]any {
	u, ok := s.users[q.str("user")]
	if !ok {
		return fail("user_not_found")
	}
	return map[string]any{"user": s.userJSONLocked(u)}
}

func (s *Server) usersList(*request) map[string]any {
	members := []any{}
	for _, id := range s.userOrder {
		members = append(members, s.userJSONLocked(s.users[id]))
	}
	return map[string]any{"members": members, "response_metadata": map[string]any{"next_cursor": ""}}
}

func (s *Server) usersLookupByEmail(q *request) map[string]any {
	email := q.str("email")
	for _, id := range s.userOrder {
		if u := s.users[id]; u.Email != "" && strings.EqualFold(u.Email, email) {
			return map[string]any{"user": s.userJSONLocked(u)}
		}
	}
	return fail("users_not_found")
}

func (s *Server) usergroupsList(q *request) map[string]any {
	groups := []any{}
	for _, id := range s.groupOrder {
		g := s.groups[id]
		out := map[string]any{
			"id": g.id, "team_id": s.opts.TeamID, "is_usergroup": true, "name": g.handle, "handle": g.handle,
			"description": "", "is_external": false, "date_create": 0, "date_update": 0, "date_delete": 0,
			"auto_type": nil, "created_by": "", "updated_by": "", "deleted_by": nil,
			"prefs": map[string]any{"channels": []string{}, "groups": []string{}}, "user_count": len(g.users),
		}
		if q.flag("include_users") {
			out["users"] = slices.Clone(g.users)
		}
		groups = append(groups, out)
	}
	return map[string]any{"usergroups": groups}
}

func (s *Server) usergroupsUsersList(q *request) map[string]any {
	g, ok := s.groups[q.str("usergroup")]
	if !ok {
		return fail("no_such_subteam")
	}
	users := slices.Clone(g.users)
	if users == nil {
		users = []string{}
	}
	return map[string]any{"users": users}
}

func (s *Server) teamInfo(*request) map[string]any {
	return map[string]any{"team": map[string]any{
		"id": s.opts.TeamID, "name": s.opts.TeamDomain, "domain": s.opts.TeamDomain,
		"email_domain": "", "icon": map[string]any{"image_default": true},
	}}
}
