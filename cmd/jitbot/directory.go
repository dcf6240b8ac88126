package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/policies"
	"github.com/jonboulle/clockwork"
	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"
)

// jitbot directory sync | show, and the running bot's sync loop.

// directoryMain is the part of Main the directory commands need.
func (c *cli) directoryMain(cfg *Config, from string, readOnly bool) (*Main, int) {
	p, err := loadPolicy(cfg.Policy, from)
	if err != nil {
		return nil, c.fail(exitFailure, "%v", err)
	}
	if p.Directory == nil || len(p.Directory.Sources) == 0 {
		return nil, c.fail(exitFailure, "the policy %s has no directory sources (directory.sources): its people are the file's own", cfg.Policy)
	}
	db, err := cfg.openDB(c.ctx, readOnly)
	if err != nil {
		return nil, c.fail(exitFailure, "%v", err)
	}
	if _, ok := db.(directory.Store); !ok {
		db.Close()
		return nil, c.fail(exitInternal, "this database does not keep a synced directory")
	}
	return &Main{Getenv: c.getenv, Log: zap.NewNop(), DB: db, Policy: p, Clock: clockwork.NewRealClock()}, -1
}

func (c *cli) directorySync(args []string) int {
	fs := flag.NewFlagSet("directory sync", flag.ContinueOnError)
	var cfg Config
	c.commonFlags(fs, &cfg)
	if code := c.parse(fs, args, "jitbot directory sync", 0); code >= 0 {
		return code
	}
	m, code := c.directoryMain(&cfg, c.policyFrom(fs), false)
	if code >= 0 {
		return code
	}
	defer m.DB.Close()
	sources, err := m.newSourceSet().sources(m.Policy.Directory) // sources.go
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	s := m.syncer(m.Policy, sources)
	var bar *progressbar.ProgressBar
	if isTerminal(c.stderr) {
		s.Progress = func(source string, listed int) {
			if bar == nil {
				bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(c.stderr), progressbar.OptionShowCount(),
					progressbar.OptionSetItsString("people"), progressbar.OptionThrottle(100*time.Millisecond))
			}
			bar.Describe("reading " + source)
			_ = bar.Set(listed)
		}
	}
	res, err := s.Sync(c.ctx)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(c.stderr)
	}
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	var listed []string
	for _, src := range sources {
		listed = append(listed, fmt.Sprintf("%s %d", src.Name(), res.Listed[src.Name()]))
	}
	fmt.Fprintf(c.stdout, "directory synced: %d people (%s), %d changes\n", len(res.People), strings.Join(listed, ", "), len(res.Changes))
	for _, ch := range res.Changes {
		if ch.Field == "person" {
			continue
		}
		fmt.Fprintf(c.stdout, "  %s %s: %q → %q (from %s)\n", ch.Email, ch.Field, ch.Old, ch.New, ch.Source)
	}
	if len(res.Problems) > 0 {
		fmt.Fprintf(c.stdout, "%d problems the sync did not guess at (fix them at the source, or in the policy file):\n", len(res.Problems))
		for _, p := range res.Problems {
			fmt.Fprintf(c.stdout, "  %s\n", p)
		}
		return exitFailure
	}
	return exitOK
}

func (c *cli) directoryShow(args []string) int {
	fs := flag.NewFlagSet("directory show", flag.ContinueOnError)
	var cfg Config
	c.commonFlags(fs, &cfg)
	if code := c.parse(fs, args, "jitbot directory show EMAIL", 1); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		return c.fail(exitUsage, "directory show takes one email")
	}
	m, code := c.directoryMain(&cfg, c.policyFrom(fs), true)
	if code >= 0 {
		return code
	}
	defer m.DB.Close()
	stored, at, err := m.DB.(directory.Store).Directory(c.ctx)
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	email := strings.ToLower(strings.TrimSpace(fs.Arg(0)))
	var found *directory.Person
	for i := range stored {
		if stored[i].Email == email {
			found = &stored[i]
		}
	}
	p := directory.Person{Person: policies.Person{Email: email}, Sources: map[string]string{}}
	if found != nil {
		p = *found
	}
	// The policy file's own entry wins, as Build applied it.
	if own, ok := m.Policy.OwnPeople()[email]; ok {
		if own.Department != "" {
			p.Department, p.Sources["department"] = own.Department, directory.SourcePolicy
		}
		if own.Manager != "" {
			p.Manager, p.Sources["manager"] = own.Manager, directory.SourcePolicy
		}
		if own.Employment != "" {
			p.Employment, p.Sources["employment"] = own.Employment, directory.SourcePolicy
		}
	} else if found == nil {
		if at.IsZero() {
			return c.fail(exitFailure, "%s is not in the policy file, and the directory was never synced (jitbot directory sync)", email)
		}
		return c.fail(exitFailure, "%s is in neither the policy file nor the directory synced %s", email, at.Format("2006-01-02 15:04Z"))
	}
	fmt.Fprint(c.stdout, directory.Describe(p))
	if !at.IsZero() {
		fmt.Fprintf(c.stdout, "%-11s %s\n", "synced:", at.Format("2006-01-02 15:04Z"))
	}
	return exitOK
}

// directoryLoop syncs the directory now, then every sync_every, and puts
// the synced directory in force when it changed. A failed or refused sync
// keeps the directory in force (the Syncer recorded and alerted it).
//
// Each sync takes the directory settings of the policy in force: a reload
// that adds, removes or changes a source (or employment_values,
// sync_every) wakes the loop to sync at once with them. The sources a
// reload left as they were keep their clients (and paces: m.sources,
// which the licence review shares); the merged result still goes through
// max_drop against the last good directory, so a source removed with most
// of the people in it is refused, not obeyed. With no sources in force
// the loop waits for a reload that adds some.
func (m *Main) directoryLoop(ctx context.Context) error {
	log := m.Log.Named("directory")
	var unbuilt string // the build problem IT was last alerted to
	for {
		var every time.Duration
		if p := m.Service.Policy(); p.Directory != nil && len(p.Directory.Sources) > 0 {
			if m.syncDirectory(ctx, log, p, &unbuilt) {
				return nil
			}
			every = p.Directory.SyncEvery
		} else {
			m.noteUnbuilt(ctx, log, nil, &unbuilt)
		}
		var t clockwork.Timer
		var tick <-chan time.Time
		if every > 0 {
			t = m.Clock.NewTimer(every)
			tick = t.Chan()
		}
		select {
		case <-ctx.Done():
		case <-tick:
		case <-m.directoryWake:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// syncDirectory runs one sync with policy p's sources and puts the result
// in force. unbuilt is the build problem IT was last alerted to
// (noteUnbuilt). It reports whether ctx ended.
func (m *Main) syncDirectory(ctx context.Context, log *zap.Logger, p *policies.Policy, unbuilt *string) (done bool) {
	sources, err := m.sources.sources(p.Directory) // sources.go
	m.noteUnbuilt(ctx, log, err, unbuilt)
	s := m.syncer(p, sources)
	s.Alert = func(ctx context.Context, msg string) {
		for _, src := range sources {
			if b, ok := src.(*brokenSource); ok && b.listed {
				// The sync stopped at a source that could not be built:
				// noteUnbuilt alerts that once, not at every sync.
				return
			}
		}
		_ = m.Service.RaiseAlert(ctx, "", msg)
	}
	res, err := s.Sync(ctx)
	switch {
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		return true
	case err != nil:
		log.Error("directory sync failed; the directory in force stays", zap.Error(err))
		return false
	}
	log.Info("directory synced", zap.Int("people", len(res.People)), zap.Int("changes", len(res.Changes)), zap.Int("problems", len(res.Problems)))
	for _, pr := range res.Problems {
		log.Warn("directory problem", zap.String("problem", pr.String()))
	}
	// The policy in force now, not p: a reload during the sync stays in
	// force, with the synced people under it.
	m.policyMu.Lock()
	defer m.policyMu.Unlock()
	cur := m.Service.Policy()
	if len(res.Changes) == 0 && cur.Synced() {
		return false
	}
	np := cur.WithPeople(directory.People(res.People, cur.OwnPeople()))
	if err := m.Service.SetPolicy(ctx, np); err != nil {
		log.Error("the synced directory could not be put in force", zap.Error(err))
	} else if m.Review != nil {
		m.Review.SetPolicy(np)
	}
	return false
}

// noteUnbuilt alerts IT once per distinct problem with building the
// directory sources (err, nil when every source built), not at every
// sync: again only when the problem changes. The log says each time
// whether IT was alerted, and when the sources build again. last is the
// problem last alerted; an alert that could not be recorded is tried
// again at the next sync.
func (m *Main) noteUnbuilt(ctx context.Context, log *zap.Logger, err error, last *string) {
	problem := ""
	if err != nil {
		problem = err.Error()
	}
	switch {
	case problem == "" && *last != "":
		log.Info("the directory sources are set up again: the problem IT was alerted to is gone", zap.String("was", *last))
	case problem == "":
	case problem == *last:
		log.Warn("a directory source still cannot be set up; IT was alerted when this problem began, and is not alerted again until it changes", zap.Error(err))
	default:
		msg := fmt.Sprintf("jitbot cannot set up a directory source of the policy in force; directory syncs keep the last good directory until this is fixed:\n%s\nThis alert is sent once, and again only if the problem changes.", problem)
		if aerr := m.Service.RaiseAlert(ctx, "", msg); aerr != nil {
			log.Error("a directory source cannot be set up, and the alert could not be recorded: it is tried again at the next sync", zap.Error(err), zap.NamedError("alert_error", aerr))
			return
		}
		log.Error("a directory source cannot be set up; IT was alerted, once until the problem changes", zap.Error(err))
	}
	*last = problem
}

// wakeDirectory makes the directory loop sync at once when the directory
// settings changed from old to p (their sources' lines aside).
func (m *Main) wakeDirectory(old, p *policies.Policy) {
	settings := func(p *policies.Policy) *policies.DirectorySettings {
		if p == nil || p.Directory == nil {
			return &policies.DirectorySettings{}
		}
		d := *p.Directory
		d.Sources = slices.Clone(d.Sources)
		for i := range d.Sources {
			d.Sources[i].Line = 0
		}
		return &d
	}
	if reflect.DeepEqual(settings(old), settings(p)) {
		return
	}
	m.wake()
}

// SyncDirectoryNow makes the directory loop sync at once, as a reload
// that changed the sources does (the playground's Sync now button). It
// reports false when this database keeps no synced directory, so no loop
// runs.
func (m *Main) SyncDirectoryNow() bool {
	if m.directoryWake == nil {
		return false
	}
	m.wake()
	return true
}

func (m *Main) wake() {
	select {
	case m.directoryWake <- struct{}{}:
	default: // a wake is pending already
	}
}

// explainDirectory gives policy explain the synced directory, when the
// policy has directory sources and the database can be read; otherwise it
// says why the file's people alone are used.
func (c *cli) explainDirectory(cfg *Config, p *policies.Policy) *policies.Policy {
	if p.Directory == nil || len(p.Directory.Sources) == 0 {
		return p
	}
	db, err := cfg.openDB(c.ctx, true)
	if err == nil {
		defer db.Close()
		var np *policies.Policy
		if np, err = withDirectory(c.ctx, db, p); err == nil {
			if !np.Synced() {
				fmt.Fprintln(c.stderr, "note: the directory was never synced (jitbot directory sync): only the policy file's people are known")
			}
			return np
		}
	}
	fmt.Fprintf(c.stderr, "note: the synced directory could not be read (%v): only the policy file's people are known\n", err)
	return p
}

// managerSource names where a person's manager came from.
func managerSource(p *policies.Person) string {
	if p.ManagerFrom == "" {
		return directory.SourcePolicy + " file"
	}
	if p.ManagerFrom == directory.SourcePolicy {
		return "policy file"
	}
	return p.ManagerFrom
}
