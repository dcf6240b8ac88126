// Package policies reads jitbot's policy file — the directory of people,
// the catalogue of resources and the if-then rules — and decides, for a
// request, which rule applies, who approves it and for how long access may
// be granted.
//
// A policy is loaded once, validated completely (every problem is reported
// with its file:line:column), and then only read: a *Policy is safe for
// concurrent use. The package knows nothing of Slack or SQL: Slack user
// groups are resolved through the small GroupResolver interface.
package policies

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Kinds of resource.
const (
	KindStandard = "standard" // an ordinary membership
	KindAdmin    = "admin"    // an admin escalation, flagged wherever it is shown
)

// Employment types of a person.
const (
	EmploymentInternal = "internal" // an employee
	EmploymentExternal = "external" // a contractor, consultant or partner
)

// Drift handling of a resource: what reconciliation does when a group and
// the grants disagree.
const (
	// ReconcileRemove removes leftovers (members the bot added that no
	// grant covers any more) and only reports a vanished membership of an
	// active grant. The default.
	ReconcileRemove = "remove"
	// ReconcileRepair removes leftovers and adds vanished memberships of
	// active grants back.
	ReconcileRepair = "repair"
	// ReconcileReport only reports either.
	ReconcileReport = "report"
)

// DefaultPendingPerRequester is Limits.PendingPerRequester when the policy
// sets none.
const DefaultPendingPerRequester = 10

// Names of the providers a leaf resource may use: the one list of them
// (package provisioner names its providers with these).
const (
	ProviderJira           = "jira"            // Jira / Confluence site groups
	ProviderAtlassianAdmin = "atlassian-admin" // organisation groups, suspend and restore
	ProviderDryRun         = "dryrun"          // records what it would do
)

// Providers lists the provider names a leaf resource may use.
var Providers = []string{ProviderJira, ProviderAtlassianAdmin, ProviderDryRun, SourceOkta, SourceEntra, SourceGoogle}

const (
	defaultMaxDuration = 8 * time.Hour
	defaultRequestTTL  = 24 * time.Hour
)

// Person is one entry of the directory.
type Person struct {
	Email      string // lower-cased; the key people are matched on in Slack
	Department string
	Manager    string // the manager's email, lower-cased; "" when none
	Employment string // "internal", "external", or "" when not stated
	SlackID    string // optional Slack user id
	// ManagerFrom names who said Manager: an identity provider (okta,
	// entra, google, atlassian) after a directory sync; "" for the policy
	// file itself.
	ManagerFrom string
}

// Resource is one entry of the catalogue: a group membership at a provider
// (a leaf) or a bundle of other resources granted together.
type Resource struct {
	ID       string
	Name     string // display name; the id when the file gives none
	Provider string // jira | atlassian-admin | dryrun; "" for a bundle
	Group    string // the group at the provider; "" for a bundle
	// Kind is "admin" or "standard" (the default). A bundle containing an
	// admin member is "admin" whatever the file says, so that a caller
	// reading Kind can never miss an escalation.
	Kind        string
	MaxDuration time.Duration // the longest grant; 8h when the file gives none
	Owners      []string      // lower-cased emails, all in the directory
	Bundle      []string      // ids of member resources; empty for a leaf
	Reconcile   string        // ReconcileRemove (default), ReconcileRepair or ReconcileReport
}

// IsBundle reports whether r is a bundle rather than a single membership.
func (r *Resource) IsBundle() bool { return len(r.Bundle) > 0 }

// Policy is a validated policy file. Build one with Load or Parse; treat it
// as read-only afterwards.
type Policy struct {
	Source string // the path or name the policy was loaded from
	Hash   string // hex SHA-256 of the policy file bytes followed by the CSV bytes, if any
	// DirectoryFile is the path of the CSV directory.file names, as read
	// (joined to the policy's folder); "" when there is none.
	DirectoryFile string
	People        map[string]*Person // keyed by lower-cased email
	// Directory is directory.sources and its settings (sources.go); nil
	// when the directory is the policy file's alone.
	Directory *DirectorySettings
	Resources []*Resource // in file order
	Rules     []*Rule     // in file order; the first that matches applies
	Limits    Limits
	Review    ReviewSettings // reviews:, licence_costs: and timezone: (reviews.go)
	// Certifications are the reviews of standing membership, in file order
	// (certifications.go).
	Certifications []*CertRule

	byID map[string]*Resource
	own  map[string]*Person // the file's own people, once WithPeople replaced People
}

// Limits are the policy's bounds on what people may do.
type Limits struct {
	// PendingPerRequester caps how many requests one person may have
	// waiting for approval at once (default DefaultPendingPerRequester).
	PendingPerRequester int
}

// Rule is one if-then rule of the policy.
type Rule struct {
	Name string // as written; "rule N" (N counted from 1) when the file gives none
	Line int    // where the rule starts in the policy file
	If   Match
	Then Action

	stepAt []pos // where each step's quorum is written, for CheckQuorums
}

// Match is the condition of a rule. Every field that is set must hold;
// the zero Match matches every request.
type Match struct {
	Requester PersonMatch
	// Resources lists resource ids. A request matches when it asks for one
	// of them, or for a member (at any depth) of a bundle listed: a rule for
	// a bundle thus also covers its parts asked for alone, never the
	// reverse, so a rule for a part cannot auto-approve a whole bundle.
	Resources []string
	// ResourceKind is "admin", "standard" or "" (either). A bundle is admin
	// when any of its members is.
	ResourceKind string
	// DurationAtMost and DurationLongerThan bound the duration asked for;
	// zero means no bound.
	DurationAtMost     time.Duration
	DurationLongerThan time.Duration
	// Time, when set, holds only while the request is filed within its
	// window (timewindow.go).
	Time *TimeWindow
}

// PersonMatch is the requester part of a Match. Each list, when not empty,
// must contain the requester's value, compared case-insensitively.
type PersonMatch struct {
	Department  []string
	Employment  []string
	Email       []string // lower-cased
	EmailDomain []string // lower-cased, without a leading "@"
}

// Action is what a rule decides.
type Action struct {
	// Approvals are the approval steps, run in order; empty when the rule
	// auto-approves.
	Approvals   []Approval
	AutoApprove bool
	Notify      []string // channels told of each decision
	// MaxDuration caps the resource's own maximum; zero when the rule sets
	// no cap.
	MaxDuration       time.Duration
	RequireTicket     bool
	RequestTTL        time.Duration // how long a request waits for approvers; 24h by default
	AllowSelfApproval bool          // a requester who is also an approver may approve
	// AllowRepeatApprover lets an approver of an earlier step approve a
	// later step of the same request too. Off by default: two steps mean
	// two people (the two-person rule).
	AllowRepeatApprover bool
	// OnBehalf are the approver terms of who may file a request for the
	// requester (incidents.go); nil: nobody.
	OnBehalf []string
	// BreakGlass, when set, lets the requester have the access at once,
	// reviewed after the fact (incidents.go).
	BreakGlass *BreakGlass
}

// Approval is one approval step of a rule, as written.
type Approval struct {
	// Approvers are terms: "manager", "owner", "group:HANDLE" or an email.
	Approvers []string
	Quorum    int // distinct people needed; 1 by default
	// EscalateAfter and EscalateTo: when the step is unanswered that long
	// after it started, the people of EscalateTo (terms) may approve it
	// too (incidents.go). Zero and nil when the step never escalates.
	EscalateAfter time.Duration
	EscalateTo    []string
}

// Load reads and validates the policy file at path. A directory.file it
// names is read from the policy file's folder, never outside it. An invalid
// policy returns a *LoadError listing every problem.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, nil)
}

// Parse validates the policy in data. name is used in problems and as
// Policy.Source. readFile reads the CSV a directory.file names: a relative
// path inside the folder of name (absolute paths and .. are refused before
// readFile is called), joined to that folder. A nil readFile reads through
// an os.Root at that folder, so that a symlink leading out of it is refused
// too. An invalid policy returns a *LoadError listing every problem, sorted
// by position.
func Parse(name string, data []byte, readFile func(path string) ([]byte, error)) (*Policy, error) {
	if readFile == nil {
		dir := filepath.Dir(name)
		readFile = func(path string) ([]byte, error) { return readInside(dir, path) }
	}
	return parse(name, data, readFile)
}

// Person returns the directory entry for email, compared case-insensitively.
func (p *Policy) Person(email string) (*Person, bool) {
	per, ok := p.People[normEmail(email)]
	return per, ok
}

// Resource returns the resource with the given id.
func (p *Policy) Resource(id string) (*Resource, bool) {
	if p.byID != nil {
		r, ok := p.byID[id]
		return r, ok
	}
	for _, r := range p.Resources {
		if r.ID == id {
			return r, true
		}
	}
	return nil, false
}

// Leaves returns the memberships resource id grants: a leaf returns itself,
// a bundle its members expanded recursively, each once, in file order of
// first appearance. An unknown id returns nil.
func (p *Policy) Leaves(id string) []*Resource {
	r, ok := p.Resource(id)
	if !ok {
		return nil
	}
	var out []*Resource
	p.walk(r, func(m *Resource) {
		if !m.IsBundle() {
			out = append(out, m)
		}
	})
	return out
}

// walk calls fn on r and every resource beneath it, each once, depth
// first. Unknown members are skipped; cycles cannot loop.
func (p *Policy) walk(r *Resource, fn func(*Resource)) {
	seen := map[string]bool{}
	var visit func(*Resource)
	visit = func(r *Resource) {
		if seen[r.ID] {
			return
		}
		seen[r.ID] = true
		fn(r)
		for _, id := range r.Bundle {
			if m, ok := p.Resource(id); ok {
				visit(m)
			}
		}
	}
	visit(r)
}

// contains reports whether resource id is outer or lies beneath it.
func (p *Policy) contains(outer, id string) bool {
	r, ok := p.Resource(outer)
	if !ok {
		return false
	}
	found := false
	p.walk(r, func(m *Resource) { found = found || m.ID == id })
	return found
}

// IsAdmin reports whether resource id is an admin escalation: of kind
// admin, or a bundle with an admin member.
func (p *Policy) IsAdmin(id string) bool {
	r, ok := p.Resource(id)
	if !ok {
		return false
	}
	admin := false
	p.walk(r, func(m *Resource) { admin = admin || m.Kind == KindAdmin })
	return admin
}

// Groups returns, for each provider, the sorted distinct group names the
// policy's resources name.
func (p *Policy) Groups() map[string][]string {
	out := map[string][]string{}
	for _, r := range p.Resources {
		if r.IsBundle() || r.Provider == "" {
			continue
		}
		if !slices.Contains(out[r.Provider], r.Group) {
			out[r.Provider] = append(out[r.Provider], r.Group)
		}
	}
	for _, gs := range out {
		slices.Sort(gs)
	}
	return out
}

// resourceMax is the longest r can be granted for regardless of rules:
// the smallest MaxDuration of r and everything beneath it.
func (p *Policy) resourceMax(r *Resource) time.Duration {
	limit := time.Duration(0)
	p.walk(r, func(m *Resource) {
		if m.MaxDuration > 0 && (limit == 0 || m.MaxDuration < limit) {
			limit = m.MaxDuration
		}
	})
	if limit == 0 {
		limit = defaultMaxDuration
	}
	return limit
}

// owners returns r's owners, or for a bundle without owners of its own the
// union of its leaves' owners.
func (p *Policy) owners(r *Resource) []string {
	if len(r.Owners) > 0 || !r.IsBundle() {
		return r.Owners
	}
	var out []string
	for _, leaf := range p.Leaves(r.ID) {
		for _, o := range leaf.Owners {
			if !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	return out
}

func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
