package bot

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/jitbot/jitbot"
	"github.com/slack-go/slack"
	"go.uber.org/zap"
)

// replyTo is where an answer to one person goes: the response_url of the
// command or click when there is one, else an ephemeral message in the
// channel, else a DM.
type replyTo struct {
	user, channel, responseURL string
}

// say answers one person privately.
func (b *Bot) say(ctx context.Context, to replyTo, text string, blocks ...slack.Block) {
	var err error
	switch {
	case to.responseURL != "":
		err = slack.PostWebhookCustomHTTPContext(ctx, to.responseURL, b.http, &slack.WebhookMessage{
			Text: text, ResponseType: slack.ResponseTypeEphemeral, ReplaceOriginal: false, Blocks: blocksOrNil(blocks)})
	case to.channel != "" && !strings.HasPrefix(to.channel, "D"):
		_, err = b.api.PostEphemeralContext(ctx, to.channel, to.user, slack.MsgOptionText(text, true), slack.MsgOptionBlocks(blocks...))
	default:
		_, _, err = b.postDM(ctx, to.user, text, blocks)
	}
	if err != nil {
		// A response_url is a credential for half an hour: log the cause
		// without the URL.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		b.log.Warn("reply failed", zap.String("user", to.user), zap.String("error", slackErrorCode(err)))
	}
}

func blocksOrNil(bs []slack.Block) *slack.Blocks {
	if len(bs) == 0 {
		return nil
	}
	return &slack.Blocks{BlockSet: bs}
}

// sentence is the one translation of an error for the person who caused
// it: a domain error's message as it is; a call Slack asked to wait with, a
// sentence saying so; anything else is internal — logged with its detail
// and the request it concerns, and shown as a plain sentence that never
// carries a raw error.
func (b *Bot) sentence(err error, requestID string) string {
	if msg := jitbot.ErrorMessage(err); msg != "" {
		return msg
	}
	if isLater(err) {
		return "Slack is slow to answer right now, so jitbot could not finish that; try again in a minute."
	}
	b.log.Error("an error shown to a person as a plain sentence", zap.String("request_id", requestID), zap.Error(err))
	return "Something went wrong on jitbot's side, and it is logged for IT; try again, or ask IT if it keeps happening."
}
