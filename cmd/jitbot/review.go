package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/review"
	"go.uber.org/zap"
)

// openReview wires the licence review into jitbot run: the engine on the
// same database, its suspension job on the approvals engine's access lane,
// and its scheduler beside the other loops. Without the Admin API settings
// it still runs (reports and prompts work); syncs and suspensions fail
// with a sentence saying which settings are missing.
func (m *Main) openReview(ctx context.Context) error {
	cfg := review.Config{Store: m.DB, Policy: m.Policy, Access: m.Service, Clock: m.Clock, Observer: m.Metrics,
		Log: m.Log.Named("review"), DryRun: m.Config.DryRun,
		// The policy in force and the directory loop's sources (idp.go).
		IdPs: newIDPFinder(func() *policies.DirectorySettings { return m.Service.Policy().Directory }, m.DB, m.sources, m.Log.Named("review"))}
	if len(m.Policy.Review.Rules) > 0 {
		dir, acc, err := m.reviewAdmin()
		switch {
		case err != nil && m.Config.DryRun:
			// A dry run touches no Atlassian: the missing settings are
			// not a problem yet, only what a real start will need.
			m.Log.Info("dry run: licence reviews run on the stored directory only", zap.Error(err))
		case err != nil:
			m.Log.Warn("licence reviews run on the stored directory only: no activity sync, no suspension", zap.Error(err))
		default:
			cfg.Directory, cfg.Accounts = dir, acc
		}
	}
	m.Review = review.New(cfg)
	// The suspension runs on the access lane; the Slack bot (openSlack)
	// registers the message kinds it delivers (review.MessageJobs).
	m.Review.RegisterJobs(m.Service)
	m.frontEnds = append(m.frontEnds, m.leading(m.Review.Loop)) // one replica schedules reviews
	return nil
}

// reviewEnv is what a review command works with.
type reviewEnv struct {
	db     database
	policy *policies.Policy
	eng    *review.Engine
	svc    *approvals.Service // the approvals engine on the same database
}

// openReview loads the policy and the database and builds the engine;
// withAdmin also connects the Admin API.
func (c *cli) openReview(cfg *Config, from string, readOnly, withAdmin bool, retention time.Duration) (*reviewEnv, int) {
	p, err := loadPolicy(cfg.Policy, from)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return nil, exitFailure
	}
	db, err := cfg.openDB(c.ctx, readOnly)
	if err != nil {
		return nil, c.fail(exitFailure, "%v", err)
	}
	if p, err = withDirectory(c.ctx, db, p); err != nil { // idp.go: managers the IdPs know
		db.Close()
		return nil, c.fail(exitFailure, "read the synced directory: %v", err)
	}
	// The CLI records and queues; the running bot's lanes perform the jobs.
	svc := approvals.New(approvals.Config{Store: db, Policy: p})
	rc := review.Config{Store: db, Policy: p, Retention: retention, Access: svc,
		IdPs: newIDPFinder(func() *policies.DirectorySettings { return p.Directory }, db, idpSources(c.getenv, db), nil)} // idp.go
	if withAdmin {
		dir, acc, err := reviewAdmin(c.getenv, db, nil)
		if err != nil {
			db.Close()
			return nil, c.fail(exitFailure, "%v", err)
		}
		rc.Directory, rc.Accounts = dir, acc
	}
	env := &reviewEnv{db: db, policy: p, eng: review.New(rc), svc: svc}
	env.eng.RegisterJobs(svc)
	return env, -1
}

func (c *cli) reviewList(args []string) int {
	fs := flag.NewFlagSet("review list", flag.ContinueOnError)
	var cfg Config
	c.commonFlags(fs, &cfg)
	if code := c.parse(fs, args, "jitbot review list", 0); code >= 0 {
		return code
	}
	env, code := c.openReview(&cfg, c.policyFrom(fs), true, false, 0)
	if code >= 0 {
		return code
	}
	defer env.db.Close()
	scheds, err := env.eng.Schedules(c.ctx)
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	if len(scheds) == 0 {
		fmt.Fprintln(c.stdout, "(the policy has no reviews: rules)")
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tCOVERS\tINACTIVE FOR\tACTION\tSCHEDULE\tNEXT RUN\tLAST RUN")
	for _, s := range scheds {
		r := s.Rule
		action := r.Action
		if r.DryRun {
			action += " (dry run)"
		}
		last := "-"
		if runs, err := env.eng.Runs(c.ctx, review.RunFilter{Rule: r.Name, Limit: 1}); err == nil && len(runs) > 0 {
			last = runs[0].StartedAt.Format("2006-01-02 15:04Z") + " " + string(runs[0].State) + " " + approvals.Short(runs[0].ID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.If.Describe(), policies.FormatDuration(r.InactiveFor), action,
			r.Schedule, s.Next.In(env.policy.Review.Loc()).Format("2006-01-02 15:04 MST"), last)
	}
	return flushCode(c, tw)
}

func flushCode(c *cli, tw *tabwriter.Writer) int {
	if err := tw.Flush(); err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	return exitOK
}

func (c *cli) reviewRun(args []string) int {
	fs := flag.NewFlagSet("review run", flag.ContinueOnError)
	var cfg Config
	c.commonFlags(fs, &cfg)
	dry := fs.Bool("dry-run", false, "report what would happen and change nothing: the report is printed here, nothing is posted in Slack")
	post := fs.Bool("post", false, "with --dry-run: also post the dry run's digest in the rule's digest channel")
	if code := c.parse(fs, args, "jitbot review run NAME [--dry-run [--post]]", 1); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		return c.fail(exitUsage, "review run takes the name of one review rule (see jitbot review list)")
	}
	env, code := c.openReview(&cfg, c.policyFrom(fs), false, false, 0)
	if code >= 0 {
		return code
	}
	defer env.db.Close()
	rule, ok := env.policy.Review.Rule(fs.Arg(0))
	if !ok {
		return c.fail(exitUsage, "no review rule %q in %s", fs.Arg(0), env.policy.Source)
	}
	if *post && !*dry {
		return c.fail(exitUsage, "--post goes with --dry-run (a real run posts its digest anyway)")
	}
	run, err := env.eng.RunReview(c.ctx, rule, review.RunOptions{DryRun: *dry, Trigger: review.TriggerManual, Silent: *dry && !*post})
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	rep, err := env.eng.Report(c.ctx, run.ID)
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	if err := rep.WriteTable(c.stdout); err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	if !run.DryRun && run.State == review.RunOpen {
		fmt.Fprintln(c.stdout, "\nPrompts, warnings and suspensions are queued: the running bot delivers and performs them.")
	}
	return exitOK
}

func (c *cli) reviewRuns(args []string) int {
	fs := flag.NewFlagSet("review runs", flag.ContinueOnError)
	var cfg Config
	c.commonFlags(fs, &cfg)
	rule := fs.String("rule", "", "only runs of this rule")
	limit := fs.Int("limit", 50, "at most this many, newest first")
	if code := c.parse(fs, args, "jitbot review runs [--rule NAME] [--limit N]", 0); code >= 0 {
		return code
	}
	env, code := c.openReview(&cfg, c.policyFrom(fs), true, false, 0)
	if code >= 0 {
		return code
	}
	defer env.db.Close()
	runs, err := env.eng.Runs(c.ctx, review.RunFilter{Rule: *rule, Limit: *limit})
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	if len(runs) == 0 {
		fmt.Fprintln(c.stdout, "(no runs)")
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tRULE\tSTARTED\tSTATE\tTRIGGER\tCOVERED\tLISTED\tOUTCOMES")
	for _, r := range runs {
		var counts map[review.ItemState]int
		env.db.ViewReview(c.ctx, func(tx review.Tx) error {
			var err error
			counts, err = tx.ItemCounts(r.ID)
			return err
		})
		var outs []string
		for _, s := range sortedKeys(stateCounts(counts)) {
			outs = append(outs, fmt.Sprintf("%s %d", review.ItemState(s).Outcome(), counts[review.ItemState(s)]))
		}
		state := string(r.State)
		if r.DryRun {
			state += " (dry run)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", approvals.Short(r.ID), r.Rule, r.StartedAt.Format("2006-01-02 15:04Z"),
			state, r.Trigger, r.Counts.Covered, r.Counts.Items, dashed(strings.Join(outs, ", ")))
	}
	return flushCode(c, tw)
}

func stateCounts(m map[review.ItemState]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[string(k)] = v
	}
	return out
}

func (c *cli) reviewReport(args []string) int {
	fs := flag.NewFlagSet("review report", flag.ContinueOnError)
	var cfg Config
	c.commonFlags(fs, &cfg)
	runID := fs.String("run", "", "the run (default: the latest)")
	format := fs.String("format", "table", "table | csv | json | png (the digest's chart)")
	on := fs.String("suspended-on", "", "instead: everyone suspended on this day (YYYY-MM-DD, UTC), under which rule, who decided and why")
	if code := c.parse(fs, args, "jitbot review report [--run ID] [--format csv|json|table|png] [--suspended-on DATE]", 0); code >= 0 {
		return code
	}
	if msg := badFormat(*format, "table", "csv", "json", "png"); msg != "" {
		return c.fail(exitUsage, "%s", msg)
	}
	env, code := c.openReview(&cfg, c.policyFrom(fs), true, false, 0)
	if code >= 0 {
		return code
	}
	defer env.db.Close()
	var rep *review.Report
	if *on != "" {
		d, err := time.Parse("2006-01-02", *on)
		if err != nil {
			return c.fail(exitUsage, "--suspended-on %q: expected a date like 2026-12-01", *on)
		}
		items, err := env.eng.Items(c.ctx, review.ItemFilter{States: []review.ItemState{review.ItemSuspended}})
		if err != nil {
			return c.fail(exitFailure, "%v", err)
		}
		var day []*review.Item
		for _, it := range items {
			if !it.DoneAt.Before(d) && it.DoneAt.Before(d.Add(policies.Day)) {
				day = append(day, it)
			}
		}
		rep = review.BuildReport(&review.Run{ID: "suspended-on-" + *on, Rule: "(every rule)", AsOf: d.Add(policies.Day),
			State: review.RunClosed}, day, env.policy.Review.LicenceCosts)
	} else {
		id := *runID
		if id == "" {
			runs, err := env.eng.Runs(c.ctx, review.RunFilter{Limit: 1})
			if err != nil {
				return c.fail(exitFailure, "%v", err)
			}
			if len(runs) == 0 {
				return c.fail(exitFailure, "no review has run yet (jitbot review run NAME)")
			}
			id = runs[0].ID
		}
		var err error
		if rep, err = env.eng.Report(c.ctx, id); err != nil {
			var de *approvals.Error
			if errors.As(err, &de) {
				return c.fail(exitFailure, "%s", de.Message)
			}
			return c.fail(exitFailure, "%v", err)
		}
	}
	var err error
	switch *format {
	case "csv":
		err = rep.WriteCSV(c.stdout)
	case "json":
		err = rep.WriteJSON(c.stdout)
	case "png":
		err = rep.WritePNG(c.stdout)
	default:
		err = rep.WriteTable(c.stdout)
	}
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	return exitOK
}

// reviewAnswer is IT answering for one person from the command line (the
// managers answer in Slack): recorded as IT's decision, with the reason.
func (c *cli) reviewAnswer(args []string) int {
	fs := flag.NewFlagSet("review answer", flag.ContinueOnError)
	var cfg Config
	c.commonFlags(fs, &cfg)
	keep := fs.Bool("keep", false, "keep the person's access (needs --reason)")
	suspend := fs.Bool("suspend", false, "suspend the person (the running bot performs it)")
	reason := fs.String("reason", "", "why: the business reason for a Keep (recorded as evidence)")
	by := fs.String("by", c.env("JITBOT_OPERATOR", "cli:"+c.env("USER", "operator")), "who answers, as IT (env JITBOT_OPERATOR)")
	if code := c.parse(fs, args, "jitbot review answer ITEM --keep|--suspend [--reason TEXT]", 1); code >= 0 {
		return code
	}
	if fs.NArg() != 1 || *keep == *suspend {
		return c.fail(exitUsage, "review answer takes one item id (see jitbot review report --format json) and one of --keep or --suspend")
	}
	env, code := c.openReview(&cfg, c.policyFrom(fs), false, false, 0)
	if code >= 0 {
		return code
	}
	defer env.db.Close()
	it, err := env.eng.Answer(c.ctx, review.AnswerInput{ItemID: fs.Arg(0), By: *by, Keep: *keep, Reason: *reason, AsIT: true})
	if err != nil {
		var de *approvals.Error
		if errors.As(err, &de) {
			return c.fail(exitFailure, "%s", de.Message)
		}
		return c.fail(exitFailure, "%v", err)
	}
	what := "kept"
	if !*keep {
		what = "to be suspended (the running bot suspends them)"
	}
	fmt.Fprintf(c.stdout, "%s: %s, by %s\n", it.Email, what, it.DecidedBy)
	return exitOK
}
