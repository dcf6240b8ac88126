// Package bot is jitbot's Slack front end over Socket Mode: the /access
// command and its modal, the requester's DM edited in place, approver cards
// with Approve and Decline, App Home, notify channels and IT alerts, and
// the licence review's conversation: managers' prompts with Keep and
// Suspend, warnings with "I still need it", IT's digest with its chart and
// CSV, and /access restore.
//
// It owns no state of its own beyond caches: every decision is made by the
// approvals engine from the stored request, and the bot only translates
// between Slack payloads and engine calls. Envelopes are acknowledged before
// any slow work; the Socket Mode loop never waits on the database, a
// provider or the Web API.
package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/review"
	"github.com/jonboulle/clockwork"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Config wires a Bot.
type Config struct {
	Service  *approvals.Service
	BotToken string // xoxb-, SLACK_BOT_TOKEN
	AppToken string // xapp-, SLACK_APP_TOKEN
	APIURL   string // SLACK_API_URL; default https://slack.com/api/
	Messages MessageStore
	// AlertChannel receives failures IT must look at (JITBOT_ALERT_CHANNEL).
	AlertChannel string
	// ITGroup is the Slack user group handle whose members may use
	// /access audit and /access restore, and answer licence reviews for
	// anyone, the unassigned included (JITBOT_IT_GROUP). Empty: nobody may.
	ITGroup string
	// Audit answers /access audit: the evidence about one person as text.
	Audit func(ctx context.Context, email string) (string, error)
	// Activity returns what the activity data says of a person's product
	// use, for the review of a break-glass grant; optional.
	Activity func(ctx context.Context, email string) ([]review.ProductActivity, error)
	// Review is the licence review engine; when set, the bot delivers its
	// messages (managers' prompts, warnings, IT's digest with the chart
	// and the CSV), takes the answers, and serves /access restore.
	Review Reviewer
	// Certify is the certification engine; when set, the bot delivers the
	// reviewers' cards, the escalations, the progress post and the notice
	// of a conversion, and takes the answers (bot/certify.go).
	Certify Certifier
	Log     *zap.Logger
	Clock   clockwork.Clock // default: the Service's clock
	// ChannelRate paces posts to one channel (default 1 per second, burst
	// ChannelBurst, default 4), as Slack asks. A post that may not go yet
	// is put back until it may; no worker waits for it.
	ChannelRate  rate.Limit
	ChannelBurst int
	// CallTimeout bounds every Web API call (default 5s): a hanging Slack
	// holds a notification for this long at most, then it is put back.
	CallTimeout time.Duration
	// CardBurst is how many requests may wait on one approver with a card
	// each (default 3); past it, new requests are listed on pages of
	// PageSize (default 20) with Approve and Decline per request, so that a
	// burst reaches the approver at Slack's pace of about one post a second.
	CardBurst int
	PageSize  int
	// HTTPClient is used for the Web API; default a client with a 30 s timeout.
	HTTPClient *http.Client
	// Workers bounds the handlers running at once (default 8); more
	// envelopes are acked at once and wait for a worker.
	Workers int
	// Observer is told how the bot talks to Slack (metrics); optional.
	Observer Observer
	// Connections is how many Socket Mode connections Run keeps open
	// (default 2, at most 10, Slack's limit for an app).
	Connections int
}

// Bot is the Slack front end. It implements approvals.Notifier,
// approvals.Alerter and policies.GroupResolver.
type Bot struct {
	cfg   Config
	svc   *approvals.Service
	api   *slack.Client
	http  *http.Client
	log   *zap.Logger
	clock clockwork.Clock
	msgs  MessageStore

	scopesMu   sync.Mutex
	scopes     string // X-OAuth-Scopes of the last auth.test
	team       string // the workspace auth.test named
	enterprise string

	cache    *identityCache
	seen     *dedup
	reqLocks sync.Map // request id → *sync.Mutex: one notification at a time per request

	gate      *gate
	connected atomic.Int32 // Socket Mode connections up

	work chan struct{}  // one token per handler running
	wg   sync.WaitGroup // handlers in flight
}

// New returns a Bot. It makes no network call; Check does.
func New(cfg Config) (*Bot, error) {
	if cfg.Service == nil {
		return nil, errors.New("bot: Config.Service is required")
	}
	if cfg.Messages == nil {
		cfg.Messages = NewMemoryMessages()
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Clock == nil {
		cfg.Clock = cfg.Service.Clock()
	}
	if cfg.ChannelRate == 0 {
		cfg.ChannelRate = 1
	}
	if cfg.ChannelBurst <= 0 {
		cfg.ChannelBurst = 4
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Connections <= 0 {
		cfg.Connections = 2
	}
	cfg.Connections = min(cfg.Connections, 10)
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	if cfg.CardBurst <= 0 {
		cfg.CardBurst = 3
	}
	if cfg.PageSize <= 0 || cfg.PageSize > maxPageItems {
		cfg.PageSize = maxPageItems
	}
	if cfg.APIURL != "" && !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	b := &Bot{
		cfg:   cfg,
		svc:   cfg.Service,
		log:   cfg.Log,
		clock: cfg.Clock,
		msgs:  cfg.Messages,
		cache: newIdentityCache(cfg.Clock),
		seen:  newDedup(10 * time.Minute),
		gate:  newGate(cfg.Clock, cfg.ChannelRate, cfg.ChannelBurst),
		work:  make(chan struct{}, cfg.Workers),
	}
	hc := cfg.HTTPClient
	if hc == nil {
		// Every worker keeps its connection to Slack: the default of two
		// idle connections per host would open and close one per call.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 2 * cfg.Workers
		hc = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	}
	b.http = hc
	// No retries inside the client: a 429 or an outage puts the job back
	// (gate.outcome), and nobody waits in a call.
	opts := []slack.Option{
		slack.OptionHTTPClient(hc),
		slack.OptionOnResponseHeaders(func(path string, h http.Header) {
			if strings.HasSuffix(path, "auth.test") {
				b.scopesMu.Lock()
				b.scopes = h.Get("X-OAuth-Scopes")
				b.scopesMu.Unlock()
			}
		}),
	}
	if cfg.AppToken != "" {
		opts = append(opts, slack.OptionAppLevelToken(cfg.AppToken))
	}
	if cfg.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(cfg.APIURL))
	}
	b.api = slack.New(cfg.BotToken, opts...)
	b.svc.Register(jobInbox, approvals.JobType{Lane: approvals.LaneMessage, Run: b.runInbox})
	b.svc.Register(jobHome, approvals.JobType{Lane: approvals.LaneMessage, Run: b.runHome})
	if cfg.Review != nil {
		b.registerReview()
	}
	if cfg.Certify != nil {
		b.registerCertify()
	}
	return b, nil
}

// requiredScopes are the bot token scopes jitbot cannot work without.
var requiredScopes = []string{"chat:write", "commands", "im:write", "users:read", "users:read.email", "usergroups:read"}

// requiredScopes adds files:write when licence reviews post digests: the
// chart and the CSV are uploaded with them.
func (b *Bot) requiredScopes() []string {
	if b.cfg.Review == nil {
		return requiredScopes
	}
	for _, r := range b.svc.Policy().Review.Rules {
		if r.Digest != "" {
			return append(slices.Clone(requiredScopes), "files:write")
		}
	}
	return requiredScopes
}

// Check verifies the tokens and scopes before the bot starts, and answers
// with one sentence a person can act on instead of a retry loop.
func (b *Bot) Check(ctx context.Context) error {
	switch {
	case b.cfg.BotToken == "":
		return errors.New("SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) from the Slack app's OAuth & Permissions page")
	case !strings.HasPrefix(b.cfg.BotToken, "xoxb-"):
		return errors.New("SLACK_BOT_TOKEN is not a bot token: it must start with xoxb-")
	case b.cfg.AppToken == "":
		return errors.New("SLACK_APP_TOKEN is not set: create an app-level token with the connections:write scope under Basic Information → App-Level Tokens")
	case !strings.HasPrefix(b.cfg.AppToken, "xapp-"):
		return errors.New("SLACK_APP_TOKEN is not an app-level token: it must start with xapp-")
	}
	auth, err := b.api.AuthTestContext(ctx)
	if unreachable(ctx, err) {
		return fmt.Errorf("cannot reach Slack at %s: %s (check the network, a proxy, or SLACK_API_URL); the tokens were not checked", b.apiURL(), scrub(err))
	}
	if err != nil {
		return fmt.Errorf("the Slack Web API refused SLACK_BOT_TOKEN (%s): reinstall the app and set the new token", slackErrorCode(err))
	}
	b.scopesMu.Lock()
	b.team, b.enterprise = auth.TeamID, auth.EnterpriseID
	have := b.scopes
	b.scopesMu.Unlock()
	if have != "" {
		got := map[string]bool{}
		for _, s := range strings.Split(have, ",") {
			got[strings.TrimSpace(s)] = true
		}
		var missing []string
		for _, s := range b.requiredScopes() {
			if !got[s] {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("the Slack bot token lacks the %s scope(s): add them (deploy/slack-app-manifest.yaml lists every scope) and reinstall the app", strings.Join(missing, ", "))
		}
	}
	if _, _, err := b.api.StartSocketModeContext(ctx); unreachable(ctx, err) {
		return fmt.Errorf("cannot reach Slack at %s: %s (check the network or a proxy); SLACK_APP_TOKEN was not checked", b.apiURL(), scrub(err))
	} else if err != nil {
		return fmt.Errorf("the Slack Web API refused SLACK_APP_TOKEN (%s): create an app-level token with connections:write and turn Socket Mode on", slackErrorCode(err))
	}
	return nil
}

// apiURL is the Web API base URL in use.
func (b *Bot) apiURL() string {
	if b.cfg.APIURL != "" {
		return b.cfg.APIURL
	}
	return slack.APIURL
}

// scrub returns err's text with the bot's tokens removed, for logs and
// start-up errors: a network error names the URL it tried, and nothing in
// jitbot puts a token in a URL, but a log line must not trust that.
func scrub(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	for _, prefix := range []string{"xoxb-", "xapp-", "xoxp-"} {
		for {
			i := strings.Index(msg, prefix)
			if i < 0 {
				break
			}
			j := i + len(prefix)
			for j < len(msg) && (msg[j] == '-' || msg[j] >= '0' && msg[j] <= '9' || msg[j] >= 'a' && msg[j] <= 'z' || msg[j] >= 'A' && msg[j] <= 'Z') {
				j++
			}
			msg = msg[:i] + "[token]" + msg[j:]
		}
	}
	return msg
}

// slackErrorCode returns Slack's error name for err, never a token.
func slackErrorCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return "ratelimited"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && len(msg)-i < 60 {
		return msg[i+2:]
	}
	return msg
}

// fatalAuth reports whether a Socket Mode connect error will not go away by
// retrying.
func fatalAuth(err error) bool {
	if err == nil {
		return false
	}
	code := slackErrorCode(err)
	for _, c := range []string{"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "not_allowed_token_type", "missing_scope"} {
		if strings.Contains(code, c) || strings.Contains(err.Error(), c) {
			return true
		}
	}
	return false
}

// Run connects over Socket Mode and serves until ctx ends, over
// Config.Connections connections at once: Slack spreads an app's envelopes
// over its connections, so one being refreshed or dropped loses nothing,
// and each connection decodes its envelopes on its own goroutine. Dropped
// sockets and Slack's disconnect requests reconnect; a refused token stops
// them all.
func (b *Bot) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, b.cfg.Connections)
	var wg sync.WaitGroup
	wg.Go(func() { b.probe(ctx) })
	for range b.cfg.Connections {
		wg.Go(func() {
			if err := b.runConnection(ctx); err != nil {
				errs <- err
				cancel()
			}
		})
	}
	wg.Wait()
	b.wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// runConnection keeps one Socket Mode connection up until ctx ends.
func (b *Bot) runConnection(ctx context.Context) error {
	sm := socketmode.New(b.api, socketmode.OptionLog(zapStd{b.log}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.loop(ctx, sm)
	}()
	defer func() { <-done }()
	delay := 500 * time.Millisecond
	for {
		started := time.Now()
		err := sm.RunContext(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if fatalAuth(err) {
			return fmt.Errorf("the Slack Socket Mode connection was refused (%s): check SLACK_APP_TOKEN", slackErrorCode(err))
		}
		if time.Since(started) > time.Minute {
			delay = 500 * time.Millisecond
		}
		b.log.Warn("socket mode stopped; reconnecting", zap.Error(err), zap.Duration("in", delay))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// loop reads one connection's Socket Mode events: it acks each envelope at
// once and hands the work to a goroutine.
func (b *Bot) loop(ctx context.Context, sm *socketmode.Client) {
	up := false
	defer func() {
		if up {
			b.connected.Add(-1)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case evt := <-sm.Events:
			switch evt.Type {
			case socketmode.EventTypeConnected:
				if !up {
					up = true
					b.connected.Add(1)
				}
			case socketmode.EventTypeConnecting, socketmode.EventTypeDisconnect:
				if up {
					up = false
					b.connected.Add(-1)
				}
			}
			b.dispatch(ctx, sm, evt)
		}
	}
}

func (b *Bot) dispatch(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	read := time.Now()
	ack := func(ctx context.Context, req *socketmode.Request, payload any) { b.ack(ctx, sm, req, payload, read) }
	switch evt.Type {
	case socketmode.EventTypeConnected:
		b.log.Info("connected to Slack")
	case socketmode.EventTypeConnecting, socketmode.EventTypeDisconnect:
	case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError:
		fields := []zap.Field{zap.String("event", string(evt.Type))}
		switch d := evt.Data.(type) {
		case *slack.ConnectionErrorEvent:
			fields = append(fields, zap.Int("attempt", d.Attempt), zap.String("cause", scrub(d.ErrorObj)))
		case *slack.IncomingEventError:
			fields = append(fields, zap.String("cause", scrub(d.ErrorObj)))
		}
		b.log.Warn("socket mode", fields...)
	case socketmode.EventTypeErrorBadMessage:
		// Ack what we cannot parse, so Slack does not redeliver it forever.
		if bad, ok := evt.Data.(*socketmode.ErrorBadMessage); ok {
			var env struct {
				EnvelopeID string `json:"envelope_id"`
			}
			if json.Unmarshal(bad.Message, &env) == nil && env.EnvelopeID != "" {
				_ = sm.AckCtx(ctx, env.EnvelopeID, nil)
			}
			b.log.Warn("unparseable envelope acked", zap.Error(bad.Cause))
		}
	case socketmode.EventTypeSlashCommand:
		ack(ctx, evt.Request, nil)
		if cmd, ok := evt.Data.(slack.SlashCommand); ok {
			b.spawn(ctx, func(ctx context.Context) { b.handleCommand(ctx, cmd) })
		}
	case socketmode.EventTypeInteractive:
		ic, ok := evt.Data.(slack.InteractionCallback)
		if !ok {
			ack(ctx, evt.Request, nil)
			return
		}
		if ic.Type == slack.InteractionTypeViewSubmission {
			// The answer to a submission is its ack (errors, or close), so
			// it is decided off the loop, from memory, within Slack's 3 s.
			req := evt.Request
			b.spawnNow(ctx, func(ctx context.Context) {
				payload, after := b.handleSubmission(ctx, ic)
				ack(ctx, req, payload)
				if after != nil {
					after(ctx)
				}
			})
			return
		}
		ack(ctx, evt.Request, nil)
		if ic.Type == slack.InteractionTypeBlockActions {
			b.spawn(ctx, func(ctx context.Context) { b.handleAction(ctx, ic) })
		}
	case socketmode.EventTypeEventsAPI:
		ack(ctx, evt.Request, nil)
		b.handleEvent(ctx, evt)
	}
}

func (b *Bot) ack(ctx context.Context, sm *socketmode.Client, req *socketmode.Request, payload any, read time.Time) {
	if req == nil || req.EnvelopeID == "" {
		return
	}
	if err := sm.AckCtx(ctx, req.EnvelopeID, payload); err != nil {
		b.log.Warn("ack failed", zap.Error(err))
		return
	}
	if b.cfg.Observer != nil {
		b.cfg.Observer.Acked(time.Since(read))
	}
}

// Connected reports whether a Socket Mode connection is up (readiness).
func (b *Bot) Connected() bool { return b.connected.Load() > 0 }

// Observer is told how the bot talks to Slack, for metrics. Optional; its
// methods must return at once.
type Observer interface {
	// Acked: an envelope was acknowledged, took after it was read.
	Acked(took time.Duration)
	// SlackCall: a Web API call ended with outcome (CallOK, CallError,
	// CallRateLimited, CallUnreachable), or was not made (CallHeld: a
	// channel's pace or a 429 window).
	SlackCall(method, outcome string, took time.Duration)
}

// Outcomes of Web API calls an Observer is told.
const (
	CallOK          = "ok"
	CallError       = "error"
	CallRateLimited = "rate_limited"
	CallUnreachable = "unreachable"
	CallHeld        = "held"
)

// spawn runs fn off the event loop, at most Config.Workers at a time, with
// a bound on its duration and a recovered panic. The bound keeps a burst of
// slow work from starving the loop that acks envelopes.
func (b *Bot) spawn(ctx context.Context, fn func(ctx context.Context)) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		select {
		case b.work <- struct{}{}:
			defer func() { <-b.work }()
		case <-ctx.Done():
			return
		}
		b.run(ctx, fn)
	}()
}

// spawnNow runs fn off the event loop without waiting for a worker: for
// view submissions, whose answer is their ack and must leave within 3 s.
func (b *Bot) spawnNow(ctx context.Context, fn func(ctx context.Context)) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.run(ctx, fn)
	}()
}

func (b *Bot) run(ctx context.Context, fn func(ctx context.Context)) {
	defer func() {
		if p := recover(); p != nil {
			b.log.Error("handler panicked", zap.Any("panic", p))
		}
	}()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	fn(ctx)
}

// lockRequest serialises the notifications of one request, so that two
// jobs never both post the requester's one DM.
func (b *Bot) lockRequest(id string) func() {
	v, _ := b.reqLocks.LoadOrStore(id, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// zapStd adapts zap to slack-go's logger interface.
type zapStd struct{ l *zap.Logger }

func (z zapStd) Output(_ int, s string) error {
	z.l.Debug(strings.TrimSpace(s))
	return nil
}

var _ approvals.FrontEnd = (*Bot)(nil)
