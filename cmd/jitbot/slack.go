package main

import (
	"bytes"
	"context"
	"fmt"

	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/store"
)

// The Slack front end, configured from the environment:
//
//	SLACK_BOT_TOKEN       xoxb- bot token, for the Web API (required)
//	SLACK_APP_TOKEN       xapp- app-level token with connections:write, for Socket Mode (required)
//	SLACK_API_URL         Web API base URL, default https://slack.com/api/
//	JITBOT_ALERT_CHANNEL  channel for failures IT must look at
//	JITBOT_IT_GROUP       Slack user group handle allowed to use /access audit

// slackMessages keeps the bot's message references in the store, so that
// a restarted bot edits the messages it posted before.
type slackMessages struct{ db *store.DB }

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
	b, err := bot.New(bot.Config{
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
		Log:   m.Log.Named("slack"),
		Clock: m.Clock,
	})
	if err != nil {
		return err
	}
	if err := b.Check(ctx); err != nil {
		return fmt.Errorf("jitbot will not start: %w", err)
	}
	m.Bot = b
	m.Service.SetNotifier(b)
	m.Service.SetAlerter(b)
	m.Service.SetGroups(b)
	m.frontEnds = append(m.frontEnds, b.Run)
	return nil
}
