package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/policies"
)

func (c *cli) auditVerify(args []string) int {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	var cfg Config
	c.dbFlag(fs, &cfg)
	var anchors stringList
	fs.Var(&anchors, "anchor", "`SEQ:HASH` of a head posted by jitbot audit anchor (repeatable): the chain must still contain it")
	if code := c.parse(fs, args, "jitbot audit verify [--anchor SEQ:HASH]…", 0); code >= 0 {
		return code
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
	res, err := audit.Verify(c.ctx, db, as...)
	var broken *audit.BrokenError
	if errors.As(err, &broken) {
		fmt.Fprintf(c.stdout, "FAILED: %v\n", broken)
		return exitFailure
	}
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	fmt.Fprintf(c.stdout, "ok: %d events, head %s\n", res.Count, res.Head)
	return exitOK
}

func (c *cli) auditExport(args []string) int {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	var cfg Config
	c.dbFlag(fs, &cfg)
	since := fs.String("since", "", "only events at or after this time (RFC 3339 or YYYY-MM-DD)")
	until := fs.String("until", "", "only events before this time (RFC 3339 or YYYY-MM-DD)")
	format := fs.String("format", "jsonl", "jsonl | csv")
	if code := c.parse(fs, args, "jitbot audit export [--since T] [--until T] [--format jsonl|csv]", 0); code >= 0 {
		return code
	}
	s, err := parseTime(*since)
	if err != nil {
		return c.fail(exitUsage, "--since: %v", err)
	}
	u, err := parseTime(*until)
	if err != nil {
		return c.fail(exitUsage, "--until: %v", err)
	}
	if msg := badFormat(*format, "jsonl", "csv"); msg != "" {
		return c.fail(exitUsage, "%s", msg)
	}
	db, err := cfg.openDB(c.ctx, true)
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	defer db.Close()
	if _, err := audit.Export(c.ctx, db, c.stdout, *format, s, u); err != nil {
		return c.fail(exitFailure, "export: %v", err)
	}
	return exitOK
}

// auditAnchor records the chain head as an event and posts it to the audit
// channel, an outside witness.
func (c *cli) auditAnchor(args []string) int {
	fs := flag.NewFlagSet("audit anchor", flag.ContinueOnError)
	var cfg Config
	c.dbFlag(fs, &cfg)
	channel := fs.String("channel", c.getenv("JITBOT_AUDIT_CHANNEL"), "Slack channel to post the head to (env JITBOT_AUDIT_CHANNEL)")
	if code := c.parse(fs, args, "jitbot audit anchor [--channel C]", 0); code >= 0 {
		return code
	}
	db, err := cfg.openDB(c.ctx, false)
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	defer db.Close()
	poster, err := slackPoster(c.getenv)
	if err != nil && *channel != "" {
		return c.fail(exitFailure, "%v", err)
	}
	head, err := (&audit.Anchorer{Chain: db, Poster: poster, Channel: *channel}).Anchor(c.ctx)
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	where := "recorded (no channel configured: set JITBOT_AUDIT_CHANNEL to have Slack witness it)"
	if *channel != "" {
		where = "posted to " + *channel
	}
	fmt.Fprintf(c.stdout, "anchor %s %s\n", head, where)
	return exitOK
}

func (c *cli) reportAccess(args []string) int {
	fs := flag.NewFlagSet("report access", flag.ContinueOnError)
	var cfg Config
	c.dbFlag(fs, &cfg)
	c.policyFlag(fs, &cfg)
	resource := fs.String("resource", "", "resource id (required)")
	at := fs.String("at", "", "the moment to report on (RFC 3339 or YYYY-MM-DD; default now)")
	if code := c.parse(fs, args, "jitbot report access --resource ID [--at TIME] [--policy FILE]", 0); code >= 0 {
		return code
	}
	if *resource == "" {
		return c.fail(exitUsage, "report access needs --resource")
	}
	t := time.Now()
	if *at != "" {
		var err error
		if t, err = parseTime(*at); err != nil {
			return c.fail(exitUsage, "--at: %v", err)
		}
	}
	db, err := cfg.openDB(c.ctx, true)
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	defer db.Close()
	rows, err := db.AccessAt(c.ctx, *resource, t)
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	if len(rows) == 0 {
		// Nobody at that time, or a resource jitbot never saw: say which.
		seen, err := db.ResourceSeen(c.ctx, *resource)
		if err != nil {
			return c.fail(exitFailure, "%v", err)
		}
		if !seen && !inCatalogue(cfg.Policy, *resource) {
			return c.fail(exitFailure, "unknown resource %q: jitbot has no record of it (no request for it was ever filed) and the policy %s has no such resource; resource ids are those of the policy's catalogue", *resource, cfg.Policy)
		}
	}
	if err := audit.WriteAccess(c.stdout, *resource, t, rows); err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	return exitOK
}

// inCatalogue reports whether the policy at path (when it loads) has the
// resource: one nobody ever requested is then reported as nobody's.
func inCatalogue(path, resource string) bool {
	p, err := policies.Load(path)
	if err != nil {
		return false
	}
	_, ok := p.Resource(resource)
	return ok
}

func (c *cli) reportPerson(args []string) int {
	fs := flag.NewFlagSet("report person", flag.ContinueOnError)
	var cfg Config
	c.dbFlag(fs, &cfg)
	if code := c.parse(fs, args, "jitbot report person EMAIL", 1); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		return c.fail(exitUsage, "report person takes one email")
	}
	db, err := cfg.openDB(c.ctx, true)
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	defer db.Close()
	rep, err := db.PersonHistory(c.ctx, fs.Arg(0))
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	if err := audit.WritePerson(c.stdout, rep); err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	return exitOK
}

// parseTime accepts RFC 3339 or a date (midnight UTC); empty is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: expected RFC 3339 (2026-11-22T14:30:00Z) or a date (2026-11-22)", s)
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }
