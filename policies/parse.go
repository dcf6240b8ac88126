package policies

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxAliases bounds how many YAML aliases the parser follows, so that a
// file of nested aliases ("billion laughs") cannot make it run forever.
const maxAliases = 10000

// The keys allowed at each level of the file.
var (
	// sectionKeys are the sections that make a policy, named when the file
	// is not a mapping at all.
	sectionKeys   = []string{"directory", "resources", "rules"}
	limitsKeys    = []string{"pending_per_requester"}
	directoryKeys = []string{"file", "people", "sources", "sync_every", "max_drop", "employment_values"}
	personKeys    = []string{"email", "department", "manager", "employment", "slack_id"}
	resourceKeys  = []string{"id", "name", "provider", "group", "kind", "max_duration", "owners", "bundle", "reconcile"}
	ruleKeys      = []string{"name", "if", "then"}
	matchKeys     = []string{"requester", "resource", "resource_kind", "duration_at_most", "duration_longer_than", "time"}
	requesterKeys = []string{"department", "employment", "email", "email_domain"}
	actionKeys    = []string{"approvals", "auto_approve", "notify", "max_duration", "require_ticket", "request_ttl", "allow_self_approval", "allow_repeat_approver", "allow_auto_admin", "on_behalf", "break_glass"}
	stepKeys      = []string{"approvers", "quorum", "escalate_after", "escalate_to"}
)

// pos is a position in the policy file or its CSV.
type pos struct {
	file      string
	line, col int
}

// parser accumulates the policy and every problem found in it.
type parser struct {
	name     string
	readFile func(string) ([]byte, error)
	problems []Problem
	aliases  int
	aborted  bool // too many aliases: stop reporting consequential problems

	pol      *Policy
	csv      []byte
	personAt map[string]pos // where each person is defined
	managers []ref          // manager references, checked once the directory is complete
	// managerAt indexes managers by whose manager, once a loop is found
	// (lintchecks.go).
	managerAt map[string]ref
	resAt     map[string]pos // where each resource is defined
	members   map[string][]*yaml.Node
	cycles    int      // problems that are loops of managers (lint.go)
	ruleAt    []keyPos // where each rule's keys are, for lint.go
	reviewAt  []keyPos // where each review rule's keys are
}

// ref is a reference to a person or resource, with where it is made.
type ref struct {
	key      string
	at       pos
	fromFile bool   // made in the directory file: never echo key
	of       string // for a manager: whose manager
}

// entry is one key and its value in a YAML mapping.
type entry struct{ key, val *yaml.Node }

func parse(name string, data []byte, readFile func(string) ([]byte, error)) (*Policy, error) {
	ps := &parser{
		name:     name,
		readFile: readFile,
		pol: &Policy{
			Source: name,
			People: map[string]*Person{},
			byID:   map[string]*Resource{},
		},
		personAt: map[string]pos{},
		resAt:    map[string]pos{},
		members:  map[string][]*yaml.Node{},
	}
	if root := ps.document(data); root != nil {
		ps.policy(root)
	}
	var warnings []Finding
	if len(ps.problems) == ps.cycles {
		// lint.go; a loop of managers leaves the policy whole, so the
		// findings are reported with it. Lint errors are problems.
		warnings = ps.lint()
	}
	if len(ps.problems) > 0 {
		return nil, &LoadError{Problems: sortProblems(name, ps.problems), Warnings: warnings}
	}
	ps.pol.Findings = warnings
	h := sha256.New()
	h.Write(data)
	h.Write(ps.csv)
	ps.pol.Hash = hex.EncodeToString(h.Sum(nil))
	return ps.pol, nil
}

// add records a problem.
func (ps *parser) add(at pos, format string, args ...any) {
	if ps.aborted {
		return
	}
	ps.problems = append(ps.problems, Problem{File: at.file, Line: at.line, Column: at.col, Message: fmt.Sprintf(format, args...)})
}

// at is the position of n in the policy file.
func (ps *parser) at(n *yaml.Node) pos {
	line, col := n.Line, n.Column
	if line < 1 {
		line, col = 1, 1
	}
	return pos{ps.name, line, col}
}

// nodef records a problem at n.
func (ps *parser) nodef(n *yaml.Node, format string, args ...any) {
	ps.add(ps.at(n), format, args...)
}

// where describes position at for a "first at ..." remark in a problem
// reported at here: just the line when both are in the same file.
func where(at, here pos) string {
	if at.file == here.file {
		return "line " + strconv.Itoa(at.line)
	}
	return fmt.Sprintf("%s:%d", at.file, at.line)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document decodes data and returns its root mapping, or nil after
// recording why there is none.
func (ps *parser) document(data []byte) (root *yaml.Node) {
	start := pos{ps.name, 1, 1}
	defer func() {
		// yaml.v3 has panicked on hostile input before; a policy check must
		// report, not crash.
		if r := recover(); r != nil {
			ps.add(start, "invalid YAML: %v", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			ps.add(start, "the policy is empty: expected a mapping with the keys %s", strings.Join(sectionKeys, ", "))
		} else {
			ps.yamlError(err, data)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		if len(extra.Content) > 0 && !isNull(extra.Content[0]) {
			ps.nodef(extra.Content[0], "a policy file holds one YAML document; remove this second one")
		}
	case !errors.Is(err, io.EOF):
		ps.yamlError(err, data)
	}
	if len(doc.Content) == 0 {
		ps.add(start, "the policy is empty: expected a mapping with the keys %s", strings.Join(sectionKeys, ", "))
		return nil
	}
	root = ps.deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		if isNull(root) {
			ps.add(start, "the policy is empty: expected a mapping with the keys %s", strings.Join(sectionKeys, ", "))
		} else {
			ps.add(start, "the policy must be a mapping with the keys %s, got %s", strings.Join(sectionKeys, ", "), describe(root))
		}
		return nil
	}
	return root
}

// yamlError records a syntax error reported by the YAML decoder.
func (ps *parser) yamlError(err error, data []byte) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		at := pos{ps.name, max(line, 1), 1}
		if strings.Contains(m[2], "tab character") {
			// The decoder names the line before the tab: point at it.
			at = tabAt(ps.name, data, at)
		}
		ps.add(at, "invalid YAML: %s", m[2])
		return
	}
	ps.add(pos{ps.name, 1, 1}, "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// topLevel is the policy's top-level keys, each with its reader, in the
// order they are read whatever their order in the file: the directory
// before the resources and the resources before the rules, since each
// refers to the one before. A new section is one more row.
var topLevel = []struct {
	key      string
	required bool
	read     func(ps *parser, n *yaml.Node)
}{
	{"directory", false, (*parser).directory},
	{"resources", true, (*parser).resources},
	{"rules", true, (*parser).rules},
	{"limits", false, (*parser).limits},
	{"timezone", false, (*parser).timezone},             // reviews.go; before reviews, whose schedules it sets
	{"licence_costs", false, (*parser).licenceCosts},    // reviews.go
	{"reviews", false, (*parser).reviews},               // reviews.go
	{"certifications", false, (*parser).certifications}, // certifications.go; after resources and timezone
	{"lint", false, (*parser).lintLevel},                // lint.go
}

// rootKeys lists topLevel's keys.
func rootKeys() []string {
	keys := make([]string, len(topLevel))
	for i, t := range topLevel {
		keys[i] = t.key
	}
	return keys
}

// policy reads the root mapping, section by section in topLevel's order,
// and fills in the defaults of the sections the file leaves out.
func (ps *parser) policy(root *yaml.Node) {
	ps.pol.Limits = Limits{PendingPerRequester: DefaultPendingPerRequester}
	f, ok := ps.fields(root, "the policy", rootKeys())
	if !ok {
		return
	}
	for _, t := range topLevel {
		if e, ok := f[t.key]; ok {
			t.read(ps, e.val)
		} else if t.required {
			ps.require(root, f, "the policy", t.key)
		}
	}
}

// limits reads the limits section.
func (ps *parser) limits(n *yaml.Node) {
	f, ok := ps.fields(n, "limits", limitsKeys)
	if !ok {
		return
	}
	if e, has := f["pending_per_requester"]; has {
		if v, ok := ps.integer(e.val, "pending_per_requester"); ok {
			if v < 1 {
				ps.nodef(ps.deref(e.val), "pending_per_requester must be at least 1, got %d", v)
			} else {
				ps.pol.Limits.PendingPerRequester = v
			}
		}
	}
}

// tabAt returns where the first tab in a line's indentation is, from the
// line at on; at itself when there is none.
func tabAt(name string, data []byte, at pos) pos {
	for i, line := range strings.Split(string(data), "\n") {
		if i+1 < at.line {
			continue
		}
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if col := strings.IndexByte(indent, '\t'); col >= 0 {
			return pos{name, i + 1, col + 1}
		}
	}
	return at
}
