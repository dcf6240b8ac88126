package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
)

func (c *cli) policyCheck(args []string) int {
	fs := flag.NewFlagSet("policy check", flag.ContinueOnError)
	var cfg Config
	c.policyFlag(fs, &cfg)
	online := fs.Bool("online", false, "also check that every group the policy names exists at its provider (needs the provider credentials)")
	if code := c.parse(fs, args, "jitbot policy check [FILE] [--online]", 1); code >= 0 {
		return code
	}
	path, from := cfg.Policy, c.policyFrom(fs)
	if fs.NArg() > 0 {
		path, from = fs.Arg(0), "the argument"
	}
	p, err := loadPolicy(path, from)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitFailure
	}
	if *online {
		if err := c.checkOnline(p, &cfg); err != nil {
			fmt.Fprintln(c.stderr, err)
			return exitFailure
		}
	}
	fmt.Fprintf(c.stdout, "%s: ok — %d people, %d resources, %d rules, %d review rules, %d certifications (sha256 %s)\n",
		path, len(p.People), len(p.Resources), len(p.Rules), len(p.Review.Rules), len(p.Certifications), p.Hash[:12])
	return exitOK
}

func (c *cli) policyExplain(args []string) int {
	fs := flag.NewFlagSet("policy explain", flag.ContinueOnError)
	var cfg Config
	c.policyFlag(fs, &cfg)
	requester := fs.String("requester", "", "the requester's email (required)")
	resource := fs.String("resource", "", "the resource id (required)")
	duration := fs.String("duration", "", "the duration asked for, e.g. 2h or 3d (default: the maximum)")
	user := fs.String("user", "", "instead: which licence review rule covers this person, why, and its next run")
	inc := incidentFlags(fs) // explain_incidents.go: --at, --filer, --break-glass
	c.dbFlag(fs, &cfg)       // the synced directory, when the policy has directory sources
	if code := c.parse(fs, args, "jitbot policy explain --requester EMAIL --resource ID [--duration D] [--at TIME] [--filer EMAIL] [--break-glass] | --user EMAIL", 0); code >= 0 {
		return code
	}
	if *user != "" {
		return c.explainUser(&cfg, c.policyFrom(fs), *user) // review.go
	}
	if *requester == "" || *resource == "" {
		return c.fail(exitUsage, "policy explain needs --requester and --resource")
	}
	p, err := loadPolicy(cfg.Policy, c.policyFrom(fs))
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitFailure
	}
	p = c.explainDirectory(&cfg, p) // directory.go
	var d time.Duration
	if *duration != "" {
		if d, err = policies.ParseDuration(*duration); err != nil {
			return c.fail(exitUsage, "--duration: %v", err)
		}
	}
	q := policies.Query{Requester: *requester, Resource: *resource, Duration: d}
	if err := inc.apply(&q); err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	dec, err := p.Evaluate(c.ctx, q, nil)
	if err != nil {
		fmt.Fprintf(c.stdout, "refused: %v\n", err)
		return exitFailure
	}
	w := c.stdout
	fmt.Fprintf(w, "rule:          %s (%s line %d)\n", dec.Rule, p.Source, dec.RuleLine)
	if per, ok := p.Person(*requester); ok && per.Manager != "" {
		fmt.Fprintf(w, "manager:       %s (from %s)\n", per.Manager, managerSource(per))
	}
	kind := "standard"
	if dec.Admin {
		kind = "ADMIN ESCALATION"
	}
	fmt.Fprintf(w, "resource:      %s (%s)\n", *resource, kind)
	for _, leaf := range p.Leaves(*resource) {
		fmt.Fprintf(w, "  membership:  %s group %s\n", leaf.Provider, leaf.Group)
	}
	fmt.Fprintf(w, "max duration:  %s\n", policies.FormatDuration(dec.MaxDuration))
	if dec.AutoApprove {
		fmt.Fprintln(w, "approval:      automatic")
	}
	for i, st := range dec.Steps {
		who := append([]string{}, st.Approvers...)
		for _, g := range st.Groups {
			who = append(who, "group:"+g+" (members resolved in Slack)")
		}
		fmt.Fprintf(w, "step %d of %d:   %s — quorum %d — from %s\n", i+1, len(dec.Steps), strings.Join(who, ", "), st.Quorum, strings.Join(st.Terms, ", "))
		explainEscalation(w, st)
	}
	explainIncidents(w, p, dec, q)
	if len(dec.Notify) > 0 {
		fmt.Fprintf(w, "notify:        %s\n", strings.Join(dec.Notify, ", "))
	}
	fmt.Fprintf(w, "ticket:        %v\n", map[bool]string{true: "required", false: "optional"}[dec.RequireTicket])
	if !dec.AutoApprove {
		fmt.Fprintf(w, "request ttl:   %s (approvers reminded halfway)\n", policies.FormatDuration(dec.RequestTTL))
	}
	if dec.AllowSelfApproval {
		fmt.Fprintln(w, "self-approval: allowed (recorded)")
	}
	return exitOK
}

// grantRow is one line of `grants list`.
type grantRow struct {
	Request      string    `json:"request_id"`
	Grant        string    `json:"grant_id"`
	Person       string    `json:"person"`
	Resource     string    `json:"resource"`
	Requested    string    `json:"requested"`
	Provider     string    `json:"provider"`
	Group        string    `json:"group"`
	State        string    `json:"state"`
	RequestState string    `json:"request_state"`
	Admin        bool      `json:"admin"`
	Standing     bool      `json:"standing"`
	EndsAt       time.Time `json:"ends_at,omitempty"`
	Note         string    `json:"note,omitempty"`
}

func (c *cli) grantsList(args []string) int {
	fs := flag.NewFlagSet("grants list", flag.ContinueOnError)
	var cfg Config
	c.dbFlag(fs, &cfg)
	active := fs.Bool("active", false, "only grants whose access is live (provisioning, active or being revoked)")
	asJSON := fs.Bool("json", false, "one JSON object per line")
	if code := c.parse(fs, args, "jitbot grants list [--active] [--json]", 0); code >= 0 {
		return code
	}
	db, err := cfg.openDB(c.ctx, true)
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	defer db.Close()
	var rows []grantRow
	err = db.View(c.ctx, func(tx approvals.Tx) error {
		rs, err := tx.ListRequests(approvals.RequestFilter{States: []approvals.State{
			approvals.StateApproved, approvals.StateActive, approvals.StateExpired, approvals.StateRevoked,
			approvals.StateReleased, approvals.StateFailed}})
		if err != nil {
			return err
		}
		for _, r := range rs {
			gs, err := tx.GrantsOf(r.ID)
			if err != nil {
				return err
			}
			for _, g := range gs {
				live := g.State == approvals.GrantProvisioning || g.State == approvals.GrantActive || g.State == approvals.GrantRevoking
				if *active && !live {
					continue
				}
				rows = append(rows, grantRow{Request: r.ID, Grant: g.ID, Person: g.Person, Resource: g.Resource,
					Requested: r.Resource, Provider: g.Provider, Group: g.Group, State: string(g.State),
					RequestState: string(r.State), Admin: r.Admin, Standing: g.Standing, EndsAt: r.EndsAt, Note: g.Note})
			}
		}
		return nil
	})
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return c.fail(exitFailure, "%v", err)
			}
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUEST\tPERSON\tRESOURCE\tGROUP\tSTATE\tENDS\tNOTE")
	for _, r := range rows {
		res := r.Resource
		if r.Requested != r.Resource {
			res += " (" + r.Requested + ")"
		}
		if r.Admin {
			res += " [admin]"
		}
		ends := "-"
		if !r.EndsAt.IsZero() {
			ends = r.EndsAt.Format("2006-01-02 15:04Z")
		}
		note := r.Note
		if r.Standing && note == "" {
			note = "standing access: kept at expiry"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", approvals.Short(r.Request), r.Person, res, r.Provider+"/"+r.Group, r.State, ends, note)
	}
	tw.Flush()
	if len(rows) == 0 {
		fmt.Fprintln(c.stdout, "(no grants)")
	}
	return exitOK
}

func (c *cli) grantsRevoke(args []string) int {
	fs := flag.NewFlagSet("grants revoke", flag.ContinueOnError)
	var cfg Config
	c.dbFlag(fs, &cfg)
	reason := fs.String("reason", "", "why (required; recorded in the audit trail)")
	by := fs.String("by", c.env("JITBOT_OPERATOR", "cli:"+c.env("USER", "operator")), "who revokes (env JITBOT_OPERATOR)")
	if code := c.parse(fs, args, "jitbot grants revoke REQUEST_ID --reason TEXT", 1); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		return c.fail(exitUsage, "grants revoke takes one request id (see jitbot grants list)")
	}
	if strings.TrimSpace(*reason) == "" {
		return c.fail(exitUsage, "grants revoke needs --reason")
	}
	db, err := cfg.openDB(c.ctx, false)
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	defer db.Close()
	// The CLI only records the revocation and queues the removal: the
	// running bot's worker performs it (and, if no bot runs, the next start).
	// Revoking needs no policy: the request holds its memberships.
	svc := approvals.New(approvals.Config{Store: db})
	r, err := svc.Revoke(c.ctx, fs.Arg(0), *by, *reason)
	if err != nil {
		var de *approvals.Error
		if errors.As(err, &de) {
			return c.fail(exitFailure, "%s", de.Message)
		}
		return c.fail(exitFailure, "%v", err)
	}
	fmt.Fprintf(c.stdout, "request %s revoked: %s's access to %s is being removed\n", approvals.Short(r.ID), r.Requester, r.Resource)
	return exitOK
}
