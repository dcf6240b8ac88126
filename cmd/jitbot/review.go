package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/review"
	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"
	"golang.org/x/term"
)

// openReview wires the licence review into jitbot run: the engine on the
// same database, its suspension job on the approvals engine's access lane,
// and its scheduler beside the other loops. Without the Admin API settings
// it still runs (reports and prompts work); syncs and suspensions fail
// with a sentence saying which settings are missing.
func (m *Main) openReview(ctx context.Context) error {
	cfg := review.Config{Store: m.DB, Policy: m.Policy, Access: m.Service, Clock: m.Clock, Observer: m.Metrics,
		Log: m.Log.Named("review"), DryRun: m.Config.DryRun,
		IdPs: newIDPFinder(m.getenv, m.Policy, m.DB, m.DB, m.Log.Named("review"), m.Providers)} // idp.go
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
		IdPs: newIDPFinder(c.getenv, p, db, db, nil, nil)} // idp.go
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

func (c *cli) activitySync(args []string) int {
	fs := flag.NewFlagSet("activity sync", flag.ContinueOnError)
	var cfg Config
	c.commonFlags(fs, &cfg)
	retention := fs.String("retention", c.env("JITBOT_ACTIVITY_RETENTION", "400d"), "how many days of activity snapshots to keep (env JITBOT_ACTIVITY_RETENTION)")
	if code := c.parse(fs, args, "jitbot activity sync [--retention 400d]", 0); code >= 0 {
		return code
	}
	keep, err := policies.ParseDuration(*retention)
	if err != nil {
		return c.fail(exitUsage, "--retention: %v", err)
	}
	env, code := c.openReview(&cfg, c.policyFrom(fs), false, true, keep)
	if code >= 0 {
		return code
	}
	defer env.db.Close()
	pr := newSyncProgress(c.stderr)
	rec, err := env.eng.Sync(c.ctx, pr.update)
	pr.finish()
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	fmt.Fprintf(c.stdout, "synced %d users in %d pages (%d activity snapshots) in %s; %d no longer in Atlassian; %d snapshots older than %s pruned\n",
		rec.Users, rec.Pages, rec.Snapshots, rec.FinishedAt.Sub(rec.StartedAt).Round(time.Millisecond), rec.Gone, rec.Pruned, *retention)
	return exitOK
}

// isTerminal reports whether w is a terminal (tests replace it).
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// syncProgress shows a sync's progress: a bar with counts, rate and ETA on
// a terminal, a plain line per 10 % otherwise (per 1,000 users when the
// size of the directory is not known yet).
type syncProgress struct {
	w       io.Writer
	tty     bool
	bar     *progressbar.ProgressBar
	nextPct int
	nextN   int
}

func newSyncProgress(w io.Writer) *syncProgress {
	return &syncProgress{w: w, tty: isTerminal(w), nextPct: 10, nextN: 1000}
}

func (p *syncProgress) update(s review.SyncProgress) {
	rate := 0.0
	if secs := s.Elapsed.Seconds(); secs > 0 {
		rate = float64(s.Users) / secs
	}
	if p.tty {
		if p.bar == nil {
			max := int64(-1)
			if s.Expected > 0 {
				max = int64(s.Expected)
			}
			p.bar = progressbar.NewOptions64(max, progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription("syncing users"),
				progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("users"),
				progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionFullWidth())
		}
		if s.Expected > 0 && s.Users > s.Expected {
			p.bar.ChangeMax(s.Users)
		}
		_ = p.bar.Set(s.Users)
		return
	}
	if s.Expected <= 0 {
		if s.Users >= p.nextN {
			fmt.Fprintf(p.w, "activity sync: %d users, %.0f users/s\n", s.Users, rate)
			for p.nextN <= s.Users {
				p.nextN += 1000
			}
		}
		return
	}
	pct := s.Users * 100 / s.Expected
	if pct < p.nextPct {
		return
	}
	eta := ""
	if rate > 0 && s.Users < s.Expected {
		eta = fmt.Sprintf(", about %s left", (time.Duration(float64(s.Expected-s.Users)/rate) * time.Second).Round(time.Second))
	}
	fmt.Fprintf(p.w, "activity sync: %d%% — %d of ~%d users, %.0f users/s%s\n", min(pct, 100), s.Users, s.Expected, rate, eta)
	for p.nextPct <= pct {
		p.nextPct += 10
	}
}

func (p *syncProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
	}
}

// activityRow is one person's activity as activity show prints it.
type activityRow struct {
	Email      string            `json:"email"`
	Name       string            `json:"name,omitempty"`
	AccountID  string            `json:"account_id,omitempty"`
	Department string            `json:"department,omitempty"`
	Manager    string            `json:"manager,omitempty"`
	Status     string            `json:"status"`
	AddedToOrg time.Time         `json:"added_to_org,omitzero"`
	Rule       string            `json:"review_rule,omitempty"`
	Products   []productActivity `json:"products"`
	History    []review.Snapshot `json:"history,omitempty"`
}

type productActivity struct {
	Key        string    `json:"key"`
	LastActive time.Time `json:"last_active,omitzero"`
	IdleDays   int       `json:"idle_days"`
}

func (c *cli) activityShow(args []string) int {
	fs := flag.NewFlagSet("activity show", flag.ContinueOnError)
	var cfg Config
	c.commonFlags(fs, &cfg)
	dept := fs.String("department", "", "only people of this department")
	format := fs.String("format", "table", "table | csv | json")
	history := fs.Bool("history", false, "with EMAIL: every day's snapshot too (when was the person last active, as seen each day)")
	if code := c.parse(fs, args, "jitbot activity show [EMAIL | --department D] [--format table|csv|json] [--history]", 1); code >= 0 {
		return code
	}
	if !slices.Contains([]string{"table", "csv", "json"}, *format) {
		return c.fail(exitUsage, "--format %q: expected table, csv or json", *format)
	}
	if fs.NArg() > 1 || (fs.NArg() == 1 && *dept != "") {
		return c.fail(exitUsage, "activity show takes one email or --department, not both")
	}
	env, code := c.openReview(&cfg, c.policyFrom(fs), true, false, 0)
	if code >= 0 {
		return code
	}
	defer env.db.Close()
	email := strings.ToLower(strings.TrimSpace(fs.Arg(0)))
	now := time.Now()
	p := env.policy
	var rows []activityRow
	seen := map[string]bool{}
	err := env.db.ViewReview(c.ctx, func(tx review.Tx) error {
		return tx.EachUser(func(u *review.User) error {
			if email != "" && u.Email != email {
				return nil
			}
			d, employment, person := p.ReviewSubject(u.Email, u.Department)
			if *dept != "" && !strings.EqualFold(d, *dept) {
				return nil
			}
			seen[u.Email] = true
			row := activityRow{Email: u.Email, Name: u.Name, AccountID: u.AccountID, Department: d, AddedToOrg: u.AddedToOrg,
				Status: userStatus(u)}
			if person != nil {
				row.Manager = person.Manager
			}
			if r := p.Review.RuleFor(u.Email, d, employment); r != nil && u.IsPerson() {
				row.Rule = r.Name
			}
			for _, pa := range u.Products {
				pr := productActivity{Key: pa.Key, LastActive: pa.LastActive}
				since := pa.LastActive
				if since.IsZero() {
					since = u.AddedToOrg
				}
				if !since.IsZero() {
					pr.IdleDays = int(now.Sub(since) / policies.Day)
				}
				row.Products = append(row.Products, pr)
			}
			if *history && email != "" {
				h, err := tx.Activity(u.AccountID, time.Time{})
				if err != nil {
					return err
				}
				row.History = h
			}
			rows = append(rows, row)
			return nil
		})
	})
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	// People jitbot's directory knows that Atlassian does not.
	for _, per := range p.People {
		if seen[per.Email] || (email != "" && per.Email != email) || (*dept != "" && !strings.EqualFold(per.Department, *dept)) {
			continue
		}
		rows = append(rows, activityRow{Email: per.Email, Department: per.Department, Manager: per.Manager, Status: "not in Atlassian"})
	}
	slices.SortFunc(rows, func(a, b activityRow) int { return strings.Compare(a.Email, b.Email) })
	if email != "" && len(rows) == 0 {
		return c.fail(exitFailure, "%s is neither in the synced Atlassian directory nor in jitbot's (run jitbot activity sync)", email)
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if rows == nil {
			rows = []activityRow{}
		}
		err = enc.Encode(rows)
	case "csv":
		err = writeActivityCSV(c.stdout, rows)
	default:
		err = writeActivityTable(c.stdout, rows)
	}
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	return exitOK
}

func userStatus(u *review.User) string {
	switch {
	case u.Gone:
		return "no longer in Atlassian"
	case !u.IsPerson():
		return "app account (" + u.AccountType + ")"
	case u.Suspended():
		return "suspended"
	case u.AccountStatus != "" && u.AccountStatus != review.AccountActive:
		return u.AccountStatus
	}
	return "active"
}

func lastActive(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02")
}

func writeActivityTable(w io.Writer, rows []activityRow) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "(nobody: run jitbot activity sync first?)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tDEPARTMENT\tMANAGER\tSTATUS\tPRODUCT\tLAST ACTIVE\tDAYS IDLE\tREVIEW RULE")
	for _, r := range rows {
		if len(r.Products) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\tnever\t-\t%s\n", r.Email, dashed(r.Department), dashed(r.Manager), r.Status, dashed(r.Rule))
		}
		for _, p := range r.Products {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Email, dashed(r.Department), dashed(r.Manager), r.Status,
				p.Key, lastActive(p.LastActive), p.IdleDays, dashed(r.Rule))
		}
		for _, h := range r.History {
			fmt.Fprintf(tw, "  seen %s\t\t\t\t%s\t%s\t\t\n", h.Day.Format("2006-01-02"), h.Product, lastActive(h.LastActive))
		}
	}
	return tw.Flush()
}

func writeActivityCSV(w io.Writer, rows []activityRow) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"email", "name", "account_id", "department", "manager", "status", "product", "last_active", "days_idle", "review_rule"})
	for _, r := range rows {
		base := []string{r.Email, r.Name, r.AccountID, r.Department, r.Manager, r.Status}
		ps := r.Products
		if len(ps) == 0 {
			ps = []productActivity{{}}
		}
		for _, p := range ps {
			rec := append(slices.Clone(base), p.Key, lastActive(p.LastActive), fmt.Sprint(p.IdleDays), r.Rule)
			for i := range rec {
				rec[i] = review.CSVCell(rec[i])
			}
			cw.Write(rec)
		}
	}
	cw.Flush()
	return cw.Error()
}

func dashed(s string) string {
	if s == "" {
		return "-"
	}
	return s
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
	if !slices.Contains([]string{"table", "csv", "json", "png"}, *format) {
		return c.fail(exitUsage, "--format %q: expected table, csv, json or png", *format)
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

func (c *cli) usersRestore(args []string) int {
	fs := flag.NewFlagSet("users restore", flag.ContinueOnError)
	var cfg Config
	c.commonFlags(fs, &cfg)
	by := fs.String("by", c.env("JITBOT_OPERATOR", "cli:"+c.env("USER", "operator")), "who restores (env JITBOT_OPERATOR)")
	if code := c.parse(fs, args, "jitbot users restore EMAIL", 1); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		return c.fail(exitUsage, "users restore takes one email")
	}
	env, code := c.openReview(&cfg, c.policyFrom(fs), false, true, 0)
	if code >= 0 {
		return code
	}
	defer env.db.Close()
	rep, err := env.eng.Restore(c.ctx, fs.Arg(0), *by)
	if err != nil {
		var de *approvals.Error
		if errors.As(err, &de) {
			return c.fail(exitFailure, "%s", de.Message)
		}
		return c.fail(exitFailure, "%v", err)
	}
	writeRestore(c.stdout, rep)
	if len(rep.Failed) > 0 {
		return exitFailure
	}
	return exitOK
}

func writeRestore(w io.Writer, rep *review.RestoreReport) {
	fmt.Fprintf(w, "%s restored (Admin API v2 restore); inactivity now counts from %s\n", rep.Email, rep.At.Format("2006-01-02 15:04Z"))
	if !rep.Recorded {
		fmt.Fprintln(w, "jitbot had no record of their memberships at suspension: nothing to compare")
	}
	list := func(label string, gs []review.Group) {
		if len(gs) == 0 {
			return
		}
		names := make([]string, len(gs))
		for i, g := range gs {
			names[i] = g.Name
		}
		fmt.Fprintf(w, "  %s: %s\n", label, strings.Join(names, ", "))
	}
	list("back with the account", rep.Back)
	list("re-added", rep.ReAdded)
	list("group no longer exists (reported, not recreated)", rep.Deleted)
	for _, f := range rep.Forbidden {
		fmt.Fprintf(w, "  not re-added: %s — %s\n", f.Name, f.Why)
	}
	for _, f := range rep.Failed {
		fmt.Fprintf(w, "  FAILED to re-add %s: %s\n", f.Name, f.Error)
	}
	if len(rep.Roles) > 0 {
		fmt.Fprintf(w, "  roles recorded at suspension: %s\n", strings.Join(rep.Roles, ", "))
	}
}

// explainReview prints which review rule covers a person, why, and when
// its next run is (policy explain --user).
func (c *cli) explainReview(p *policies.Policy, cfg *Config, email string) int {
	email = strings.ToLower(strings.TrimSpace(email))
	w := c.stdout
	var (
		u      *review.User
		scheds []review.RuleSchedule
	)
	// The database is optional here: without it the next run is computed
	// from now and the person's Atlassian attributes are unknown.
	if db, err := cfg.openDB(c.ctx, true); err == nil {
		db.ViewReview(c.ctx, func(tx review.Tx) error {
			u, _ = tx.UserByEmail(email)
			return nil
		})
		scheds, _ = review.New(review.Config{Store: db, Policy: p}).Schedules(c.ctx)
		db.Close()
	}
	atlDept := ""
	if u != nil {
		atlDept = u.Department
	}
	dept, employment, person := p.ReviewSubject(email, atlDept)
	fmt.Fprintf(w, "person:        %s", email)
	switch {
	case person != nil:
		fmt.Fprintf(w, " (jitbot directory: department %s, employment %s, manager %s)\n", dashed(dept), dashed(employment), dashed(person.Manager))
	case u != nil:
		fmt.Fprintf(w, " (not in jitbot's directory: no manager, reviews go to IT as unassigned; Atlassian department %s)\n", dashed(dept))
	default:
		fmt.Fprintln(w, " (in neither jitbot's directory nor the synced Atlassian directory)")
	}
	if u != nil && !u.IsPerson() {
		fmt.Fprintf(w, "review:        never — %s is an app account (%s)\n", email, u.AccountType)
		return exitOK
	}
	var rule *policies.ReviewRule
	for _, r := range p.Review.Rules {
		if why := r.If.Mismatch(email, dept, employment); why != "" {
			fmt.Fprintf(w, "not rule %-6q %s\n", r.Name+":", why)
			continue
		}
		rule = r
		break
	}
	if rule == nil {
		fmt.Fprintln(w, "review rule:   none covers this person: their licences are not reviewed")
		return exitFailure
	}
	fmt.Fprintf(w, "review rule:   %s (%s line %d): covers %s\n", rule.Name, p.Source, rule.Line, rule.If.Describe())
	products := "every product they have"
	if len(rule.Products) > 0 {
		products = strings.Join(rule.Products, ", ")
	}
	fmt.Fprintf(w, "inactive:      %s in %s\n", policies.FormatDuration(rule.InactiveFor), products)
	action := rule.Action
	switch rule.Action {
	case policies.ReviewPromptManager:
		who := "their manager"
		if person == nil || person.Manager == "" {
			who = "IT (no manager)"
		}
		action += " — " + who + " is asked"
		if rule.AnswerWithin > 0 {
			action += ", answer within " + policies.FormatDuration(rule.AnswerWithin) + " or " + rule.Default
		}
	case policies.ReviewSuspend:
		if rule.WarnBefore > 0 {
			action += " after a warning " + policies.FormatDuration(rule.WarnBefore) + " before"
		}
	}
	if rule.DryRun {
		action += " (dry run: nothing is changed)"
	}
	fmt.Fprintf(w, "action:        %s\n", action)
	if why, ok := rule.Excluded(email, userGroups(u)); ok {
		fmt.Fprintf(w, "excluded:      yes, by %s\n", why)
	}
	next := rule.Next(time.Now())
	for _, sc := range scheds {
		if sc.Rule == rule {
			next = sc.Next
		}
	}
	fmt.Fprintf(w, "next run:      %s (%s)\n", next.In(p.Review.Loc()).Format("2006-01-02 15:04 MST"), rule.Schedule)
	return exitOK
}

func userGroups(u *review.User) []string {
	if u == nil {
		return nil
	}
	return u.Groups
}

// explainUser is policy explain --user.
func (c *cli) explainUser(cfg *Config, from, email string) int {
	p, err := loadPolicy(cfg.Policy, from)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitFailure
	}
	return c.explainReview(p, cfg, email)
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
