package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jitbot/jitbot/certify"
	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/examples"
	"github.com/jitbot/jitbot/playground"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/review"
	"go.uber.org/zap"
)

// jitbot playground: the real bot (engine, lanes, policy, store, Block
// Kit, licence review) against a local Slack and a local Atlassian on
// 127.0.0.1, on a simulated clock, with a page to use it from a browser.

const defaultPlaygroundListen = "127.0.0.1:8080"

const playgroundHelp = `

The playground starts the real jitbot on a fresh SQLite database and the
example policy (or --policy), against a local Slack (Socket Mode and the Web
API, as in the tests), a local Atlassian (Jira and the Admin API) holding
the policy's people, groups and a seeded history of product activity, and a
local Okta holding the same people, the bot's only directory source. It
prints one URL: open it to act as anyone in the directory. Time is
simulated: it runs at real speed and the page's buttons jump it ahead.
Nothing leaves 127.0.0.1. Ctrl-C stops it; the database stays, for the CLI.

Editing the policy file while it runs reloads it, as jitbot run does
(people and groups new to the policy need a restart: the local Slack,
Atlassian and Okta are filled at start; a person's manager or department is
the local Okta's after its first sync: change it from the page's Directory
panel).`

func (c *cli) playground(args []string) int {
	fs := flag.NewFlagSet("playground", flag.ContinueOnError)
	listen := fs.String("listen", defaultPlaygroundListen, "where the page is served (`ADDR`); 127.0.0.1:0 picks a free port")
	policyPath := fs.String("policy", "", "the policy `FILE` to try (default: the example policy, embedded, written to the playground's folder)")
	dbPath := fs.String("db", "", "the SQLite database `FILE` (default: jitbot.db in a fresh folder under the system's temporary folder)")
	start := fs.String("start", "", "when the simulated clock starts (RFC 3339 or YYYY-MM-DD; default: now)")
	var groups stringList
	fs.Var(&groups, "slack-group", "`HANDLE=EMAIL[,EMAIL…]`: who is in a Slack user group the policy names (repeatable; default: the directory's IT department)")
	logLevel := fs.String("log-level", "warn", "debug | info | warn | error")
	logFormat := fs.String("log-format", "console", "json | console")
	if code := c.parse(fs, args, "jitbot playground [--listen ADDR] [--policy FILE] [--db FILE] [--start TIME] [--slack-group HANDLE=EMAILS]…"+playgroundHelp, 0); code >= 0 {
		return code
	}
	startAt, err := parseTime(*start)
	if err != nil {
		return c.fail(exitUsage, "--start: %v", err)
	}
	members := map[string][]string{}
	for _, g := range groups {
		h, list, ok := strings.Cut(g, "=")
		if !ok || strings.TrimSpace(h) == "" {
			return c.fail(exitUsage, "--slack-group %q: expected HANDLE=EMAIL[,EMAIL…]", g)
		}
		members[strings.TrimPrefix(strings.TrimSpace(h), "@")] = strings.Split(list, ",")
	}
	// Listen first: a port in use stops the playground before anything
	// starts.
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return c.fail(exitFailure, "--listen %s: %v (another playground running? name another address, or 127.0.0.1:0 for a free port)", *listen, err)
	}
	defer ln.Close()

	cfg := Config{LogLevel: *logLevel, LogFormat: *logFormat}
	log, err := cfg.logger(c.stderr)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	defer log.Sync()

	// The playground's folder holds what it made: the database and the
	// example policy.
	dir := ""
	if *dbPath == "" || *policyPath == "" {
		if dir, err = os.MkdirTemp("", "jitbot-playground-"); err != nil {
			return c.fail(exitFailure, "make the playground's folder: %v", err)
		}
	}
	cfg.Policy, cfg.PolicyFrom = *policyPath, "--policy"
	if cfg.Policy == "" {
		if cfg.Policy, err = writeExamplePolicy(dir); err != nil {
			return c.fail(exitFailure, "write the example policy: %v", err)
		}
	}
	cfg.DB = *dbPath
	if cfg.DB == "" {
		cfg.DB = filepath.Join(dir, "jitbot.db")
	}
	if strings.HasPrefix(cfg.DB, "postgres://") || strings.HasPrefix(cfg.DB, "postgresql://") {
		return c.fail(exitUsage, "--db: the playground runs on a SQLite file, not PostgreSQL")
	}
	p, err := loadPolicy(cfg.Policy, cfg.PolicyFrom)
	var le *policies.LoadError
	if errors.As(err, &le) {
		return c.fail(exitFailure, "the policy is invalid:\n%v", err)
	} else if err != nil {
		return c.fail(exitFailure, "%v", err)
	}

	sugar := log.Named("local").Sugar()
	world, err := playground.NewWorld(p, playground.WorldOptions{Start: startAt, Groups: members, Logf: sugar.Infof})
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	defer world.Close()

	cfg.Reconcile = time.Hour
	cfg.SocketConnections = 2
	// The bot's directory syncs from the local Okta (world.BotPolicy).
	m := &Main{Config: cfg, Getenv: world.Getenv, Stderr: c.stderr, Log: log, Clock: world.Clock.Fake(), Adapt: world.BotPolicy}
	if err := m.Open(c.ctx); err != nil {
		m.Close()
		return c.fail(exitFailure, "%v", err)
	}
	defer m.Close()
	if *policyPath == "" {
		exampleDelegation(c.ctx, m)
	}

	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	var wg sync.WaitGroup
	runErr := make(chan error, 1)
	wg.Add(2)
	go func() { defer wg.Done(); world.Clock.Run(ctx) }()
	go func() { defer wg.Done(); runErr <- m.Run(ctx) }()

	page, err := playground.NewServer(playground.Config{World: world, Policy: m.Service.Policy, Audit: m.DB,
		Reviews: reviewNow{m}, Directory: directoryNow{m}, Log: log.Named("playground")})
	if err != nil {
		cancel()
		wg.Wait()
		return c.fail(exitInternal, "%v", err)
	}
	srv := &http.Server{Handler: page, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Fprintf(c.stdout, "jitbot playground: http://%s/\n", ln.Addr())
	log.Info("playground ready", zap.String("url", "http://"+ln.Addr().String()+"/"), zap.String("policy", p.Source),
		zap.String("db", cfg.DB), zap.Time("clock", world.Clock.Now()))

	code := exitOK
	select {
	case <-ctx.Done():
	case err := <-runErr: // the bot stopped on its own: something failed
		if err != nil {
			code = c.fail(exitFailure, "%v", err)
		}
	}
	// Stop the page first (its event streams end with it), then the bot.
	page.Close()
	shut, done := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(shut)
	done()
	cancel()
	wg.Wait()
	fmt.Fprintf(c.stderr, "jitbot playground stopped; the database stays at %s (try: jitbot audit verify --db %s)\n", cfg.DB, cfg.DB)
	return code
}

// writeExamplePolicy writes the embedded example policy and its people.csv
// into dir and returns the policy's path.
func writeExamplePolicy(dir string) (string, error) {
	for _, name := range []string{"policy.yaml", "people.csv"} {
		data, err := fs.ReadFile(examples.FS, name)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "policy.yaml"), nil
}

// reviewNow runs a review rule for the page: an activity sync from the
// local Admin API, then the run, as jitbot review run does.
type reviewNow struct{ m *Main }

func (r reviewNow) RunNow(ctx context.Context, name string) (string, error) {
	if cert, ok := strings.CutPrefix(name, playground.CertificationPrefix); ok {
		return r.campaignNow(ctx, cert)
	}
	eng := r.m.Review
	rule, ok := eng.Policy().Review.Rule(name)
	if !ok {
		return "", fmt.Errorf("the policy has no review rule %q", name)
	}
	if _, err := eng.Sync(ctx, nil); err != nil {
		return "", err
	}
	run, err := eng.RunReview(ctx, rule, review.RunOptions{Trigger: review.TriggerManual})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Run %s: %d people covered, %d inactive to review (%s).", run.ID[:8], run.Counts.Covered, run.Counts.Items,
		run.State), nil
}

// directoryNow is the bot's synced directory for the page's Directory
// panel, and its Sync now button: a wake of the bot's own directory loop.
type directoryNow struct{ m *Main }

func (d directoryNow) Directory(ctx context.Context) ([]directory.Person, time.Time, error) {
	st, ok := d.m.DB.(directory.Store)
	if !ok {
		return nil, time.Time{}, errors.New("this database keeps no synced directory")
	}
	return st.Directory(ctx)
}

func (d directoryNow) SyncNow() bool { return d.m.SyncDirectoryNow() }

// exampleDelegation gives the example's playground a delegation to show:
// carol, who owns confluence-finance, delegates her approvals to frank for
// two weeks (unless the database already has one of hers).
func exampleDelegation(ctx context.Context, m *Main) {
	const from, to = "carol@example.com", "frank@example.com"
	if d, err := m.Service.DelegationOf(ctx, from); err != nil || d != nil {
		return
	}
	if _, err := m.Service.Delegate(ctx, from, to, m.Service.Clock().Now().Add(14*24*time.Hour)); err != nil {
		m.Log.Warn("the example's delegation", zap.Error(err))
	}
}

// campaignNow starts a certification campaign for the page, as jitbot
// certification run does; the cards go out through the local Slack.
func (r reviewNow) campaignNow(ctx context.Context, name string) (string, error) {
	rule, ok := r.m.Service.Policy().CertRule(name)
	if !ok {
		return "", fmt.Errorf("the policy has no certification rule %q", name)
	}
	c, err := r.m.Certify.Start(ctx, rule, certify.TriggerPlayground)
	if err != nil {
		return "", err
	}
	_, items, err := r.m.Certify.Campaign(ctx, c.ID)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Campaign %s: %d standing memberships to review (%s); the reviewers' cards are in their DMs.", c.ID[:8], len(items), c.State), nil
}
