package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// person is a Slack user as the bot knows them.
type person struct {
	userID string
	email  string // lower-cased profile email; "" when Slack gives none
	name   string // real name, else display name, else handle
}

// identityCache maps Slack users to directory emails and back. Profiles
// change rarely; entries live for identityTTL.
type identityCache struct {
	mu      sync.Mutex
	byUser  map[string]cached[person]
	byEmail map[string]cached[string] // email → user id
	dms     map[string]string         // user id → DM channel
	groups  map[string]cached[[]string]
}

type cached[T any] struct {
	v  T
	at time.Time
}

const (
	identityTTL = 30 * time.Minute
	groupTTL    = time.Minute
)

func newIdentityCache() *identityCache {
	return &identityCache{byUser: map[string]cached[person]{}, byEmail: map[string]cached[string]{},
		dms: map[string]string{}, groups: map[string]cached[[]string]{}}
}

// errNoEmail is returned for a Slack user whose profile shows no email.
var errNoEmail = errors.New("your Slack profile shows no email address, so jitbot cannot find you in its directory")

// personOf returns the Slack user userID with their email, from the cache
// or users.info.
func (b *Bot) personOf(ctx context.Context, userID string) (person, error) {
	now := b.clock.Now()
	b.cache.mu.Lock()
	c, ok := b.cache.byUser[userID]
	b.cache.mu.Unlock()
	if ok && now.Sub(c.at) < identityTTL {
		return c.v, nil
	}
	var u *slack.User
	err := b.call(ctx, mUsersInfo, "", func(ctx context.Context) error {
		var err error
		u, err = b.api.GetUserInfoContext(ctx, userID)
		return err
	})
	if isLater(err) {
		return person{}, err
	}
	if err != nil {
		return person{}, fmt.Errorf("users.info %s: %s", userID, slackErrorCode(err))
	}
	p := person{userID: u.ID, email: strings.ToLower(strings.TrimSpace(u.Profile.Email)), name: u.RealName}
	if p.name == "" {
		p.name = u.Profile.DisplayName
	}
	if p.name == "" {
		p.name = u.Name
	}
	b.cache.mu.Lock()
	b.cache.byUser[userID] = cached[person]{p, now}
	if p.email != "" {
		b.cache.byEmail[p.email] = cached[string]{u.ID, now}
	}
	b.cache.mu.Unlock()
	return p, nil
}

// emailOf returns the directory email of the Slack user, or an error
// saying why they cannot use jitbot.
func (b *Bot) emailOf(ctx context.Context, userID string) (string, error) {
	p, err := b.personOf(ctx, userID)
	if err != nil {
		return "", err
	}
	if p.email == "" {
		return "", errNoEmail
	}
	if _, ok := b.svc.Policy().Person(p.email); !ok {
		return "", fmt.Errorf("%s is not in jitbot's directory; ask IT to add you to the policy file", p.email)
	}
	return p.email, nil
}

// userOf returns the Slack user id of a directory email: the directory's
// slack_id when it gives one, else users.lookupByEmail.
func (b *Bot) userOf(ctx context.Context, email string) (string, error) {
	email = strings.ToLower(email)
	if p, ok := b.svc.Policy().Person(email); ok && p.SlackID != "" {
		return p.SlackID, nil
	}
	now := b.clock.Now()
	b.cache.mu.Lock()
	c, ok := b.cache.byEmail[email]
	b.cache.mu.Unlock()
	if ok && now.Sub(c.at) < identityTTL {
		return c.v, nil
	}
	var u *slack.User
	err := b.call(ctx, mLookupByEmail, "", func(ctx context.Context) error {
		var err error
		u, err = b.api.GetUserByEmailContext(ctx, email)
		return err
	})
	if isLater(err) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("no Slack user has the email %s (%s)", email, slackErrorCode(err))
	}
	b.cache.mu.Lock()
	b.cache.byEmail[email] = cached[string]{u.ID, now}
	b.cache.mu.Unlock()
	return u.ID, nil
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
	b.cache.mu.Lock()
	ch, ok := b.cache.dms[userID]
	b.cache.mu.Unlock()
	if ok {
		return ch, nil
	}
	var c *slack.Channel
	err := b.call(ctx, mOpen, "", func(ctx context.Context) error {
		var err error
		c, _, _, err = b.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{userID}})
		return err
	})
	if isLater(err) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("conversations.open %s: %s", userID, slackErrorCode(err))
	}
	b.cache.mu.Lock()
	b.cache.dms[userID] = c.ID
	b.cache.mu.Unlock()
	return c.ID, nil
}

// GroupMembers resolves a Slack user group handle to its members' emails
// (policies.GroupResolver). Members without an email are skipped.
func (b *Bot) GroupMembers(ctx context.Context, handle string) ([]string, error) {
	handle = strings.TrimPrefix(handle, "@")
	now := b.clock.Now()
	b.cache.mu.Lock()
	c, ok := b.cache.groups[handle]
	b.cache.mu.Unlock()
	if ok && now.Sub(c.at) < groupTTL {
		return c.v, nil
	}
	var groups []slack.UserGroup
	err := b.call(ctx, mGroups, "", func(ctx context.Context) error {
		var err error
		groups, err = b.api.GetUserGroupsContext(ctx)
		return err
	})
	if isLater(err) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("usergroups.list: %s", slackErrorCode(err))
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
	err = b.call(ctx, mGroupUsers, "", func(ctx context.Context) error {
		var err error
		users, err = b.api.GetUserGroupMembersContext(ctx, id)
		return err
	})
	if isLater(err) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("usergroups.users.list @%s: %s", handle, slackErrorCode(err))
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
	b.cache.mu.Lock()
	b.cache.groups[handle] = cached[[]string]{emails, now}
	b.cache.mu.Unlock()
	return emails, nil
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
