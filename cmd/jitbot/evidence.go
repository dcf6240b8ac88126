package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/evidence"
	"github.com/schollz/progressbar/v3"
)

// evidencePack writes the auditor's evidence pack for a period. It only
// reads the database (a read-only copy will do).
func (c *cli) evidencePack(args []string) int {
	fs := flag.NewFlagSet("evidence pack", flag.ContinueOnError)
	var cfg Config
	c.dbFlag(fs, &cfg)
	from := fs.String("from", "", "the period's first day (YYYY-MM-DD) or instant (RFC 3339); required")
	to := fs.String("to", "", "the period's last day, included (YYYY-MM-DD), or the instant it ends (RFC 3339); required")
	out := fs.String("out", "", "a new (or empty) folder to write the pack to; required")
	var anchors stringList
	fs.Var(&anchors, "anchor", "`SEQ:HASH` of a head witnessed outside the database (repeatable), beyond those the chain records as posted")
	if code := c.parse(fs, args, "jitbot evidence pack --from DATE --to DATE --out DIR [--anchor SEQ:HASH]…", 0); code >= 0 {
		return code
	}
	if *from == "" || *to == "" || *out == "" {
		return c.fail(exitUsage, "evidence pack needs --from, --to and --out")
	}
	start, err := parseTime(*from)
	if err != nil {
		return c.fail(exitUsage, "--from: %v", err)
	}
	end, err := parseTime(*to)
	if err != nil {
		return c.fail(exitUsage, "--to: %v", err)
	}
	if isDate(*to) {
		end = end.AddDate(0, 0, 1) // the last day is in the period
	}
	var as []audit.Anchor
	for _, s := range anchors {
		a, err := audit.ParseAnchor(s)
		if err != nil {
			return c.fail(exitUsage, "%v", err)
		}
		as = append(as, a)
	}
	db, err := cfg.openDB(c.ctx, true)
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	defer db.Close()
	command := "jitbot evidence pack"
	switch {
	case strings.Contains(cfg.DB, "://"): // a URL may hold a password: the pack names the variable, not its value
		command += ` --db "$JITBOT_DB"`
	case cfg.DB != defaultDB:
		command += " --db " + cfg.DB
	}
	command += " --from " + *from + " --to " + *to + " --out " + *out
	for _, a := range as {
		command += " --anchor " + a.String()
	}
	o := evidence.Options{From: start, To: end, Anchors: as, Generated: time.Now().UTC(), Command: command}
	var bar *progressbar.ProgressBar
	if isTerminal(c.stderr) {
		o.Progress = func(read, total int64) {
			if bar == nil {
				bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(c.stderr), progressbar.OptionSetDescription("reading the audit chain"),
					progressbar.OptionShowCount(), progressbar.OptionSetItsString("events"), progressbar.OptionThrottle(100*time.Millisecond))
			}
			_ = bar.Set64(read)
		}
	}
	pack, err := evidence.Build(c.ctx, db, o)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(c.stderr)
	}
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	if err := evidence.Write(*out, pack); err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	failed := 0
	for _, ctl := range pack.Controls() {
		for _, ch := range ctl.Checks {
			if !ch.Pass {
				failed++
			}
		}
	}
	s := pack.Stats()
	fmt.Fprintf(c.stdout, "evidence for %s to %s written to %s: %d grants (%d privileged), %d decisions, %d removals, %d review answers; chain %s\n",
		start.Format("2006-01-02"), end.Add(-time.Nanosecond).Format("2006-01-02"), *out, s.Grants, s.Privileged, s.Decisions, s.Removals, s.Answers, verdict(pack.Chain.Verified))
	if failed > 0 {
		fmt.Fprintf(c.stdout, "%d tests an auditor runs FAILED: open %s/index.html\n", failed, strings.TrimRight(*out, "/"))
	}
	return exitOK
}

func isDate(s string) bool {
	_, err := time.Parse("2006-01-02", s)
	return err == nil
}

func verdict(ok bool) string {
	if ok {
		return "verified"
	}
	return "DOES NOT VERIFY"
}
