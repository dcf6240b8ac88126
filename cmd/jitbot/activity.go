package main

import (
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/review"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// jitbot activity: the licence review's activity sync and what it stored.

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
	if msg := badFormat(*format, "table", "csv", "json"); msg != "" {
		return c.fail(exitUsage, "%s", msg)
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
