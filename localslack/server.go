package localslack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultScopes are the bot token scopes granted when Options.Scopes is nil:
// everything jitbot needs.
var DefaultScopes = []string{
	"app_mentions:read", "channels:read", "chat:write", "commands", "files:write", "groups:read",
	"im:history", "im:read", "im:write", "mpim:read", "mpim:write", "team:read",
	"usergroups:read", "users:read", "users:read.email",
}

// Options configure a Server. The zero value is ready to use.
type Options struct {
	BotToken string // default "xoxb-test"
	AppToken string // default "xapp-test"
	// Scopes of the bot token; nil means DefaultScopes. A method needing a
	// scope the token lacks answers missing_scope.
	Scopes []string
	// TriggerTTL is how long a trigger_id can open or push a view; default 3s
	// as in Slack. Measured with Now.
	TriggerTTL time.Duration
	// Now is the emulator's clock for trigger expiry, message ts, records,
	// the chat.postMessage pace and the RateLimitFor/HangFor windows;
	// default time.Now. It is called concurrently and with the
	// emulator's lock held, so it must not call back into the Server. Ack
	// latency always uses the wall clock.
	Now func() time.Time
	// SpecPath is the Slack Web API OpenAPI 2.0 spec. Default: the first
	// shared/specs/slack-web-openapi-v2.json found walking up from the
	// working directory (the repo's sibling ../shared/specs). When the file
	// is absent, spec validation is skipped with a log line.
	SpecPath string
	// StrictSpec fails the test (t.Errorf) on every request that breaks the
	// spec; nil means true. With new(false) violations are only recorded.
	StrictSpec *bool
	// StrictUnknownParams also records arguments the spec does not document
	// as violations (failing the test under StrictSpec). By default they are
	// logged once per method and parameter: the 2021 spec predates some
	// parameters slack-go sends.
	StrictUnknownParams bool
	// StrictBlocks fails the test on every Block Kit violation. By default
	// they are answered as Slack does and recorded in Violations.
	StrictBlocks bool
	// Logf receives what a test would log and the failures it would
	// report, for an emulator started with Start (the playground); New
	// reports to its testing.TB instead. Nil discards them.
	Logf func(format string, args ...any)
	// AckTimeout bounds the wait for a Socket Mode ack; default 3s, Slack's
	// own deadline.
	AckTimeout time.Duration
	// ReconnectWait bounds how long a send waits for a socket connection;
	// default 5s.
	ReconnectWait time.Duration
	// Spread delivers envelopes round-robin over the open connections, as
	// Slack spreads them over an app's connections (several replicas of
	// one app). By default every envelope goes to the newest connection.
	Spread bool
	// PingInterval is how often the emulator pings each socket; default 5s.
	// slack-go reconnects when it hears no ping for 30s.
	PingInterval time.Duration
	// PostRate is the pace of chat.postMessage per channel, in messages per
	// second on Now: a call beyond it answers HTTP 429 ratelimited with an
	// honest Retry-After. 0 means 1, Slack's documented pace; a negative
	// value switches the pace off.
	PostRate float64
	// PostBurst is how many chat.postMessage calls a channel takes at once
	// before the pace applies; 0 means 4.
	PostBurst int

	TeamID     string // default "T0JITBOT"
	TeamDomain string // default "jitbot-test"
	AppID      string // default "A0JITBOT"
	BotUserID  string // default "U0JITBOT"
	BotID      string // default "B0JITBOT"
}

// Server is a Slack emulator on 127.0.0.1: the Web API under APIURL, Socket
// Mode websockets, and response_url endpoints. Its methods are safe for
// concurrent use.
type Server struct {
	tb         TB
	opts       Options
	now        func() time.Time
	hs         *httpServer
	spec       *specIndex
	strictSpec bool
	rnd        *rand.Rand // guarded by mu

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every state change
	closed  bool
	seq     int64
	tsSeq   int64

	scopes  map[string]bool
	revoked map[string]bool
	faults  map[string]*fault

	postInterval time.Duration // 0: chat.postMessage is not paced
	postBurst    int
	pacers       map[string]*pacer // by channel
	windows      []*window
	released     chan struct{} // closed and replaced by Heal and Close
	held         int

	files     map[string]*File
	fileOrder []string
	uploads   map[string]string // upload URL token → file id

	users      map[string]*User
	userOrder  []string
	groups     map[string]*userGroup
	groupOrder []string
	channels   map[string]*channel
	chanOrder  []string

	messages   map[string][]*Message // by channel
	ephemerals []*Ephemeral
	views      map[string]*viewRecord
	viewOrder  []string
	homes      map[string]string   // user → home view id
	stacks     map[string][]string // user → open modal stack, root first
	lastModal  map[string]string   // user → most recent modal view id
	triggers   map[string]*trigger
	responses  map[string]*responseTarget

	calls       []Call
	violations  []Violation
	loggedParam map[string]bool

	tickets   map[string]bool
	conns     []*wsConn
	spreadN   int // envelopes sent under Options.Spread
	connTotal int
	pending   map[string]*pendingEnvelope
	acked     map[string]bool
	unacked   []string
	acks      []Ack
	pongs     atomic.Int64
	events    map[string]*sentEvent
	wg        sync.WaitGroup
}

// fault is an injected failure for the next calls of a method.
type fault struct {
	remaining  int
	status     int
	retryAfter int // seconds, for 429
	code       string
}

type userGroup struct {
	id, handle string
	users      []string
}

type channel struct {
	id, name string
	dmUser   string // set for D... channels
}

type trigger struct {
	user   string
	issued time.Time
	used   bool
}

// specNotice prints, once per test binary, that the spec was not found.
var specNotice sync.Once

// TB is what the emulator needs of a test; *testing.T and *testing.B
// (testing.TB) satisfy it. Spec violations fail the test through Errorf.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
}

// New starts an emulator for the test and stops it in tb.Cleanup. It
// validates requests against Slack's OpenAPI spec (Options.SpecPath, found
// by walking up from the working directory) and fails the test on spec
// violations.
func New(tb TB, opts Options) *Server {
	tb.Helper()
	s, err := start(tb, opts, true)
	if err != nil {
		tb.Errorf("localslack: %v", err)
		return nil
	}
	tb.Cleanup(s.Close)
	return s
}

// Start starts an emulator outside a test, as the playground does: Block
// Kit limits, the channel pace and 429s apply as under New, failures a
// test would report go to Options.Logf, and the requests are validated
// against Slack's OpenAPI spec only when Options.SpecPath names it (said
// once through Logf either way). Close stops it.
func Start(opts Options) (*Server, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return start(logReporter(logf), opts, false)
}

// logReporter is the TB of an emulator started with Start.
type logReporter func(format string, args ...any)

func (l logReporter) Helper()                           {}
func (l logReporter) Errorf(format string, args ...any) { l(format, args...) }
func (l logReporter) Logf(format string, args ...any)   { l(format, args...) }
func (l logReporter) Cleanup(func())                    {}

func start(tb TB, opts Options, test bool) (*Server, error) {
	if opts.BotToken == "" {
		opts.BotToken = "xoxb-test"
	}
	if opts.AppToken == "" {
		opts.AppToken = "xapp-test"
	}
	if opts.Scopes == nil {
		opts.Scopes = DefaultScopes
	}
	if opts.TriggerTTL == 0 {
		opts.TriggerTTL = 3 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AckTimeout == 0 {
		opts.AckTimeout = 3 * time.Second
	}
	if opts.ReconnectWait == 0 {
		opts.ReconnectWait = 5 * time.Second
	}
	if opts.PingInterval == 0 {
		opts.PingInterval = 5 * time.Second
	}
	if opts.PostRate == 0 {
		opts.PostRate = defaultPostRate
	}
	if opts.PostBurst <= 0 {
		opts.PostBurst = defaultPostBurst
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&opts.TeamID, "T0JITBOT")
	def(&opts.TeamDomain, "jitbot-test")
	def(&opts.AppID, "A0JITBOT")
	def(&opts.BotUserID, "U0JITBOT")
	def(&opts.BotID, "B0JITBOT")

	s := &Server{
		tb:          tb,
		opts:        opts,
		now:         opts.Now,
		strictSpec:  opts.StrictSpec == nil || *opts.StrictSpec,
		rnd:         rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5eed)),
		changed:     make(chan struct{}),
		scopes:      map[string]bool{},
		revoked:     map[string]bool{},
		faults:      map[string]*fault{},
		postBurst:   opts.PostBurst,
		pacers:      map[string]*pacer{},
		released:    make(chan struct{}),
		files:       map[string]*File{},
		uploads:     map[string]string{},
		users:       map[string]*User{},
		groups:      map[string]*userGroup{},
		channels:    map[string]*channel{},
		messages:    map[string][]*Message{},
		views:       map[string]*viewRecord{},
		homes:       map[string]string{},
		stacks:      map[string][]string{},
		lastModal:   map[string]string{},
		triggers:    map[string]*trigger{},
		responses:   map[string]*responseTarget{},
		loggedParam: map[string]bool{},
		tickets:     map[string]bool{},
		pending:     map[string]*pendingEnvelope{},
		acked:       map[string]bool{},
		events:      map[string]*sentEvent{},
	}
	if opts.PostRate > 0 {
		s.postInterval = time.Duration(float64(time.Second) / opts.PostRate)
	}
	for _, sc := range opts.Scopes {
		s.scopes[sc] = true
	}
	s.users[opts.BotUserID] = &User{ID: opts.BotUserID, Name: "jitbot", RealName: "jitbot", IsBot: true}
	s.userOrder = append(s.userOrder, opts.BotUserID)

	path := opts.SpecPath
	switch {
	case path == "" && test:
		path = findSpec()
	case path == "":
		tb.Logf("local Slack: Block Kit limits, the channel pace and 429s are enforced; requests are not validated against Slack's OpenAPI spec (no spec file given)")
	}
	if path != "" {
		if idx, err := loadSpec(path); err != nil {
			tb.Logf("slack spec not found at %s: skipping spec validation (%v)", path, err)
			// Without -v the log line is invisible: say it once per test binary.
			if test {
				specNotice.Do(func() {
					fmt.Fprintf(os.Stderr, "localslack: %s not found: Slack requests in these tests are not validated against the official spec\n", path)
				})
			}
		} else {
			s.spec = idx
			if !test {
				tb.Logf("local Slack: requests are validated against %s", path)
			}
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.handleAPI)
	mux.HandleFunc("/socket", s.handleSocket)
	mux.HandleFunc("/response/", s.handleResponseURL)
	mux.HandleFunc("/upload/v1/", s.handleUpload)
	hs, err := listen(mux)
	if err != nil {
		return nil, err
	}
	s.hs = hs
	return s, nil
}

// httpServer is the emulator's HTTP server on a free port of 127.0.0.1.
type httpServer struct {
	URL string // http://127.0.0.1:PORT
	ln  net.Listener
	srv *http.Server
}

func listen(h http.Handler) (*httpServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	hs := &httpServer{URL: "http://" + ln.Addr().String(), ln: ln, srv: &http.Server{Handler: h}}
	go func() { _ = hs.srv.Serve(ln) }()
	return hs, nil
}

// Close stops listening and waits for the requests being answered, as
// httptest.Server.Close does (hijacked sockets are the emulator's own to
// close).
func (hs *httpServer) Close() {
	_ = hs.srv.Shutdown(context.Background())
}

// APIURL is the Web API base URL, for slack.OptionAPIURL.
func (s *Server) APIURL() string { return s.hs.URL + "/api/" }

// SpecPath returns the path of the loaded Slack spec, or "" when spec
// validation is off because the file was not found.
func (s *Server) SpecPath() string {
	if s.spec == nil {
		return ""
	}
	return s.spec.path
}

// BotToken returns the bot token the emulator accepts.
func (s *Server) BotToken() string { return s.opts.BotToken }

// AppToken returns the app-level token the emulator accepts.
func (s *Server) AppToken() string { return s.opts.AppToken }

// BotUserID returns the bot's own user id (auth.test user_id).
func (s *Server) BotUserID() string { return s.opts.BotUserID }

// Close releases every held call unanswered, disconnects every socket and
// stops the server. New registers it with tb.Cleanup; calling it twice is
// harmless.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.releaseLocked()
	conns := slices.Clone(s.conns)
	s.notifyLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	s.hs.Close()
	s.wg.Wait()
}

// notifyLocked wakes everyone waiting for a state change.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) nextIDLocked(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%08X", prefix, s.seq)
}

// randLocked returns n random characters from [A-Za-z0-9].
func (s *Server) randLocked(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[s.rnd.IntN(len(alphabet))]
	}
	return string(b)
}

func (s *Server) randHexLocked(n int) string {
	const alphabet = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[s.rnd.IntN(len(alphabet))]
	}
	return string(b)
}

// nextTSLocked returns a fresh, unique message timestamp.
func (s *Server) nextTSLocked() string {
	s.tsSeq++
	return fmt.Sprintf("%d.%06d", s.now().Unix(), s.tsSeq%1000000)
}

// violationLocked records a violation and, when fail is set, fails the test.
func (s *Server) violationLocked(kind, method, msg string, fail bool) {
	s.violations = append(s.violations, Violation{Kind: kind, Method: method, Message: msg, At: s.now()})
	if fail {
		s.tb.Errorf("localslack: %s violation in %s: %s", kind, method, msg)
	}
	s.notifyLocked()
}

func copyMessage(m *Message) Message {
	c := *m
	c.Blocks = slices.Clone(m.Blocks)
	c.Attachments = slices.Clone(m.Attachments)
	c.Edits = slices.Clone(m.Edits)
	c.Files = slices.Clone(m.Files)
	return c
}

func (s *Server) findMessageLocked(channelID, ts string) *Message {
	if id, ok := s.resolveChannelLocked(channelID); ok {
		channelID = id
	}
	for _, m := range s.messages[channelID] {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

// messageJSONLocked renders a message as Slack does in API answers and
// interaction payloads.
func (s *Server) messageJSONLocked(m *Message) map[string]any {
	out := map[string]any{
		"type":    "message",
		"user":    m.User,
		"bot_id":  s.opts.BotID,
		"app_id":  s.opts.AppID,
		"team":    s.opts.TeamID,
		"text":    m.Text,
		"ts":      m.TS,
		"channel": m.Channel,
	}
	if len(m.Blocks) > 0 {
		out["blocks"] = json.RawMessage(m.Blocks)
	}
	if len(m.Attachments) > 0 {
		out["attachments"] = json.RawMessage(m.Attachments)
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if len(m.Files) > 0 {
		out["files"] = s.filesJSONLocked(m.Files)
		out["upload"] = true
	}
	if len(m.Edits) > 0 {
		out["edited"] = map[string]any{"user": m.User, "ts": fmt.Sprintf("%d.000000", m.UpdatedAt.Unix())}
	}
	return out
}

// ErrNoConnection is returned when no Socket Mode connection was available
// within Options.ReconnectWait.
var ErrNoConnection = errors.New("localslack: no socket mode connection")

// ErrNoAck is returned when the app did not acknowledge an envelope within
// Options.AckTimeout, or its socket closed first.
var ErrNoAck = errors.New("localslack: envelope not acknowledged")
