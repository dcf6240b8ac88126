// Package evidence builds the auditor's evidence pack: for one period, a
// self-contained folder with a section per control (DORA Article 9(4)(c),
// ISO/IEC 27001:2022 A.5.15, A.5.16, A.5.18 and A.8.2, SOX ITGC access
// provisioning, timely removal and periodic review), the populations as
// CSV files, the chain's verification against the anchors witnessed in
// Slack, an HTML page and a PDF of it, and a manifest of every file's
// SHA-256 in the form `sha256sum -c` reads.
//
// Every figure comes from the tamper-evident audit chain (audit.Source),
// read once from its start, and the requests the period's events name
// (their approvers per step, whether they were admin escalations): the pack
// only reads, so it works on a read-only copy of the database.
package evidence

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/review"
)

// LateAfter is how long after a grant ended its membership may take to be
// removed before the pack reports the removal as late.
const LateAfter = 15 * time.Minute

// Source is what the pack reads: the chain, and the requests it names.
type Source interface {
	audit.Source
	approvals.Store
}

// Options say which period to cover and how the pack describes itself.
type Options struct {
	From, To time.Time // [From, To)
	// Anchors are heads witnessed outside the database that the
	// verification must meet, beside those the chain records as posted.
	Anchors []audit.Anchor
	// Generated is when the pack was made (shown; the clock is injected).
	Generated time.Time
	// Command is the command line that makes the pack again.
	Command string
	// Progress is told how many events were read of how many (optional).
	Progress func(read, total int64)
}

// Pack is the evidence for one period.
type Pack struct {
	From, To  time.Time
	Generated time.Time
	Command   string

	Policies []PolicyVersion // in force at From, then loaded in the period
	// Grants live at some time in the period, each as the whole chain
	// tells it (a removal after the period is shown).
	Grants     []Grant
	Decisions  []Decision     // approvals and declines in the period
	Reviews    []ReviewAnswer // licence review answers in the period
	Lifecycle  []AccountEvent // suspensions, restores, refusals in the period
	Failures   []Failure      // what went wrong in the period, and how it ended
	ReviewRuns int            // licence review runs started in the period
	// Certifications are the standing memberships certified in the
	// period (certify.go); Campaigns the campaigns started in it.
	Certifications []CertAnswer
	// BreakGlass are the break-glass uses of the period and their reviews
	// (breakglass.go).
	BreakGlass []BreakGlassUse
	Campaigns  int

	Chain Chain

	stats *Stats // counted once, by Stats
}

// PolicyVersion is a policy loaded by the bot.
type PolicyVersion struct {
	Loaded time.Time
	SHA256 string
	File   string
	// InForceAtStart: the version loaded last before the period began.
	InForceAtStart bool
}

// Grant is one membership a request provisioned.
type Grant struct {
	RequestID, GrantID string
	Person, Resource   string // the resource asked for
	Group              string // the group at the provider
	Privileged         bool   // an admin escalation
	Rule               string
	Reason, Ticket     string
	Approvers          []string // who approved, in step order; empty when automatic
	Auto               bool
	Approved           time.Time
	Provisioned        time.Time
	Deadline           time.Time // when the grant was due to end
	Ended              time.Time // expiry, revocation or release (zero: still active)
	EndedHow           string
	Removed            time.Time // the membership taken away, or kept for a standing member
	Kept               bool      // the person was a member before: kept on purpose
	Failed             string    // provisioning or removal gave up
}

// RemovalLag is the time from the grant's end to the removal, and whether
// there is one yet.
func (g *Grant) RemovalLag() (time.Duration, bool) {
	if g.Ended.IsZero() || g.Removed.IsZero() {
		return 0, false
	}
	return max(g.Removed.Sub(g.Ended), 0), true
}

// Decision is one approver's answer.
type Decision struct {
	Time      time.Time
	RequestID string
	Step      int
	Approver  string
	Approved  bool
	Requester string
	Resource  string
	// Eligible says the approver was one of the step's approvers; Self
	// that they decided their own request.
	Eligible, Self bool
	Reason         string
}

// ReviewAnswer is a licence review item answered.
type ReviewAnswer struct {
	Time     time.Time
	Person   string
	Rule     string
	Decision string // keep or suspend
	By       string // a person, or the review's default or policy
	Reason   string
	Self     bool
}

// AccountEvent is an account suspended, restored or refused suspension.
type AccountEvent struct {
	Time   time.Time
	Person string
	Action string
	By     string
	Reason string
}

// Failure is a failed job or step and what became of it.
type Failure struct {
	Time      time.Time
	Action    string
	RequestID string
	Subject   string
	Reason    string
	Outcome   string // how it ended, as the chain shows by its end
}

// Chain is the verification of the whole chain.
type Chain struct {
	Head     audit.Anchor
	Events   int64
	Anchors  []Anchor // witnessed in the period, and given
	Verified bool
	Problem  string // what verification found, when it failed
}

// Anchor is a head witnessed outside the database.
type Anchor struct {
	audit.Anchor
	Posted  time.Time // when it was recorded as posted (zero: given)
	Channel string
}

// Build reads the chain and the requests it names, and builds the pack.
func Build(ctx context.Context, src Source, o Options) (*Pack, error) {
	if !o.From.Before(o.To) {
		return nil, fmt.Errorf("the period is empty: --from %s is not before --to %s", day(o.From), day(o.To))
	}
	p := &Pack{From: o.From, To: o.To, Generated: o.Generated, Command: o.Command}
	b := &builder{pack: p, grants: map[string]*Grant{}, requests: map[string]*requestInfo{}, failed: map[string][]int{}}
	head, err := headOf(ctx, src)
	if err != nil {
		return nil, err
	}
	// One pass builds the pack and verifies the chain: an anchor found in
	// the chain is checked against the hashes just read, and only one
	// further back than the verifier remembers takes a second pass.
	v, _ := audit.NewVerifier(o.Anchors...) // a wrong anchor is the pack's finding too
	var (
		read   int64
		passes = 1
	)
	err = src.Events(ctx, time.Time{}, time.Time{}, func(e *approvals.Event) error {
		read++
		if o.Progress != nil && read%4096 == 0 {
			o.Progress(read, head.Seq)
		}
		_ = v.Add(e) // a broken chain is the pack's finding, not a failure to build it
		n := len(b.anchors)
		b.event(e, o.From, o.To)
		if len(b.anchors) > n {
			if checked, _ := v.Anchor(b.anchors[n].Anchor); !checked {
				passes = 2
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the audit chain: %w", err)
	}
	if o.Progress != nil {
		o.Progress(read, read)
	}
	if err := b.requestsFrom(ctx, src); err != nil {
		return nil, err
	}
	b.finish()
	anchored := b.anchors
	b = nil // the grants and requests of other periods are not the pack's

	anchors := slices.Clone(anchored)
	for _, a := range o.Anchors {
		anchors = append(anchors, Anchor{Anchor: a})
	}
	p.Chain = Chain{Anchors: anchors}
	res, verr := v.Result()
	if passes == 2 {
		res, verr = audit.Verify(ctx, src, anchorsOf(anchors)...)
	}
	p.Chain.Head, p.Chain.Events = res.Head, res.Count
	if verr != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		p.Chain.Problem = verr.Error()
	} else {
		p.Chain.Verified = true
	}
	return p, nil
}

func anchorsOf(as []Anchor) []audit.Anchor {
	out := make([]audit.Anchor, len(as))
	for i, a := range as {
		out[i] = a.Anchor
	}
	return out
}

// headOf returns the chain's head where the store tells it (for progress).
func headOf(ctx context.Context, src Source) (audit.Anchor, error) {
	if h, ok := src.(interface {
		Head(context.Context) (audit.Anchor, error)
	}); ok {
		return h.Head(ctx)
	}
	return audit.Anchor{}, nil
}

// requestInfo is what the pack needs of a request beyond its events.
type requestInfo struct {
	requester, resource, rule string
	reason                    string
	auto                      bool
	approved                  time.Time
	deadline                  time.Time
	ended                     time.Time
	endedHow                  string
	approvers                 []string
}

type builder struct {
	pack     *Pack
	grants   map[string]*Grant
	order    []string // grant ids as first seen
	requests map[string]*requestInfo
	anchors  []Anchor
	policy   *PolicyVersion   // the last loaded before the period
	failed   map[string][]int // request id → its failures in pack.Failures
	// certItems: certification item id → its answer in pack.Certifications.
	certItems map[string]int
	// breakGlass: request id → its use in pack.BreakGlass.
	breakGlass map[string]int
}

func (b *builder) req(id string) *requestInfo {
	r := b.requests[id]
	if r == nil {
		r = &requestInfo{}
		b.requests[id] = r
	}
	return r
}

func inPeriod(t, from, to time.Time) bool { return !t.Before(from) && t.Before(to) }

// event takes one event of the chain, in order.
func (b *builder) event(e *approvals.Event, from, to time.Time) {
	in := inPeriod(e.Time, from, to)
	if e.Action == approvals.ActionPolicyLoaded {
		v := PolicyVersion{Loaded: e.Time, SHA256: e.Data["sha256"], File: e.Data["file"]}
		switch {
		case e.Time.Before(from):
			b.policy = &v
		case in:
			b.pack.Policies = append(b.pack.Policies, v)
		}
		return
	}
	if e.RequestID != "" {
		r := b.req(e.RequestID)
		switch e.Action {
		case approvals.ActionRequestSubmitted:
			r.requester, r.resource, r.rule, r.reason = e.Actor, e.Resource, e.Rule, e.Reason
		case approvals.ActionRequestApproved, approvals.ActionRequestAutoApprove:
			r.approved = e.Time
			r.auto = e.Action == approvals.ActionRequestAutoApprove
		case approvals.ActionClockStarted:
			if t, err := time.Parse(time.RFC3339, e.Data["ends_at"]); err == nil {
				r.deadline = t
			}
		case approvals.ActionRequestExpired, approvals.ActionRequestRevoked, approvals.ActionRequestReleased:
			if r.ended.IsZero() {
				r.ended = e.Time
				r.endedHow = strings.TrimPrefix(e.Action, "request.")
				if e.Action != approvals.ActionRequestExpired {
					r.endedHow += " by " + e.Actor
					if e.Reason != "" {
						r.endedHow += ": " + e.Reason
					}
				}
			}
		case approvals.ActionApprovalRecorded:
			r.approvers = append(r.approvers, e.Actor)
		}
	}
	switch e.Action {
	case approvals.ActionGrantProvisioned, approvals.ActionGrantRemoved, approvals.ActionGrantKept, approvals.ActionGrantFailed:
		g := b.grants[e.GrantID]
		if g == nil {
			g = &Grant{RequestID: e.RequestID, GrantID: e.GrantID, Person: e.Subject, Group: e.Data["group"]}
			b.grants[e.GrantID] = g
			b.order = append(b.order, e.GrantID)
		}
		if g.Group == "" {
			g.Group = e.Data["group"]
		}
		switch e.Action {
		case approvals.ActionGrantProvisioned:
			g.Provisioned = e.Time
		case approvals.ActionGrantRemoved, approvals.ActionGrantKept:
			if g.Removed.IsZero() {
				g.Removed, g.Kept = e.Time, e.Action == approvals.ActionGrantKept
			}
		case approvals.ActionGrantFailed:
			g.Failed = e.Reason
			if in {
				b.failure(e)
			}
		}
	}
	b.outcome(e)
	if strings.HasPrefix(e.Action, "breakglass.") {
		b.breakGlassEvent(e, in) // breakglass.go
		return
	}
	if strings.HasPrefix(e.Action, "certification.") {
		b.certEvent(e, in) // certify.go
		return
	}
	if !in {
		return
	}
	switch e.Action {
	case approvals.ActionApprovalRecorded, approvals.ActionRequestDeclined:
		step, _ := strconv.Atoi(e.Data["step"])
		b.pack.Decisions = append(b.pack.Decisions, Decision{Time: e.Time, RequestID: e.RequestID, Step: step,
			Approver: e.Actor, Approved: e.Action == approvals.ActionApprovalRecorded, Reason: e.Reason})
	case review.ActionDecided:
		b.pack.Reviews = append(b.pack.Reviews, ReviewAnswer{Time: e.Time, Person: e.Subject, Rule: e.Rule,
			Decision: e.Data["decision"], By: e.Actor, Reason: e.Reason, Self: strings.EqualFold(e.Actor, e.Subject)})
	case review.ActionSuspended, review.ActionRestored, review.ActionSuspensionRefused:
		b.pack.Lifecycle = append(b.pack.Lifecycle, AccountEvent{Time: e.Time, Person: e.Subject,
			Action: strings.TrimPrefix(e.Action, "review."), By: e.Actor, Reason: e.Reason})
	case review.ActionRunStarted:
		b.pack.ReviewRuns++
	case approvals.ActionRequestFailed, review.ActionSuspensionFailed, review.ActionRunFailed:
		b.failure(e)
	case audit.ActionAnchored:
		if e.Data["channel"] != "" {
			seq, _ := strconv.ParseInt(e.Data["seq"], 10, 64)
			b.anchors = append(b.anchors, Anchor{Anchor: audit.Anchor{Seq: seq, Hash: e.Data["hash"]}, Posted: e.Time, Channel: e.Data["channel"]})
		}
	}
}

func (b *builder) failure(e *approvals.Event) {
	if e.RequestID != "" {
		b.failed[e.RequestID] = append(b.failed[e.RequestID], len(b.pack.Failures))
	}
	b.pack.Failures = append(b.pack.Failures, Failure{Time: e.Time, Action: e.Action, RequestID: e.RequestID,
		Subject: e.Subject, Reason: e.Reason})
}

// outcome notes, for the failures recorded so far, what later became of
// their request.
func (b *builder) outcome(e *approvals.Event) {
	for _, i := range b.failed[e.RequestID] {
		f := &b.pack.Failures[i]
		if !e.Time.After(f.Time) {
			continue
		}
		switch e.Action {
		case approvals.ActionGrantRemoved:
			f.Outcome = "membership removed " + stamp(e.Time)
		case approvals.ActionGrantProvisioned:
			f.Outcome = "provisioned on a later try " + stamp(e.Time)
		case approvals.ActionRequestExpired, approvals.ActionRequestRevoked, approvals.ActionRequestReleased:
			if f.Outcome == "" {
				f.Outcome = strings.TrimPrefix(e.Action, "request.") + " " + stamp(e.Time)
			}
		}
	}
}

// requestsFrom reads, for the requests of the period's decisions and
// grants, who could approve each step and whether it was an escalation.
// Each request is read, applied to what names it and dropped, so a year's
// requests are never all in memory at once.
func (b *builder) requestsFrom(ctx context.Context, src Source) error {
	decisions := map[string][]int{}
	for i, d := range b.pack.Decisions {
		decisions[d.RequestID] = append(decisions[d.RequestID], i)
	}
	grants := map[string][]*Grant{}
	for _, g := range b.grants {
		grants[g.RequestID] = append(grants[g.RequestID], g)
	}
	ids := make([]string, 0, len(grants)+len(decisions))
	for id := range grants {
		ids = append(ids, id)
	}
	for id := range decisions {
		if grants[id] == nil {
			ids = append(ids, id)
		}
	}
	return src.View(ctx, func(tx approvals.Tx) error {
		for _, id := range ids {
			r, err := tx.GetRequest(id)
			if err != nil {
				return fmt.Errorf("request %s, named by the chain: %w", approvals.Short(id), err)
			}
			for _, i := range decisions[id] {
				b.decided(&b.pack.Decisions[i], r)
			}
			for _, g := range grants[id] {
				b.granted(g, r)
			}
		}
		return nil
	})
}

// decided completes a decision from its request.
func (b *builder) decided(d *Decision, r *approvals.Request) {
	d.Requester, d.Resource = r.Requester, r.Resource
	d.Self = strings.EqualFold(d.Approver, r.Requester)
	if d.Step >= 1 && d.Step <= len(r.Steps) {
		d.Eligible = slices.ContainsFunc(r.Steps[d.Step-1].Approvers, func(a string) bool { return strings.EqualFold(a, d.Approver) })
	}
	if d.Self && !r.AllowSelf {
		d.Eligible = false
	}
}

// granted completes a grant from its request and the request's events.
func (b *builder) granted(g *Grant, r *approvals.Request) {
	info := b.requests[g.RequestID]
	g.Privileged = r.Admin
	g.Resource = r.Resource
	if info != nil {
		g.Rule, g.Reason, g.Auto, g.Approved = info.rule, info.reason, info.auto, info.approved
		g.Approvers, g.Deadline, g.Ended, g.EndedHow = info.approvers, info.deadline, info.ended, info.endedHow
	}
	if g.Rule == "" {
		g.Rule, g.Reason, g.Auto = r.Rule, r.Reason, r.AutoApproved
	}
	g.Ticket = r.Ticket
	if g.Deadline.IsZero() {
		g.Deadline = r.EndsAt
	}
	if g.Person == "" {
		g.Person = r.Requester
	}
}

// finish keeps the grants that touch the period, in order.
func (b *builder) finish() {
	p := b.pack
	for _, id := range b.order {
		g := b.grants[id]
		touches := inPeriod(g.Provisioned, p.From, p.To) || inPeriod(g.Ended, p.From, p.To) || inPeriod(g.Removed, p.From, p.To) ||
			(!g.Provisioned.IsZero() && g.Provisioned.Before(p.From) && (g.Removed.IsZero() || !g.Removed.Before(p.From)))
		if touches {
			p.Grants = append(p.Grants, *g)
		}
	}
	if b.policy != nil {
		v := *b.policy
		v.InForceAtStart = true
		p.Policies = append([]PolicyVersion{v}, p.Policies...)
	}
	sort.SliceStable(p.Decisions, func(i, j int) bool { return p.Decisions[i].Time.Before(p.Decisions[j].Time) })
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }
