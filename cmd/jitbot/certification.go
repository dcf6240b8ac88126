package main

import (
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jitbot/jitbot"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/certify"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner"
	"go.uber.org/zap"
)

// The certifications of standing access on the command line: `jitbot
// report standing` (the population: every member of a managed group that
// no grant covers) and `jitbot certification list|run|report`.

// openCertify wires the certifications into jitbot run: the engine on the
// same database, its removal job on the approvals engine's access lane,
// its scheduler on the leading replica; the Slack bot (openSlack)
// registers the message kinds it delivers (certify.MessageJobs).
func (m *Main) openCertify() {
	m.Certify = certify.New(certify.Config{Store: m.DB, Access: m.Service, Resolver: m.Service, ITGroup: m.getenv("JITBOT_IT_GROUP"), Clock: m.Clock,
		Log: m.Log.Named("certify"), DryRun: m.Config.DryRun})
	m.frontEnds = append(m.frontEnds, m.leading(m.Certify.Loop))
}

// certEnv is a certification engine over the database, with the providers
// that list group members.
type certEnv struct {
	db     database
	policy *policies.Policy
	eng    *certify.Engine
}

// openCert loads the policy and the database and builds the engine. The
// read commands open the database read-only.
func (c *cli) openCert(cfg *Config, from string, readOnly bool, progress func(string, int, int, int)) (*certEnv, int) {
	p, err := loadPolicy(cfg.Policy, from)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return nil, exitFailure
	}
	db, err := cfg.openDB(c.ctx, readOnly)
	if err != nil {
		return nil, c.fail(exitFailure, "%v", err)
	}
	provs := map[string]approvals.Provisioner{}
	for name := range p.Groups() {
		if name == provisioner.NameDryRun {
			provs[name] = provisioner.NewDryRun(db, zap.NewNop())
			continue
		}
		// The account cache names members whose email Atlassian hides
		// (a read; listing members writes nothing).
		lp, err := newLiveProvider(c.getenv, name, p.Directory, db, zap.NewNop(), nil)
		if err != nil {
			db.Close()
			return nil, c.fail(exitFailure, "provider %s: %v", name, err)
		}
		provs[name] = lp
	}
	// The CLI records and queues; the running bot's access lane removes.
	svc := approvals.New(approvals.Config{Store: db, Policy: p, Providers: provs})
	eng := certify.New(certify.Config{Store: db, Access: svc, Progress: progress})
	return &certEnv{db: db, policy: p, eng: eng}, -1
}

func (c *cli) reportStanding(args []string) int {
	fs := flag.NewFlagSet("report standing", flag.ContinueOnError)
	var cfg Config
	c.commonFlags(fs, &cfg)
	format := fs.String("format", "table", "table | csv | json")
	group := fs.String("group", "", "only groups matching this pattern (confluence-*)")
	if code := c.parse(fs, args, "jitbot report standing [--group PATTERN] [--format table|csv|json]", 0); code >= 0 {
		return code
	}
	if msg := badFormat(*format, "table", "csv", "json"); msg != "" {
		return c.fail(exitUsage, "%s", msg)
	}
	env, code := c.openCert(&cfg, c.policyFrom(fs), true, nil)
	if code >= 0 {
		return code
	}
	defer env.db.Close()
	targets := certify.ManagedTargets(env.policy)
	if *group != "" {
		targets = env.policy.Targets(&policies.CertRule{Groups: []string{*group}})
		if len(targets) == 0 {
			return c.fail(exitUsage, "--group %q matches no group of the policy's resources", *group)
		}
	}
	rows, errs := env.eng.StandingReport(c.ctx, targets)
	for _, err := range errs {
		fmt.Fprintf(c.stderr, "jitbot: %v (skipped)\n", err)
	}
	if err := writeStanding(c.stdout, *format, rows, c.now()); err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	if len(errs) > 0 {
		return exitFailure
	}
	return exitOK
}

func (c *cli) now() time.Time { return time.Now().UTC() }

// writeStanding writes the standing-access report.
func writeStanding(w io.Writer, format string, rows []certify.StandingRow, now time.Time) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if rows == nil {
			rows = []certify.StandingRow{}
		}
		return enc.Encode(rows)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"resource", "provider", "group", "person", "in_directory", "recorded_standing", "member_since", "last_active", "ever_jit"})
		for _, r := range rows {
			cw.Write([]string{csvCell(r.Resource), csvCell(r.Provider), csvCell(r.Group), csvCell(r.Person), strconv.FormatBool(r.InDirectory),
				strconv.FormatBool(r.Standing), isoDay(r.MemberSince), isoDay(r.LastActive), strconv.FormatBool(r.EverJIT)})
		}
		cw.Flush()
		return cw.Error()
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "(no standing access: every member of every managed group is covered by a grant)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tPERSON\tSTANDING\tKNOWN SINCE\tLAST ACTIVE\tEVER JIT\tNOTE")
	groups := map[string]int{}
	for _, r := range rows {
		groups[r.Provider+"/"+r.Group]++
		standing := "-"
		if r.Standing {
			standing = "from before jitbot"
		}
		note := ""
		switch {
		case strings.HasPrefix(r.Person, "accountId:"):
			note = "email hidden by Atlassian: not in campaigns"
		case !r.InDirectory:
			note = "not in the directory (left?)"
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Provider, r.Group, r.Person, standing, isoDay(r.MemberSince),
			idle(r.LastActive, now), yesNo(r.EverJIT), dashed(note))
	}
	fmt.Fprintf(tw, "\n%d standing memberships in %d groups\n", len(rows), len(groups))
	return tw.Flush()
}

// csvCell defuses a cell a spreadsheet would evaluate (CSV injection).
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func isoDay(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02")
}

// idle says when someone was last active: "2026-11-30 (7 d ago)", or "not known".
func idle(t, now time.Time) string {
	if t.IsZero() {
		return "not known"
	}
	return fmt.Sprintf("%s (%d d ago)", isoDay(t), int(now.Sub(t).Hours()/24))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (c *cli) certificationList(args []string) int {
	fs := flag.NewFlagSet("certification list", flag.ContinueOnError)
	var cfg Config
	c.commonFlags(fs, &cfg)
	if code := c.parse(fs, args, "jitbot certification list", 0); code >= 0 {
		return code
	}
	env, code := c.openCert(&cfg, c.policyFrom(fs), true, nil)
	if code >= 0 {
		return code
	}
	defer env.db.Close()
	if len(env.policy.Certifications) == 0 {
		fmt.Fprintln(c.stdout, "(the policy has no certifications: rules)")
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tGROUPS\tREVIEWERS\tSCHEDULE\tANSWER WITHIN\tDEFAULT\tNEXT CAMPAIGN\tLAST CAMPAIGN")
	for _, r := range env.policy.Certifications {
		var groups []string
		for _, t := range env.policy.Targets(r) {
			groups = append(groups, t.Group)
		}
		last := "-"
		if cs, err := env.eng.Campaigns(c.ctx, certify.CampaignFilter{Rule: r.Name, Limit: 1}); err == nil && len(cs) > 0 {
			last = cs[0].StartedAt.Format("2006-01-02 15:04Z") + " " + string(cs[0].State) + " " + approvals.Short(cs[0].ID)
		}
		next := r.Next(c.now()).In(env.policy.Review.Loc()).Format("2006-01-02 15:04 MST")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, strings.Join(groups, " "), strings.Join(r.Reviewers, " "),
			r.Schedule, policies.FormatDuration(r.AnswerWithin), r.Default, next, last)
	}
	return flushCode(c, tw)
}

func (c *cli) certificationRun(args []string) int {
	fs := flag.NewFlagSet("certification run", flag.ContinueOnError)
	var cfg Config
	c.commonFlags(fs, &cfg)
	if code := c.parse(fs, args, "jitbot certification run NAME", 1); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		return c.fail(exitUsage, "certification run takes the name of one certification rule (see jitbot certification list)")
	}
	progress := func(group string, members, done, total int) {
		fmt.Fprintf(c.stderr, "[%d/%d] %s: %d standing members\n", done, total, group, members)
	}
	env, code := c.openCert(&cfg, c.policyFrom(fs), false, progress)
	if code >= 0 {
		return code
	}
	defer env.db.Close()
	rule, ok := env.policy.CertRule(fs.Arg(0))
	if !ok {
		return c.fail(exitUsage, "no certification rule %q in %s", fs.Arg(0), env.policy.Source)
	}
	camp, err := env.eng.Start(c.ctx, rule, certify.TriggerCLI)
	if approvals.ErrorCode(err) == certify.EOpen {
		return c.fail(exitFailure, "%s", jitbot.ErrorMessage(err))
	}
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	_, items, err := env.eng.Campaign(c.ctx, camp.ID)
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	if err := writeCampaign(c.stdout, "table", camp, items); err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	if camp.State == certify.CampaignOpen {
		fmt.Fprintln(c.stdout, "\nThe reviewers' cards are queued: the running bot delivers them, and performs the removals they decide.")
	}
	return exitOK
}

func (c *cli) certificationReport(args []string) int {
	fs := flag.NewFlagSet("certification report", flag.ContinueOnError)
	var cfg Config
	c.commonFlags(fs, &cfg)
	id := fs.String("campaign", "", "the campaign (default: the latest)")
	format := fs.String("format", "table", "table | csv | json")
	if code := c.parse(fs, args, "jitbot certification report [--campaign ID] [--format table|csv|json]", 0); code >= 0 {
		return code
	}
	if msg := badFormat(*format, "table", "csv", "json"); msg != "" {
		return c.fail(exitUsage, "%s", msg)
	}
	env, code := c.openCert(&cfg, c.policyFrom(fs), true, nil)
	if code >= 0 {
		return code
	}
	defer env.db.Close()
	cid := *id
	if cid == "" {
		cs, err := env.eng.Campaigns(c.ctx, certify.CampaignFilter{Limit: 1})
		if err != nil {
			return c.fail(exitFailure, "%v", err)
		}
		if len(cs) == 0 {
			return c.fail(exitFailure, "no certification has run yet (jitbot certification run NAME)")
		}
		cid = cs[0].ID
	}
	camp, items, err := env.eng.Campaign(c.ctx, cid)
	if err != nil {
		if approvals.ErrorCode(err) == approvals.ENotFound {
			return c.fail(exitFailure, "no certification campaign %s", cid)
		}
		return c.fail(exitFailure, "%v", err)
	}
	if err := writeCampaign(c.stdout, *format, camp, items); err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	return exitOK
}

// campaignJSON is the JSON shape of a campaign report.
type campaignJSON struct {
	Campaign *certify.Campaign         `json:"campaign"`
	Counts   map[certify.ItemState]int `json:"counts"`
	Items    []*certify.Item           `json:"items"`
}

// writeCampaign writes a campaign and its items.
func writeCampaign(w io.Writer, format string, camp *certify.Campaign, items []*certify.Item) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if items == nil {
			items = []*certify.Item{}
		}
		return enc.Encode(campaignJSON{Campaign: camp, Counts: certify.Counts(items), Items: items})
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"campaign", "rule", "resource", "provider", "group", "person", "reviewer", "state", "answer", "reason",
			"decided_by", "decided_at", "defaulted", "escalated", "member_since", "last_active", "ever_jit", "recorded_standing", "in_directory", "note",
			"unescalated"})
		for _, it := range items {
			cw.Write([]string{camp.ID, csvCell(camp.Rule), csvCell(it.Resource), csvCell(it.Provider), csvCell(it.Group), csvCell(it.Person),
				csvCell(it.Reviewer), string(it.State), it.Answer, csvCell(it.Reason), csvCell(it.DecidedBy), rfc3339(it.DecidedAt),
				strconv.FormatBool(it.Defaulted), strconv.FormatBool(it.Escalated), isoDay(it.MemberSince), isoDay(it.LastActive),
				strconv.FormatBool(it.EverJIT), strconv.FormatBool(it.Standing), strconv.FormatBool(it.InDirectory), csvCell(it.Note),
				csvCell(it.Unescalated)})
		}
		cw.Flush()
		return cw.Error()
	}
	counts := certify.Counts(items)
	var parts []string
	for _, s := range []certify.ItemState{certify.ItemPending, certify.ItemKept, certify.ItemRemoving, certify.ItemRemoved,
		certify.ItemGone, certify.ItemCovered, certify.ItemFailed, certify.ItemDryRun} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, counts[s]))
		}
	}
	fmt.Fprintf(w, "Campaign %s of %q: %s, started %s, answers by %s; %d standing memberships (%s)\n\n", approvals.Short(camp.ID),
		camp.Rule, camp.State, camp.StartedAt.Format("2006-01-02 15:04Z"), camp.AnswerBy.Format("2006-01-02 15:04Z"), len(items), dashed(strings.Join(parts, ", ")))
	if len(items) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tPERSON\tREVIEWER\tSTATE\tANSWER\tBY\tREASON\tESCALATED")
	var unescalated []string
	for _, it := range items {
		reviewer := it.Reviewer
		if reviewer == "" {
			reviewer = "IT"
		}
		by := it.DecidedBy
		if it.Defaulted {
			by = "default"
		}
		escalated := "-"
		if it.Escalated {
			escalated = "yes"
		}
		if it.Unescalated != "" {
			escalated += ", unescalated: " + unescalatedTerms(it.Unescalated)
			unescalated = append(unescalated, fmt.Sprintf("  %s in %s/%s: %s", it.Person, it.Provider, it.Group, it.Unescalated))
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Provider, it.Group, it.Person, reviewer, it.State, dashed(it.Answer),
			dashed(by), dashed(it.Reason), escalated)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(unescalated) > 0 {
		fmt.Fprintf(w, "\nUnescalated: escalate_to terms that named nobody for these members when they were escalated:\n%s\n",
			strings.Join(unescalated, "\n"))
	}
	return nil
}

// unescalatedTerms returns the terms of an item's Unescalated ("manager:
// why; owner: why" → "manager, owner").
func unescalatedTerms(s string) string {
	parts := strings.Split(s, "; ")
	for i, p := range parts {
		parts[i], _, _ = strings.Cut(p, ": ")
	}
	return strings.Join(parts, ", ")
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
