package bot

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jitbot/jitbot"
	"github.com/jonboulle/clockwork"
	"github.com/slack-go/slack"
)

// person is a Slack user as the bot knows them.
type person struct {
	userID string
	email  string // lower-cased profile email; "" when Slack gives none
	name   string // real name, else display name, else handle
	// refused says why this account may not act in jitbot (a bot, a
	// deactivated account, someone of another workspace); "" when it may.
	refused string
}

// identityCache maps Slack users to directory emails and back, DM
// channels, and user group members, each entry for a while.
type identityCache struct {
	byUser  *ttlMap[person]
	byEmail *ttlMap[string]   // email → user id
	dms     *ttlMap[string]   // user id → DM channel (kept: it never changes)
	groups  *ttlMap[[]string] // handle → members' emails
}

const (
	// identityTTL is short: a profile email decides who may approve, and
	// an account that changed its email or was deactivated must stop
	// acting as the old person soon.
	identityTTL = 5 * time.Minute
	groupTTL    = time.Minute
)

func newIdentityCache(clock clockwork.Clock) *identityCache {
	return &identityCache{byUser: newTTLMap[person](clock, identityTTL), byEmail: newTTLMap[string](clock, identityTTL),
		dms: newTTLMap[string](clock, 0), groups: newTTLMap[[]string](clock, groupTTL)}
}

// ttlMap is a map whose entries live for ttl (0: for ever) on clock.
type ttlMap[V any] struct {
	clock clockwork.Clock
	ttl   time.Duration
	mu    sync.Mutex
	m     map[string]cached[V]
}

type cached[V any] struct {
	v  V
	at time.Time
}

func newTTLMap[V any](clock clockwork.Clock, ttl time.Duration) *ttlMap[V] {
	return &ttlMap[V]{clock: clock, ttl: ttl, m: map[string]cached[V]{}}
}

func (c *ttlMap[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || (c.ttl > 0 && c.clock.Now().Sub(e.at) >= c.ttl) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *ttlMap[V]) put(key string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = cached[V]{v, c.clock.Now()}
}

func (c *ttlMap[V]) del(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}

// through returns the entry for key, or fetches, stores and returns it.
func (c *ttlMap[V]) through(key string, fetch func() (V, error)) (V, error) {
	if v, ok := c.get(key); ok {
		return v, nil
	}
	v, err := fetch()
	if err != nil {
		return v, err
	}
	c.put(key, v)
	return v, nil
}

// Reasons a Slack user cannot act in jitbot, shown to them as they are.
const (
	codeNoEmail        = "no_email"
	codeNotInDirectory = "not_in_directory"
	codeRefusedAccount = "refused_account"
	codeWrongAccount   = "wrong_account"
)

// errNoEmail is returned for a Slack user whose profile shows no email.
var errNoEmail = jitbot.Errorf(codeNoEmail, "Your Slack profile shows no email address, so jitbot cannot find you in its directory.")

// slackCall runs one Web API call through the gate; an error that is not
// a Later is wrapped with what was asked, for the log (never a token).
func (b *Bot) slackCall(ctx context.Context, method, what string, fn func(ctx context.Context) error) error {
	err := b.call(ctx, method, "", fn)
	if err == nil || isLater(err) {
		return err
	}
	return fmt.Errorf("%s %s: %s", method, what, slackErrorCode(err))
}

// personOf returns the Slack user userID with their email, from the cache
// or users.info.
func (b *Bot) personOf(ctx context.Context, userID string) (person, error) {
	return b.cache.byUser.through(userID, func() (person, error) {
		var u *slack.User
		err := b.slackCall(ctx, mUsersInfo, userID, func(ctx context.Context) error {
			var err error
			u, err = b.api.GetUserInfoContext(ctx, userID)
			return err
		})
		if err != nil {
			return person{}, err
		}
		p := person{userID: u.ID, email: strings.ToLower(strings.TrimSpace(u.Profile.Email)), name: u.RealName}
		switch {
		case u.Deleted:
			p.refused = "This Slack account is deactivated"
		case u.IsBot || u.ID == "USLACKBOT":
			p.refused = "Bots cannot act in jitbot"
		case u.IsStranger:
			p.refused = "This Slack account belongs to another organisation (Slack Connect)"
		case b.foreignTeam(u):
			p.refused = "This Slack account belongs to another workspace"
		}
		if p.name == "" {
			p.name = u.Profile.DisplayName
		}
		if p.name == "" {
			p.name = u.Name
		}
		if p.email != "" {
			b.cache.byEmail.put(p.email, u.ID)
		}
		return p, nil
	})
}

// foreignTeam reports whether u belongs to a workspace other than the
// bot's (as auth.test named it; unknown before Check).
func (b *Bot) foreignTeam(u *slack.User) bool {
	b.scopesMu.Lock()
	team, enterprise := b.team, b.enterprise
	b.scopesMu.Unlock()
	if team == "" || u.TeamID == "" || u.TeamID == team {
		return false
	}
	// On Enterprise Grid, users of sibling workspaces of the same
	// organisation carry the organisation's id.
	return enterprise == "" || u.Enterprise.EnterpriseID != enterprise
}

// emailOf returns the directory email of the Slack user, or an error
// saying why they cannot use jitbot. When the directory names the person's
// Slack account (slack_id), only that account is them: another account
// with the same profile email is refused.
func (b *Bot) emailOf(ctx context.Context, userID string) (string, error) {
	for fresh := false; ; fresh = true {
		p, err := b.personOf(ctx, userID)
		if err != nil {
			return "", err
		}
		if p.refused != "" {
			return "", jitbot.Errorf(codeRefusedAccount, "%s: jitbot only acts for people of its own workspace.", p.refused)
		}
		if p.email == "" {
			return "", errNoEmail
		}
		dir, ok := b.svc.Policy().Person(p.email)
		if !ok {
			return "", jitbot.Errorf(codeNotInDirectory, "%s is not in jitbot's directory; ask IT to add you to the policy file.", p.email)
		}
		if dir.SlackID == "" || dir.SlackID == userID {
			return p.email, nil
		}
		if fresh {
			return "", jitbot.Errorf(codeWrongAccount, "This Slack account is not the one jitbot's directory names for %s; ask IT.", dir.Email)
		}
		b.forget(userID) // the cached profile may be stale: ask Slack once more
	}
}

// forget drops a user from the identity cache.
func (b *Bot) forget(userID string) {
	if p, ok := b.cache.byUser.get(userID); ok {
		b.cache.byEmail.del(p.email)
	}
	b.cache.byUser.del(userID)
}

// userOf returns the Slack user id of a directory email: the directory's
// slack_id when it gives one, else users.lookupByEmail.
func (b *Bot) userOf(ctx context.Context, email string) (string, error) {
	email = strings.ToLower(email)
	if p, ok := b.svc.Policy().Person(email); ok && p.SlackID != "" {
		return p.SlackID, nil
	}
	return b.cache.byEmail.through(email, func() (string, error) {
		var u *slack.User
		err := b.slackCall(ctx, mLookupByEmail, email, func(ctx context.Context) error {
			var err error
			u, err = b.api.GetUserByEmailContext(ctx, email)
			return err
		})
		if err != nil {
			return "", err
		}
		return u.ID, nil
	})
}

// nameOf returns a display name for a directory email, or the email.
func (b *Bot) nameOf(ctx context.Context, email string) string {
	id, err := b.userOf(ctx, email)
	if err != nil {
		return email
	}
	p, err := b.personOf(ctx, id)
	if err != nil || p.name == "" {
		return email
	}
	return p.name
}

// dmChannel returns the DM channel with a user, opening it once.
func (b *Bot) dmChannel(ctx context.Context, userID string) (string, error) {
	return b.cache.dms.through(userID, func() (string, error) {
		var c *slack.Channel
		err := b.slackCall(ctx, mOpen, userID, func(ctx context.Context) error {
			var err error
			c, _, _, err = b.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{userID}})
			return err
		})
		if err != nil {
			return "", err
		}
		return c.ID, nil
	})
}

// GroupMembers resolves a Slack user group handle to its members' emails
// (policies.GroupResolver). Members without an email are skipped.
func (b *Bot) GroupMembers(ctx context.Context, handle string) ([]string, error) {
	handle = strings.TrimPrefix(handle, "@")
	return b.cache.groups.through(handle, func() ([]string, error) {
		var groups []slack.UserGroup
		if err := b.slackCall(ctx, mGroups, "", func(ctx context.Context) error {
			var err error
			groups, err = b.api.GetUserGroupsContext(ctx)
			return err
		}); err != nil {
			return nil, err
		}
		id := ""
		for _, g := range groups {
			if strings.EqualFold(g.Handle, handle) {
				id = g.ID
			}
		}
		if id == "" {
			return nil, fmt.Errorf("there is no Slack user group @%s", handle)
		}
		var users []string
		if err := b.slackCall(ctx, mGroupUsers, "@"+handle, func(ctx context.Context) error {
			var err error
			users, err = b.api.GetUserGroupMembersContext(ctx, id)
			return err
		}); err != nil {
			return nil, err
		}
		var emails []string
		for _, u := range users {
			p, err := b.personOf(ctx, u)
			if err != nil {
				return nil, err
			}
			if p.email != "" {
				emails = append(emails, p.email)
			}
		}
		return emails, nil
	})
}

// isIT reports whether email belongs to the IT group allowed to audit.
func (b *Bot) isIT(ctx context.Context, email string) (bool, error) {
	if b.cfg.ITGroup == "" {
		return false, nil
	}
	members, err := b.GroupMembers(ctx, b.cfg.ITGroup)
	if err != nil {
		return false, err
	}
	for _, m := range members {
		if m == email {
			return true, nil
		}
	}
	return false, nil
}
