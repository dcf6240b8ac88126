package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/certify"
	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/metrics"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/review"
	"github.com/jitbot/jitbot/store/postgres"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
)

// Main is the whole program, so that tests can start it in-process:
// ParseFlags, Open, Run, Close.
type Main struct {
	Config Config
	Getenv func(string) string
	Stderr io.Writer

	// Set by tests before Open; defaults otherwise.
	Clock     clockwork.Clock
	Providers map[string]approvals.Provisioner
	// Adapt, when set, changes every policy loaded from the file before
	// it is used (at Open and at each reload): the playground points the
	// directory at its local identity provider.
	Adapt func(*policies.Policy) *policies.Policy

	Log *zap.Logger
	DB  database
	// Leader is this replica's elector: on PostgreSQL the lease row that
	// one replica holds at a time; on SQLite, which one process works
	// alone, always this process. The sweep, reconciliation and the daily
	// anchor run only while it leads.
	Leader  approvals.Elector
	Policy  *policies.Policy // as loaded by Open; Service.Policy() is the one in force
	Service *approvals.Service
	Review  *review.Engine  // the licence review (review.go)
	Certify *certify.Engine // certifications of standing access (certification.go)
	Bot     *bot.Bot        // the Slack front end
	Metrics *metrics.Metrics

	health *health // /healthz, /readyz, /metrics (health.go)

	// providerErrs says why a provider kept only for live records could
	// not be built (providers.go).
	providerErrs map[string]error
	// unnamedSeen is what warnUnnamed alerted last.
	unnamedMu   sync.Mutex
	unnamedSeen string
	// movedSeen is, by provider, the move of its directory source that
	// warnProviderMoved alerted last (reload.go; under policyMu).
	movedSeen map[string]string
	// watched are the files the policy in force was read from (reload.go).
	watchMu sync.Mutex
	watched []string
	// policyMu orders the two writers of the policy in force, a reload and
	// the directory loop, so that neither puts back what the other replaced.
	policyMu sync.Mutex
	// directoryWake tells the directory loop that a reload changed the
	// directory settings (directory.go).
	directoryWake chan struct{}
	// sources are the directory sources built from the policy in force,
	// shared by the directory loop and the licence review (sources.go).
	sources *sourceSet

	// frontEnds run beside the engine (the Slack bot).
	frontEnds []func(ctx context.Context) error
	// campaign runs the leader election (PostgreSQL), nil otherwise.
	campaign func(ctx context.Context) error
	closers  []func() error
}

// runEnvHelp lists the settings run reads only from the environment.
const runEnvHelp = `

Environment (secrets are read only from here):
  SLACK_BOT_TOKEN        xoxb- bot token (required)
  SLACK_APP_TOKEN        xapp- app-level token with connections:write (required)
  SLACK_API_URL          Slack Web API base URL (default https://slack.com/api/)
  JITBOT_ALERT_CHANNEL   channel for failures IT must act on
  JITBOT_IT_GROUP        Slack user group handle allowed to use /access audit and
                         /access restore, to answer licence reviews for anyone,
                         and the certification items no reviewer could take
  JITBOT_AUDIT_CHANNEL   channel the audit chain head is posted to (at start-up when
                         the last anchor is over a day old, then daily)
  ATLASSIAN_SITE_URL, ATLASSIAN_EMAIL, ATLASSIAN_API_TOKEN         provider jira
  ATLASSIAN_API_URL, ATLASSIAN_ORG_ID, ATLASSIAN_ADMIN_API_KEY,
  ATLASSIAN_DIRECTORY_ID                                           provider atlassian-admin
  ATLASSIAN_RATE (optional ceiling, requests/s per API; the pace is learnt), ATLASSIAN_TIMEOUT (default 30s)
  OKTA_API_TOKEN, OKTA_URL                                         provider and directory source okta
  AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_TENANT_ID,
  AZURE_AUTHORITY_HOST, ENTRA_GRAPH_URL                            provider and directory source entra
  GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_ADMIN_SUBJECT,
  GOOGLE_ADMIN_API_URL, GOOGLE_CUSTOMER                            provider and directory source google
  JITBOT_LEADER_LEASE    PostgreSQL: how long the leader's lease runs (default 15s); when
                         the leader dies, another replica takes over within it
  JITBOT_SOCKET_CONNECTIONS
                         Socket Mode connections to keep open, 1 to 10 (default 2):
                         Slack spreads events over them, so one being refreshed loses none

Booleans read 1/0, true/false, yes/no, on/off, y/n; durations 30s, 90m, 4h, 1d.
SIGHUP, or a change of the policy file, reloads the policy; an invalid one is
refused (logged and alerted) and the one in force stays.`

// ParseFlags reads the run command's flags over the environment.
func (m *Main) ParseFlags(c *cli, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	c.commonFlags(fs, &m.Config)
	env := &settings{getenv: c.getenv}
	m.Config.Reconcile = env.duration("JITBOT_RECONCILE_INTERVAL", time.Hour, true)
	m.Config.DryRun = env.boolean("JITBOT_DRY_RUN", false)
	m.Config.LeaderLease = env.duration("JITBOT_LEADER_LEASE", postgres.DefaultLease, false)
	m.Config.SocketConnections = env.count("JITBOT_SOCKET_CONNECTIONS", 2, 1, 10)
	fs.Var(durationFlag{name: "reconcile-interval", dst: &m.Config.Reconcile, zeroOK: true}, "reconcile-interval",
		"how often managed groups are compared with the grants (drift), like 30m, 1h or 1d; 0 turns it off (env JITBOT_RECONCILE_INTERVAL, default 1h)")
	m.Config.Listen = c.env("JITBOT_LISTEN", defaultListen)
	if listenOff(m.Config.Listen) {
		m.Config.Listen = ""
	}
	fs.StringVar(&m.Config.Listen, "listen", m.Config.Listen,
		"where to serve /healthz, /readyz and /metrics; empty (or off in the environment) turns it off (env JITBOT_LISTEN, default "+defaultListen+")")
	fs.Var(boolFlag{name: "dry-run", dst: &m.Config.DryRun}, "dry-run",
		"make every provider the dryrun provider, which records what it would do (env JITBOT_DRY_RUN: 1/0, true/false, yes/no, on/off)")
	if code := c.parse(fs, args, "jitbot run [--policy FILE] [--db FILE] [--dry-run] [--reconcile-interval D] [--listen ADDR] [--log-level L] [--log-format F]"+runEnvHelp, 0); code >= 0 {
		return code
	}
	m.Config.PolicyFrom = c.policyFrom(fs)
	if err := errors.Join(env.errs...); err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	return -1
}

// Open loads the policy, opens the database and wires the engine. An
// invalid policy stops it here.
func (m *Main) Open(ctx context.Context) error {
	if m.Stderr == nil {
		m.Stderr = io.Discard
	}
	if m.Log == nil {
		log, err := m.Config.logger(m.Stderr)
		if err != nil {
			return err
		}
		m.Log = log
	}
	if m.Clock == nil {
		m.Clock = clockwork.NewRealClock()
	}
	p, err := loadPolicy(m.Config.Policy, m.Config.PolicyFrom)
	var le *policies.LoadError
	switch {
	case errors.As(err, &le):
		return fmt.Errorf("the policy is invalid; jitbot will not start:\n%w", err)
	case err != nil:
		return fmt.Errorf("jitbot will not start: %w", err)
	}
	if m.Adapt != nil {
		p = m.Adapt(p)
	}
	m.Policy = p
	db, err := openDatabase(ctx, m.Config.DB, dbOptions{run: true, now: m.Clock.Now})
	if err != nil {
		return err
	}
	m.DB = db
	m.closers = append(m.closers, db.Close)
	if m.Providers == nil {
		if m.Providers, err = m.buildProviders(ctx); err != nil {
			return err
		}
	}
	m.Metrics = metrics.New()
	if sr, ok := db.(approvals.StatsReader); ok {
		m.Metrics.WatchStore(sr, m.Clock.Now, 2*time.Second)
	}
	var leader approvals.Elector // nil: the engine sweeps alone, as ever
	m.Leader = approvals.AlwaysLeader{}
	m.Metrics.SetLeader(true) // SQLite: this process works the database alone
	if pg, ok := db.(*postgres.DB); ok {
		m.Metrics.SetLeader(false) // until the lease is won
		el := postgres.NewElector(pg, postgres.ElectorOptions{ID: replicaID(), Lease: m.Config.LeaderLease,
			Log: m.Log.Named("leader"), OnChange: m.Metrics.SetLeader})
		m.Leader, leader = el, el
		m.campaign = el.Run
	}
	counted := map[string]approvals.Provisioner{}
	for name, prov := range m.Providers {
		counted[name] = m.Metrics.Provider(name, prov)
		if t, ok := prov.(interface{ Client() *atlassian.Client }); ok {
			m.Metrics.WatchUpstream(name, t.Client())
		}
	}
	if p, err = withDirectory(ctx, db, p); err != nil { // idp.go: the synced directory under the file's people
		return fmt.Errorf("read the synced directory: %w", err)
	}
	m.Policy = p
	m.Service = approvals.New(approvals.Config{
		Store:     db,
		Policy:    p,
		Clock:     m.Clock,
		Log:       m.Log,
		Providers: counted,
		Leader:    leader,
		Observer:  m.Metrics,
	})
	m.sources = m.newSourceSet()              // sources.go
	if err := m.openReview(ctx); err != nil { // review.go
		return err
	}
	m.openCertify() // certification.go
	if err := m.openSlack(ctx); err != nil {
		return err
	}
	if channel := m.getenv("JITBOT_AUDIT_CHANNEL"); channel != "" {
		poster, err := slackPoster(m.getenv)
		if err != nil {
			return err
		}
		a := &audit.Anchorer{Chain: m.DB, Poster: poster, Channel: channel, Clock: m.Clock, Log: m.Log.Named("anchor")}
		m.frontEnds = append(m.frontEnds, m.leading(a.Run))
	}
	if err := m.openHealth(); err != nil { // health.go
		return err
	}
	// The policy is recorded as loaded once everything it needs opened: a
	// start that fails (Slack unreachable) leaves no policy.loaded event
	// for a bot that never ran.
	if err := m.Service.SetPolicy(ctx, p); err != nil {
		return err
	}
	m.warnFindings(ctx, p, "")
	m.warnUnnamed(ctx, p, "jitbot started on the policy "+m.Config.Policy)
	if _, ok := m.DB.(directory.Store); ok {
		// Always, so that a reload that adds directory sources is obeyed.
		m.directoryWake = make(chan struct{}, 1)
		m.frontEnds = append(m.frontEnds, m.leading(m.directoryLoop)) // directory.go
	}
	w, hup := m.openPolicyWatch()
	m.frontEnds = append(m.frontEnds, func(ctx context.Context) error { return m.watchPolicy(ctx, w, hup) })
	m.Log.Info("jitbot ready", zap.String("version", Version), zap.String("policy", p.Source),
		zap.String("policy_sha256", p.Hash), zap.String("db", dbName(m.DB, m.Config.DB)), zap.Bool("dry_run", m.Config.DryRun))
	return nil
}

func (m *Main) getenv(key string) string {
	if m.Getenv == nil {
		return ""
	}
	return m.Getenv(key)
}

// Run runs the engine and the front ends until ctx ends.
func (m *Main) Run(ctx context.Context) error {
	// The first part to fail stops the others.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	parts := append([]func(context.Context) error{m.Service.Run, m.leading(func(ctx context.Context) error {
		m.Service.RunReconcile(ctx, m.Config.Reconcile)
		return nil
	})}, m.frontEnds...)
	if m.campaign != nil {
		parts = append(parts, m.campaign)
	}
	if m.health != nil {
		parts = append(parts, m.health.serve)
	}
	for _, part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := part(ctx); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// replicaID names this process in the leader row: host and pid, so that
// an operator reading the row knows which replica leads.
func replicaID() string {
	host, err := os.Hostname()
	if err != nil {
		host = "jitbot"
	}
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

// leading wraps a loop that must run on one replica only: it runs while
// this replica leads, and stops when it no longer does.
func (m *Main) leading(loop func(ctx context.Context) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var failed error
		err := m.Leader.Lead(ctx, func(ctx context.Context) {
			if err := loop(ctx); err != nil && ctx.Err() == nil {
				failed = err
			}
		})
		return errors.Join(err, failed)
	}
}

// Close releases everything Open acquired.
func (m *Main) Close() error {
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i]())
	}
	if m.Log != nil {
		_ = m.Log.Sync()
	}
	return errors.Join(errs...)
}

func (c *cli) run(args []string) int {
	m := &Main{Getenv: c.getenv, Stderr: c.stderr}
	if code := m.ParseFlags(c, args); code >= 0 {
		return code
	}
	if err := m.Open(c.ctx); err != nil {
		m.Close()
		return c.fail(exitFailure, "%v", err)
	}
	defer m.Close()
	start := time.Now()
	if err := m.Run(c.ctx); err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	m.Log.Info("jitbot stopped", zap.Duration("uptime", time.Since(start)))
	return exitOK
}
