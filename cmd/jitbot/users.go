package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/review"
)

// jitbot users: restoring a person the licence review suspended.

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
