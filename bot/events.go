package bot

import (
	"context"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
	"go.uber.org/zap"
)

// handleEvent handles Events API deliveries, each event id once.
func (b *Bot) handleEvent(ctx context.Context, evt socketmode.Event) {
	ev, ok := evt.Data.(slackevents.EventsAPIEvent)
	if !ok {
		return
	}
	if cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent); ok && cb.EventID != "" {
		if !b.seen.first(cb.EventID, b.clock.Now()) {
			b.log.Debug("duplicate event ignored", zap.String("event_id", cb.EventID))
			return
		}
	}
	switch inner := ev.InnerEvent.Data.(type) {
	case *slackevents.AppHomeOpenedEvent:
		if inner.Tab == "home" || inner.Tab == "" {
			b.spawn(ctx, func(ctx context.Context) { b.publishHome(ctx, inner.User) })
		}
	}
}

// publishHome renders a person's App Home and remembers that they have
// one, so that later changes republish it (coalesced, by the home job).
func (b *Bot) publishHome(ctx context.Context, userID string) {
	email, err := b.emailOf(ctx, userID)
	var view slack.HomeTabViewRequest
	if err != nil {
		view = slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{section(plain(b.sentence(err, "")))}}}
	} else if view, err = b.homeFor(ctx, email); err != nil {
		b.log.Error("home", zap.Error(err))
		return
	}
	if _, err := b.api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: userID, View: view}); err != nil {
		b.log.Warn("views.publish", zap.String("error", slackErrorCode(err)))
		return
	}
	if email != "" {
		if err := b.msgs.PutMessage(ctx, MessageRef{RequestID: homeID(email), Role: roleHome, UserID: userID, Person: email,
			Channel: "-", Hash: contentHash("", view.Blocks.BlockSet)}); err != nil {
			b.log.Warn("remember home", zap.Error(err))
		}
	}
}

// dedup remembers Events API event ids for a while: Slack redelivers an
// event it thinks was not acked, and the bot must act on it once.
type dedup struct {
	mu   sync.Mutex
	ttl  time.Duration
	seen map[string]time.Time
	last time.Time
}

func newDedup(ttl time.Duration) *dedup { return &dedup{ttl: ttl, seen: map[string]time.Time{}} }

// first reports whether id is seen for the first time.
func (d *dedup) first(id string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Sub(d.last) > d.ttl {
		for k, t := range d.seen {
			if now.Sub(t) > d.ttl {
				delete(d.seen, k)
			}
		}
		d.last = now
	}
	if _, ok := d.seen[id]; ok {
		return false
	}
	d.seen[id] = now
	return true
}
