package policies

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The certification part of a policy: the top-level key certifications:,
// periodic reviews of standing membership (members of a managed group that
// no grant covers).
//
//	certifications:
//	  - name: admin groups quarterly
//	    resources: [jira-admins, site-admins]   # or groups: [confluence-*]
//	    reviewers: [owner]                       # owner | manager | group:HANDLE | email
//	    schedule: "0 9 1 1,4,7,10 *"
//	    answer_within: 14d
//	    escalate_to: [owner, manager]            # when unanswered halfway: the owners, the reviewer's manager
//	    default: keep                            # keep | remove | convert
//	    channel: "#it-access-reviews"            # progress; optional

var certKeys = []string{"name", "resources", "groups", "reviewers", "schedule", "answer_within", "escalate_to", "default", "channel"}

// Answers to a certification item, and the defaults a rule may name.
const (
	CertKeep    = "keep"    // the standing membership stays (a reason is required)
	CertRemove  = "remove"  // the membership is removed
	CertConvert = "convert" // removed now; the person requests it just in time when needed
)

// Reviewer terms besides group:HANDLE and an email address.
const (
	ReviewerOwner   = "owner"   // an owner of the resource (owners: in resources:)
	ReviewerManager = "manager" // the member's manager in the directory
)

// DefaultAnswerWithin is a certification's answer_within when the rule
// gives none.
const DefaultAnswerWithin = 14 * Day

// CertRule is one entry of certifications:.
type CertRule struct {
	Name string
	Line int // where the rule starts in the policy file
	// Resources are the leaf resource ids the rule names (a bundle named
	// stands for its leaves); Groups are group name patterns (path.Match
	// syntax) matched against the catalogue's groups.
	Resources []string
	Groups    []string
	// Reviewers are tried in order for each member: the first that names
	// someone other than the member reviews it (owner, manager,
	// group:HANDLE or an email); none: IT.
	Reviewers    []string
	Schedule     string
	AnswerWithin time.Duration
	// EscalateTo may also answer once half of answer_within has passed
	// without an answer; they are told then. Here owner names the
	// resource's owners and manager the manager of the reviewer who did
	// not answer (certify/escalate.go); never the member.
	EscalateTo []string
	Default    string // keep | remove | convert, applied at answer_within
	Channel    string // Slack channel for the campaign's progress; "" for none

	schedule // Next (reviews.go)
}

// CertTarget is one group a certification reviews, with the resource of
// the catalogue that names it.
type CertTarget struct {
	Resource string // resource id
	Provider string
	Group    string
	Owners   []string
}

// Targets returns the groups rule r reviews under policy p, each once, in
// catalogue order.
func (p *Policy) Targets(r *CertRule) []CertTarget {
	var out []CertTarget
	seen := map[string]bool{}
	for _, res := range p.Resources {
		if res.IsBundle() {
			continue
		}
		named := slices.ContainsFunc(r.Resources, func(id string) bool { return id == res.ID || p.contains(id, res.ID) })
		for _, g := range r.Groups {
			if ok, _ := path.Match(g, res.Group); ok {
				named = true
			}
		}
		k := res.Provider + "\x00" + res.Group
		if !named || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, CertTarget{Resource: res.ID, Provider: res.Provider, Group: res.Group, Owners: p.owners(res)})
	}
	return out
}

// CertRule returns the certification rule called name.
func (p *Policy) CertRule(name string) (*CertRule, bool) {
	for _, r := range p.Certifications {
		if r.Name == name {
			return r, true
		}
	}
	return nil, false
}

// ---- parsing ----

// certifications reads certifications:, after resources: and timezone:.
func (ps *parser) certifications(n *yaml.Node) {
	items, ok := ps.seq(n, "certifications")
	if !ok {
		return
	}
	names := map[string]int{}
	for i, it := range items {
		if r := ps.certRule(it, i, names); r != nil {
			r.loc = ps.pol.Review.Loc()
			ps.pol.Certifications = append(ps.pol.Certifications, r)
		}
	}
}

func (ps *parser) certRule(n *yaml.Node, i int, names map[string]int) *CertRule {
	f, ok := ps.fields(n, "a certification", certKeys)
	if !ok {
		return nil
	}
	node := ps.deref(n)
	r := &CertRule{Name: fmt.Sprintf("certification %d", i+1), Line: node.Line, AnswerWithin: DefaultAnswerWithin, Default: CertKeep}
	what := ps.ruleName(f, "certification", names, &r.Name) // reviews.go
	ps.require(n, f, what, "name", "reviewers", "schedule")
	_, hasRes := f["resources"]
	_, hasGroups := f["groups"]
	if !hasRes && !hasGroups {
		ps.nodef(node, "%s must name resources: or groups: to review", what)
	}
	if e, has := f["resources"]; has {
		ps.nonEmpty(e.val, "resources")
		ids, nodes, _ := ps.strs(e.val, "resources", true)
		for j, id := range ids {
			switch _, known := ps.pol.byID[id]; {
			case !known:
				ps.nodef(nodes[j], "unknown resource %q in %s", id, what)
			case slices.Contains(r.Resources, id):
				ps.nodef(nodes[j], "resource %q is listed twice", id)
			default:
				r.Resources = append(r.Resources, id)
			}
		}
	}
	if e, has := f["groups"]; has {
		ps.nonEmpty(e.val, "groups")
		pats, nodes, _ := ps.strs(e.val, "groups", true)
		for j, g := range pats {
			if _, err := path.Match(g, ""); err != nil {
				ps.nodef(nodes[j], "groups %q is not a pattern like confluence-*: %v", g, err)
				continue
			}
			matched := slices.ContainsFunc(ps.pol.Resources, func(res *Resource) bool {
				ok, _ := path.Match(g, res.Group)
				return ok && !res.IsBundle()
			})
			if !matched {
				ps.nodef(nodes[j], "groups %q matches no group of the resources", g)
				continue
			}
			r.Groups = append(r.Groups, g)
		}
	}
	if e, has := f["reviewers"]; has {
		r.Reviewers = ps.reviewerTerms(e.val, "reviewers")
	}
	if e, has := f["escalate_to"]; has {
		r.EscalateTo = ps.reviewerTerms(e.val, "escalate_to")
	}
	ps.schedule(f, &r.Schedule, &r.schedule)
	if e, has := f["answer_within"]; has {
		if d, ok := ps.duration(e.val, "answer_within"); ok {
			if d < time.Hour {
				ps.nodef(ps.deref(e.val), "answer_within must be at least 1h, got %s", FormatDuration(d))
			} else {
				r.AnswerWithin = d
			}
		}
	}
	if e, has := f["default"]; has {
		if s, ok := ps.oneOf(e.val, "default", CertKeep, CertRemove, CertConvert); ok {
			r.Default = s
		}
	}
	if e, has := f["channel"]; has {
		r.Channel, _ = ps.str(e.val, "channel")
	}
	return r
}

// reviewerTerms reads a list of owner | manager | group:HANDLE | email,
// each email in the directory.
func (ps *parser) reviewerTerms(n *yaml.Node, key string) []string {
	ps.nonEmpty(n, key)
	terms, nodes, _ := ps.strs(n, key, true)
	var out []string
	for j, t := range terms {
		lt := strings.ToLower(t)
		if strings.Contains(lt, "@") && !strings.HasPrefix(lt, "group:") {
			lt = normEmail(lt)
		} else if strings.HasPrefix(lt, "group:") {
			lt = "group:" + strings.TrimPrefix(t, "group:")
		}
		if err := checkTerm(lt); err != nil {
			ps.nodef(nodes[j], "%s: %s", key, strings.Replace(err.Error(), "approver", "reviewer", 1))
			continue
		}
		if strings.Contains(lt, "@") && !strings.HasPrefix(lt, "group:") && !ps.known(lt) {
			ps.nodef(nodes[j], "%s: %s is not in the directory", key, lt)
			continue
		}
		if slices.Contains(out, lt) {
			ps.nodef(nodes[j], "%s: %q is listed twice", key, t)
			continue
		}
		out = append(out, lt)
	}
	return out
}
