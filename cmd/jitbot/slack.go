package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/review"
	"github.com/jitbot/jitbot/store"
	"github.com/slack-go/slack"
)

// The Slack front end, configured from the environment:
//
//	SLACK_BOT_TOKEN       xoxb- bot token, for the Web API (required)
//	SLACK_APP_TOKEN       xapp- app-level token with connections:write, for Socket Mode (required)
//	SLACK_API_URL         Web API base URL, default https://slack.com/api/
//	JITBOT_ALERT_CHANNEL  channel for failures IT must look at
//	JITBOT_IT_GROUP       Slack user group handle allowed to use /access audit and
//	                      /access restore, and to answer licence reviews for anyone

// slackMessages keeps the bot's message references in the store, so that
// a restarted bot edits the messages it posted before.
type slackMessages struct{ db database }

func (s slackMessages) PutMessage(ctx context.Context, m bot.MessageRef) error {
	return s.db.PutSlackMessage(ctx, store.SlackMessage(m))
}

func (s slackMessages) Messages(ctx context.Context, requestID string) ([]bot.MessageRef, error) {
	return refs(s.db.SlackMessages(ctx, requestID))
}

func (s slackMessages) At(ctx context.Context, channel, ts string) ([]bot.MessageRef, error) {
	return refs(s.db.SlackMessagesAt(ctx, channel, ts))
}

func refs(ms []store.SlackMessage, err error) ([]bot.MessageRef, error) {
	if err != nil {
		return nil, err
	}
	out := make([]bot.MessageRef, len(ms))
	for i, m := range ms {
		out[i] = bot.MessageRef(m)
	}
	return out, nil
}

// openSlack builds the bot, checks its tokens and scopes (a refused token
// stops jitbot here with one sentence), and plugs it into the engine.
func (m *Main) openSlack(ctx context.Context) error {
	var reviewer bot.Reviewer
	if m.Review != nil {
		reviewer = m.Review
	}
	var certifier bot.Certifier
	if m.Certify != nil {
		certifier = m.Certify
	}
	b, err := bot.New(bot.Config{
		Review:       reviewer,
		Certify:      certifier,
		Service:      m.Service,
		BotToken:     m.getenv("SLACK_BOT_TOKEN"),
		AppToken:     m.getenv("SLACK_APP_TOKEN"),
		APIURL:       m.getenv("SLACK_API_URL"),
		Messages:     slackMessages{m.DB},
		AlertChannel: m.getenv("JITBOT_ALERT_CHANNEL"),
		ITGroup:      m.getenv("JITBOT_IT_GROUP"),
		Audit: func(ctx context.Context, email string) (string, error) {
			rep, err := m.DB.PersonHistory(ctx, email)
			if err != nil {
				return "", err
			}
			var buf bytes.Buffer
			if err := audit.WritePerson(&buf, rep); err != nil {
				return "", err
			}
			return buf.String(), nil
		},
		Activity: func(ctx context.Context, email string) ([]review.ProductActivity, error) {
			var out []review.ProductActivity
			err := m.DB.ViewReview(ctx, func(tx review.Tx) error {
				u, err := tx.UserByEmail(email)
				if err == nil && u != nil {
					out = u.Products
				}
				return nil // no activity data for them: nothing to show
			})
			return out, err
		},
		Log:         m.Log.Named("slack"),
		Clock:       m.Clock,
		Observer:    m.Metrics,
		Connections: m.Config.SocketConnections,
	})
	if err != nil {
		return err
	}
	if err := b.Check(ctx); err != nil {
		return fmt.Errorf("jitbot will not start: %w", err)
	}
	m.Bot = b
	m.Service.Attach(b)
	m.frontEnds = append(m.frontEnds, b.Run)
	return nil
}

// slackAPIPoster posts the audit anchor with the Web API.
type slackAPIPoster struct{ api *slack.Client }

func (p slackAPIPoster) Post(ctx context.Context, channel, text string) error {
	_, _, err := p.api.PostMessageContext(ctx, channel, slack.MsgOptionText(text, false))
	return err
}

// slackPoster builds a poster from SLACK_BOT_TOKEN and SLACK_API_URL.
func slackPoster(getenv func(string) string) (audit.Poster, error) {
	token := getenv("SLACK_BOT_TOKEN")
	if token == "" {
		return nil, errors.New("SLACK_BOT_TOKEN is not set: it is needed to post the anchor to Slack")
	}
	opts := []slack.Option{}
	if u := getenv("SLACK_API_URL"); u != "" {
		opts = append(opts, slack.OptionAPIURL(u))
	}
	return slackAPIPoster{api: slack.New(token, opts...)}, nil
}

// checkSlackGroups sizes the Slack user groups the policy's approval steps
// name, so that a step no group can fill is reported now rather than at
// every request. Without SLACK_BOT_TOKEN it says it did not check.
func (c *cli) checkSlackGroups(p *policies.Policy) error {
	used := map[string][]string{} // handle → rules naming it
	for _, r := range p.Rules {
		for _, a := range r.Then.Approvals {
			for _, t := range a.Approvers {
				if h, ok := strings.CutPrefix(t, "group:"); ok && !slices.Contains(used[h], r.Name) {
					used[h] = append(used[h], r.Name)
				}
			}
		}
	}
	if len(used) == 0 {
		return nil
	}
	token := c.getenv("SLACK_BOT_TOKEN")
	if token == "" {
		fmt.Fprintln(c.stderr, "note: Slack user groups not checked (SLACK_BOT_TOKEN is not set)")
		return nil
	}
	opts := []slack.Option{}
	if u := c.getenv("SLACK_API_URL"); u != "" {
		opts = append(opts, slack.OptionAPIURL(u))
	}
	groups, err := slack.New(token, opts...).GetUserGroupsContext(c.ctx)
	if err != nil {
		return fmt.Errorf("slack: usergroups.list: %w", err)
	}
	sizes := map[string]int{}
	for _, g := range groups {
		sizes[strings.ToLower(g.Handle)] = g.UserCount
	}
	var errs []error
	for _, h := range sortedKeys(used) {
		if _, ok := sizes[strings.ToLower(h)]; !ok {
			errs = append(errs, fmt.Errorf("slack: there is no user group @%s (named in rule %s)", h, strings.Join(quoteAll(used[h]), ", ")))
		}
	}
	for _, pr := range p.CheckQuorums(func(h string) (int, bool) {
		n, ok := sizes[strings.ToLower(h)]
		return n, ok
	}) {
		errs = append(errs, errors.New(pr.String()))
	}
	return errors.Join(errs...)
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}
