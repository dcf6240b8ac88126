package audit

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Access is one grant's membership as the evidence shows it: when the
// membership was provisioned and when the bot's coverage of it ended, who
// asked, why, and who approved.
type Access struct {
	Person       string
	Resource     string // the leaf resource (group)
	Requested    string // what was asked for (a bundle, or the same leaf)
	RequestID    string
	GrantID      string
	From         time.Time // provisioned
	Until        time.Time // zero: still active
	PlannedUntil time.Time // the grant's deadline
	Ended        string    // how it ended: expired, revoked by x: why, released …
	Reason       string
	Ticket       string
	Rule         string
	ApprovedBy   []string // approvers in step order, or "auto-approved by rule …"
	ExtendsID    string
	Standing     bool // the person was already a member; the bot never removes it
}

// ActiveAt reports whether the grant covered the membership at t.
func (a *Access) ActiveAt(t time.Time) bool {
	return !a.From.IsZero() && !a.From.After(t) && (a.Until.IsZero() || a.Until.After(t))
}

// PersonRequest is one request of a person with its outcome.
type PersonRequest struct {
	RequestID  string
	Resource   string
	State      string
	Filed      time.Time
	Duration   time.Duration
	Reason     string
	Ticket     string
	Rule       string
	ApprovedBy []string
	Outcome    string // decline, revocation or failure reason
	Grants     []Access
}

// PersonReport is everything jitbot knows of one person.
type PersonReport struct {
	Email    string
	Requests []PersonRequest
	// Other evidence about the person: review answers, suspensions, restores.
	Other []OtherEvent
}

// OtherEvent is an event about a person that is not part of a request.
type OtherEvent struct {
	Time   time.Time
	Actor  string
	Action string
	Reason string
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// WriteAccess prints who had resource at t.
func WriteAccess(w io.Writer, resource string, at time.Time, rows []Access) error {
	fmt.Fprintf(w, "Access to %s at %s\n\n", resource, fmtTime(at))
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "Nobody had access through jitbot at that time.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PERSON\tGROUP\tSINCE\tUNTIL\tWHY\tAPPROVED BY\tREQUEST")
	for _, a := range rows {
		until := fmtTime(a.Until)
		if a.Until.IsZero() {
			until = "active, ends " + fmtTime(a.PlannedUntil)
		} else if a.Ended != "" {
			until += " (" + a.Ended + ")"
		}
		why := a.Reason
		if a.Ticket != "" {
			why += " [" + a.Ticket + "]"
		}
		if a.Standing {
			why += " (already a member before)"
		}
		req := short(a.RequestID)
		if a.ExtendsID != "" {
			req += " extends " + short(a.ExtendsID)
		}
		group := a.Resource
		if a.Requested != a.Resource {
			group += " via " + a.Requested
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Person, group, fmtTime(a.From), until,
			oneLine(why), strings.Join(a.ApprovedBy, ", "), req)
	}
	return tw.Flush()
}

// WritePerson prints a person's history.
func WritePerson(w io.Writer, r *PersonReport) error {
	fmt.Fprintf(w, "History of %s\n\n", r.Email)
	if len(r.Requests) == 0 {
		fmt.Fprintln(w, "No requests.")
	}
	for _, q := range r.Requests {
		fmt.Fprintf(w, "%s  %s  %s for %s — %s\n", fmtTime(q.Filed), short(q.RequestID), q.Resource, q.Duration, q.State)
		fmt.Fprintf(w, "    why: %s", oneLine(q.Reason))
		if q.Ticket != "" {
			fmt.Fprintf(w, " [%s]", q.Ticket)
		}
		fmt.Fprintf(w, "\n    rule: %s; approved by: %s\n", q.Rule, orDash(strings.Join(q.ApprovedBy, ", ")))
		if q.Outcome != "" {
			fmt.Fprintf(w, "    outcome: %s\n", oneLine(q.Outcome))
		}
		for _, g := range q.Grants {
			fmt.Fprintf(w, "    grant %s: %s → %s %s\n", g.Resource, fmtTime(g.From), fmtTime(g.Until), g.Ended)
		}
	}
	if len(r.Other) > 0 {
		fmt.Fprintln(w, "\nReviews and suspensions:")
		for _, e := range r.Other {
			fmt.Fprintf(w, "%s  %s by %s: %s\n", fmtTime(e.Time), e.Action, e.Actor, oneLine(e.Reason))
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func short(id string) string {
	if i := strings.IndexByte(id, '-'); i > 0 {
		return id[:i]
	}
	return id
}
