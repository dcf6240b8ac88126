package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/store"
	"github.com/jonboulle/clockwork"
	"github.com/slack-go/slack"
	"go.uber.org/zap"
)

// poster posts a plain message to a Slack channel.
type poster interface {
	Post(ctx context.Context, channel, text string) error
}

type slackAPIPoster struct{ api *slack.Client }

func (p slackAPIPoster) Post(ctx context.Context, channel, text string) error {
	_, _, err := p.api.PostMessageContext(ctx, channel, slack.MsgOptionText(text, false))
	return err
}

// slackPoster builds a poster from SLACK_BOT_TOKEN and SLACK_API_URL.
func slackPoster(getenv func(string) string) (poster, error) {
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

// anchor posts the chain head to channel (when there is one) and records
// that it did in the chain itself.
func anchor(ctx context.Context, db *store.DB, channel string, p poster) (audit.Anchor, error) {
	head, err := db.Head(ctx)
	if err != nil {
		return head, err
	}
	if channel != "" && p != nil {
		text := fmt.Sprintf("jitbot audit anchor `%s` — %s. To check the log later: `jitbot audit verify --anchor %s`",
			head, time.Now().UTC().Format(time.RFC3339), head)
		if err := p.Post(ctx, channel, text); err != nil {
			return head, fmt.Errorf("post the anchor to %s: %w", channel, err)
		}
	}
	err = db.Update(ctx, func(tx approvals.Tx) error {
		return tx.Append(&approvals.Event{Actor: approvals.ActorSystem, Action: "audit.anchored",
			Reason: "chain head witnessed outside the database",
			Data:   map[string]string{"seq": strconv.FormatInt(head.Seq, 10), "hash": head.Hash, "channel": channel}})
	})
	return head, err
}

// anchorDaily anchors once a day while the bot runs.
func anchorDaily(ctx context.Context, clock clockwork.Clock, db *store.DB, channel string, p poster, log *zap.Logger) error {
	t := clock.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.Chan():
			if head, err := anchor(ctx, db, channel, p); err != nil {
				log.Error("daily audit anchor", zap.Error(err))
			} else {
				log.Info("audit anchored", zap.String("head", head.String()))
			}
		}
	}
}
