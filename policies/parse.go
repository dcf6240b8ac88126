package policies

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// maxAliases bounds how many YAML aliases the parser follows, so that a
// file of nested aliases ("billion laughs") cannot make it run forever.
const maxAliases = 10000

// The keys allowed at each level of the file.
var (
	rootKeys      = []string{"directory", "resources", "rules"}
	directoryKeys = []string{"file", "people"}
	personKeys    = []string{"email", "department", "manager", "employment", "slack_id"}
	resourceKeys  = []string{"id", "name", "provider", "group", "kind", "max_duration", "owners", "bundle", "reconcile"}
	ruleKeys      = []string{"name", "if", "then"}
	matchKeys     = []string{"requester", "resource", "resource_kind", "duration_at_most", "duration_longer_than"}
	requesterKeys = []string{"department", "employment", "email", "email_domain"}
	actionKeys    = []string{"approvals", "auto_approve", "notify", "max_duration", "require_ticket", "request_ttl", "allow_self_approval"}
	stepKeys      = []string{"approvers", "quorum"}
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
	resAt    map[string]pos // where each resource is defined
	members  map[string][]*yaml.Node
}

// ref is a reference to a person or resource, with where it is made.
type ref struct {
	key string
	at  pos
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
	if len(ps.problems) > 0 {
		return nil, &LoadError{Problems: sortProblems(name, ps.problems)}
	}
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
			ps.add(start, "the policy is empty: expected a mapping with the keys %s", strings.Join(rootKeys, ", "))
		} else {
			ps.yamlError(err)
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
		ps.yamlError(err)
	}
	if len(doc.Content) == 0 {
		ps.add(start, "the policy is empty: expected a mapping with the keys %s", strings.Join(rootKeys, ", "))
		return nil
	}
	root = ps.deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		if isNull(root) {
			ps.add(start, "the policy is empty: expected a mapping with the keys %s", strings.Join(rootKeys, ", "))
		} else {
			ps.add(start, "the policy must be a mapping with the keys %s, got %s", strings.Join(rootKeys, ", "), describe(root))
		}
		return nil
	}
	return root
}

// yamlError records a syntax error reported by the YAML decoder.
func (ps *parser) yamlError(err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		ps.add(pos{ps.name, max(line, 1), 1}, "invalid YAML: %s", m[2])
		return
	}
	ps.add(pos{ps.name, 1, 1}, "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// policy reads the root mapping. The directory is read before the
// resources and the resources before the rules, whatever their order in
// the file, since each refers to the one before.
func (ps *parser) policy(root *yaml.Node) {
	f, ok := ps.fields(root, "the policy", append(rootKeys, reviewRootKeys...)) // reviews.go
	if !ok {
		return
	}
	if e, ok := f["directory"]; ok {
		ps.directory(e.val)
	}
	ps.checkManagers()
	ps.require(root, f, "the policy", "resources", "rules")
	if e, ok := f["resources"]; ok {
		ps.resources(e.val)
	}
	if e, ok := f["rules"]; ok {
		ps.rules(e.val)
	}
	ps.reviewSection(f) // reviews.go
}

// ---- generic YAML helpers ----

// deref follows aliases, within the alias budget.
func (ps *parser) deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		ps.aliases++
		if n.Alias == nil || ps.aliases > maxAliases {
			if !ps.aborted {
				ps.nodef(n, "too many YAML aliases (more than %d): expand them", maxAliases)
				ps.aborted = true
			}
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
		}
		n = n.Alias
	}
	return n
}

// fields checks that n is a mapping with only allowed keys, each once, and
// returns its entries by key, with YAML merge keys ("<<: *anchor")
// expanded. It returns false when n is not a mapping.
func (ps *parser) fields(n *yaml.Node, what string, allowed []string) (map[string]entry, bool) {
	n = ps.deref(n)
	if n.Kind != yaml.MappingNode {
		ps.nodef(n, "%s must be a mapping with the keys %s, got %s", what, strings.Join(allowed, ", "), describe(n))
		return nil, false
	}
	out := map[string]entry{}
	var merged []entry
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := ps.deref(n.Content[i]), n.Content[i+1]
		if isMergeKey(k) {
			merged = append(merged, ps.mergeEntries(v, 0)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			ps.nodef(k, "%s: a key must be a plain name, got %s", what, describe(k))
			continue
		}
		if prev, dup := out[k.Value]; dup {
			ps.nodef(k, "key %q is repeated (first at line %d)", k.Value, prev.key.Line)
			continue
		}
		if !slices.Contains(allowed, k.Value) {
			ps.nodef(k, "unknown key %q in %s: expected one of %s", k.Value, what, strings.Join(allowed, ", "))
			continue
		}
		out[k.Value] = entry{k, v}
	}
	for _, e := range merged {
		if _, ok := out[e.key.Value]; ok {
			continue // explicit keys override merged ones
		}
		if !slices.Contains(allowed, e.key.Value) {
			ps.nodef(e.key, "unknown key %q in %s: expected one of %s", e.key.Value, what, strings.Join(allowed, ", "))
			continue
		}
		out[e.key.Value] = e
	}
	return out, true
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Tag == "!!merge"
}

// mergeEntries returns the entries a merge key brings in: a mapping's, or
// those of each mapping in a list, earlier ones taking precedence.
func (ps *parser) mergeEntries(v *yaml.Node, depth int) []entry {
	v = ps.deref(v)
	if depth > 10 {
		ps.nodef(v, "merge keys nested too deeply")
		return nil
	}
	var out []entry
	switch v.Kind {
	case yaml.MappingNode:
		var nested []entry
		for i := 0; i+1 < len(v.Content); i += 2 {
			k := ps.deref(v.Content[i])
			switch {
			case isMergeKey(k):
				nested = append(nested, ps.mergeEntries(v.Content[i+1], depth+1)...)
			case k.Kind == yaml.ScalarNode:
				out = append(out, entry{k, v.Content[i+1]})
			default:
				ps.nodef(k, "a key must be a plain name, got %s", describe(k))
			}
		}
		out = append(out, nested...)
	case yaml.SequenceNode:
		for _, item := range v.Content {
			if it := ps.deref(item); it.Kind == yaml.MappingNode {
				out = append(out, ps.mergeEntries(it, depth+1)...)
			} else {
				ps.nodef(it, "<< must merge a mapping, got %s", describe(it))
			}
		}
	default:
		ps.nodef(v, "<< must merge a mapping or a list of mappings, got %s", describe(v))
	}
	return out
}

// require reports each key missing from f, at the mapping n.
func (ps *parser) require(n *yaml.Node, f map[string]entry, what string, keys ...string) bool {
	ok := true
	for _, k := range keys {
		if _, has := f[k]; !has {
			ps.nodef(ps.deref(n), "%s is missing the required key %q", what, k)
			ok = false
		}
	}
	return ok
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what n is, for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!bool":
			return v
		case "!!int", "!!float":
			return "the number " + v
		}
		return strconv.Quote(v)
	}
	return "an alias"
}

// str reads a non-empty scalar.
func (ps *parser) str(n *yaml.Node, key string) (string, bool) {
	n = ps.deref(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		ps.nodef(n, "%s must be a string, got %s", key, describe(n))
		return "", false
	}
	s := strings.TrimSpace(n.Value)
	if s == "" {
		ps.nodef(n, "%s must not be empty", key)
		return "", false
	}
	return s, true
}

// seq reads a list, returning its items with aliases followed.
func (ps *parser) seq(n *yaml.Node, key string) ([]*yaml.Node, bool) {
	n = ps.deref(n)
	if n.Kind != yaml.SequenceNode {
		ps.nodef(n, "%s must be a list, got %s", key, describe(n))
		return nil, false
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, it := range n.Content {
		items[i] = ps.deref(it)
	}
	return items, true
}

// strs reads a list of strings; with single, a lone string is accepted as
// a list of one. It returns the valid strings and their nodes.
func (ps *parser) strs(n *yaml.Node, key string, single bool) ([]string, []*yaml.Node, bool) {
	n = ps.deref(n)
	var items []*yaml.Node
	switch {
	case single && n.Kind == yaml.ScalarNode && !isNull(n):
		items = []*yaml.Node{n}
	case n.Kind == yaml.SequenceNode:
		items, _ = ps.seq(n, key)
	default:
		want := "a list of strings"
		if single {
			want = "a string or a list of strings"
		}
		ps.nodef(n, "%s must be %s, got %s", key, want, describe(n))
		return nil, nil, false
	}
	var vals []string
	var nodes []*yaml.Node
	ok := true
	for _, it := range items {
		s, good := ps.str(it, key+" entries")
		if !good {
			ok = false
			continue
		}
		vals = append(vals, s)
		nodes = append(nodes, it)
	}
	return vals, nodes, ok
}

// boolean reads true or false.
func (ps *parser) boolean(n *yaml.Node, key string) (bool, bool) {
	n = ps.deref(n)
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		ps.nodef(n, "%s must be true or false, got %s", key, describe(n))
		return false, false
	}
	return b, true
}

// integer reads a whole number.
func (ps *parser) integer(n *yaml.Node, key string) (int, bool) {
	n = ps.deref(n)
	var i int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		ps.nodef(n, "%s must be a whole number, got %s", key, describe(n))
		return 0, false
	}
	return i, true
}

// duration reads a duration as ParseDuration does.
func (ps *parser) duration(n *yaml.Node, key string) (time.Duration, bool) {
	n = ps.deref(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		ps.nodef(n, "%s must be a duration like 4h or 30d, got %s", key, describe(n))
		return 0, false
	}
	d, err := ParseDuration(n.Value)
	if err != nil {
		ps.nodef(n, "%s: %v", key, err)
		return 0, false
	}
	return d, true
}

// oneOf reads a string that must be one of choices, compared
// case-insensitively, and returns it lower-cased.
func (ps *parser) oneOf(n *yaml.Node, key string, choices ...string) (string, bool) {
	s, ok := ps.str(n, key)
	if !ok {
		return "", false
	}
	s = strings.ToLower(s)
	if !slices.Contains(choices, s) {
		ps.nodef(ps.deref(n), "%s must be %s, got %q", key, strings.Join(choices, " | "), s)
		return "", false
	}
	return s, true
}

// ---- directory ----

// personIn is a directory entry as read from YAML or CSV, with positions.
type personIn struct {
	at                                     pos
	email, department, manager, employment string
	slackID                                string
	emailAt, managerAt, employmentAt       pos
}

func (ps *parser) directory(n *yaml.Node) {
	f, ok := ps.fields(n, "directory", directoryKeys)
	if !ok {
		return
	}
	if e, ok := f["people"]; ok {
		items, _ := ps.seq(e.val, "people")
		for _, it := range items {
			ps.inlinePerson(it)
		}
	}
	if e, ok := f["file"]; ok {
		if file, ok := ps.str(e.val, "file"); ok {
			ps.csvFile(file, ps.deref(e.val))
		}
	}
}

func (ps *parser) inlinePerson(n *yaml.Node) {
	f, ok := ps.fields(n, "a person", personKeys)
	if !ok {
		return
	}
	if !ps.require(n, f, "a person", "email") {
		return
	}
	in := personIn{at: ps.at(n)}
	good := true
	read := func(key string, dst *string, at *pos) {
		e, has := f[key]
		if !has {
			return
		}
		s, ok := ps.str(e.val, key)
		good = good && ok
		*dst = s
		if at != nil {
			*at = ps.at(ps.deref(e.val))
		}
	}
	read("email", &in.email, &in.emailAt)
	read("department", &in.department, nil)
	read("manager", &in.manager, &in.managerAt)
	read("employment", &in.employment, &in.employmentAt)
	read("slack_id", &in.slackID, nil)
	if good {
		ps.addPerson(in)
	}
}

// addPerson validates a directory entry and adds it.
func (ps *parser) addPerson(in personIn) {
	ok := true
	email := normEmail(in.email)
	if !isEmail(email) {
		ps.add(in.emailAt, "email %q is not an email address", in.email)
		ok = false
	}
	manager := normEmail(in.manager)
	switch {
	case manager == "":
	case !isEmail(manager):
		ps.add(in.managerAt, "manager %q is not an email address", in.manager)
		ok = false
	case manager == normEmail(in.email):
		ps.add(in.managerAt, "%s cannot be their own manager", manager)
		ok = false
	default:
		// Checked once the whole directory is read, even if this entry
		// has other problems, so that every problem is reported at once.
		ps.managers = append(ps.managers, ref{manager, in.managerAt})
	}
	employment := strings.ToLower(strings.TrimSpace(in.employment))
	if employment != "" && employment != EmploymentInternal && employment != EmploymentExternal {
		ps.add(in.employmentAt, "employment must be internal | external, got %q", in.employment)
		ok = false
	}
	if !ok {
		return
	}
	if first, dup := ps.personAt[email]; dup {
		ps.add(in.emailAt, "%s is listed twice in the directory (first at %s)", email, where(first, in.emailAt))
		return
	}
	ps.personAt[email] = in.emailAt
	ps.pol.People[email] = &Person{
		Email:      email,
		Department: strings.TrimSpace(in.department),
		Manager:    manager,
		Employment: employment,
		SlackID:    strings.TrimSpace(in.slackID),
	}
}

func (ps *parser) checkManagers() {
	for _, m := range ps.managers {
		if _, ok := ps.pol.People[m.key]; !ok {
			ps.add(m.at, "manager %s is not in the directory", m.key)
		}
	}
}

// csvColumns are the directory file's columns, in their default order.
var csvColumns = []string{"email", "department", "manager", "employment", "slack_id"}

// csvFile reads the directory file named at node n. A first row starting
// with "email" is a header naming the columns; otherwise the columns are
// csvColumns in order.
func (ps *parser) csvFile(file string, n *yaml.Node) {
	path := file
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(ps.name), file)
	}
	data, err := ps.readFile(path)
	if err != nil {
		ps.nodef(n, "cannot read the directory file %s: %v", path, err)
		return
	}
	ps.csv = data
	// A byte-order mark is invisible in editors: drop it so that columns
	// on the first line count as people see them.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.Comment = '#'
	cols := csvColumns
	for first := true; ; first = false {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			ps.add(pos{path, max(pe.Line, 1), max(pe.Column, 1)}, "invalid CSV: %v", pe.Err)
			return
		}
		if err != nil {
			ps.add(pos{path, 1, 1}, "invalid CSV: %v", err)
			return
		}
		at := func(i int) pos {
			line, col := r.FieldPos(i)
			return pos{path, line, col}
		}
		if first && strings.EqualFold(strings.TrimSpace(rec[0]), "email") {
			if cols = ps.csvHeader(rec, at); cols == nil {
				return
			}
			continue
		}
		if len(rec) > len(cols) {
			ps.add(at(len(cols)), "too many columns: expected %s", strings.Join(cols, ","))
			continue
		}
		in := personIn{at: at(0)}
		for i, v := range rec {
			v = strings.TrimSpace(v)
			switch cols[i] {
			case "email":
				in.email, in.emailAt = v, at(i)
			case "department":
				in.department = v
			case "manager":
				in.manager, in.managerAt = v, at(i)
			case "employment":
				in.employment, in.employmentAt = v, at(i)
			case "slack_id":
				in.slackID = v
			}
		}
		if in.email == "" {
			ps.add(in.at, "missing email: expected the columns %s", strings.Join(cols, ","))
			continue
		}
		ps.addPerson(in)
	}
}

// csvHeader reads a header row, returning nil when it is unusable.
func (ps *parser) csvHeader(rec []string, at func(int) pos) []string {
	cols := make([]string, len(rec))
	ok := true
	for i, c := range rec {
		c = strings.ToLower(strings.TrimSpace(c))
		switch {
		case !slices.Contains(csvColumns, c):
			ps.add(at(i), "unknown column %q: expected %s", c, strings.Join(csvColumns, ","))
			ok = false
		case slices.Contains(cols[:i], c):
			ps.add(at(i), "column %q is repeated", c)
			ok = false
		}
		cols[i] = c
	}
	if !ok {
		return nil
	}
	return cols
}

// ---- resources ----

func (ps *parser) resources(n *yaml.Node) {
	items, ok := ps.seq(n, "resources")
	if !ok {
		return
	}
	for _, it := range items {
		r, idAt := ps.resource(it)
		if r == nil {
			continue
		}
		if first, dup := ps.resAt[r.ID]; dup {
			ps.add(idAt, "resource id %q is already used (first at %s)", r.ID, where(first, idAt))
			continue
		}
		ps.resAt[r.ID] = idAt
		ps.pol.Resources = append(ps.pol.Resources, r)
		ps.pol.byID[r.ID] = r
	}
	ps.checkBundles()
	for _, r := range ps.pol.Resources {
		if r.IsBundle() && ps.pol.IsAdmin(r.ID) {
			r.Kind = KindAdmin
		}
	}
}

// resource reads one catalogue entry and where its id is written; it
// returns nil when there is no usable id.
func (ps *parser) resource(n *yaml.Node) (*Resource, pos) {
	var idAt pos
	f, ok := ps.fields(n, "a resource", resourceKeys)
	if !ok {
		return nil, idAt
	}
	r := &Resource{Kind: KindStandard, MaxDuration: defaultMaxDuration, Reconcile: ReconcileRemove}
	what := "a resource"
	if e, has := f["id"]; has {
		if id, ok := ps.str(e.val, "id"); ok {
			r.ID = id
			what = fmt.Sprintf("resource %q", id)
			idAt = ps.at(ps.deref(e.val))
		}
	} else {
		ps.require(n, f, what, "id")
	}
	r.Name = r.ID
	if e, has := f["name"]; has {
		if s, ok := ps.str(e.val, "name"); ok {
			r.Name = s
		}
	}
	if e, has := f["bundle"]; has {
		for _, k := range []string{"provider", "group", "reconcile"} {
			if e, has := f[k]; has {
				ps.nodef(e.key, "a bundle has no %s of its own: its members have theirs", k)
			}
		}
		ids, nodes, _ := ps.strs(e.val, "bundle", false)
		if v := ps.deref(e.val); v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
			ps.nodef(v, "bundle must list at least one resource id")
		}
		for i, id := range ids {
			if slices.Contains(ids[:i], id) {
				ps.nodef(nodes[i], "bundle member %q is listed twice", id)
				continue
			}
			r.Bundle = append(r.Bundle, id)
			if r.ID != "" {
				ps.members[r.ID] = append(ps.members[r.ID], nodes[i])
			}
		}
	} else {
		ps.require(n, f, what, "provider", "group")
		if e, has := f["provider"]; has {
			if s, ok := ps.str(e.val, "provider"); ok {
				if !slices.Contains(Providers, s) {
					ps.nodef(ps.deref(e.val), "unknown provider %q: expected %s", s, strings.Join(Providers, " | "))
				}
				r.Provider = s
			}
		}
		if e, has := f["group"]; has {
			r.Group, _ = ps.str(e.val, "group")
		}
		if e, has := f["reconcile"]; has {
			if s, ok := ps.oneOf(e.val, "reconcile", ReconcileRemove, ReconcileReport); ok {
				r.Reconcile = s
			}
		}
	}
	if e, has := f["kind"]; has {
		if s, ok := ps.oneOf(e.val, "kind", KindAdmin, KindStandard); ok {
			r.Kind = s
		}
	}
	if e, has := f["max_duration"]; has {
		if d, ok := ps.duration(e.val, "max_duration"); ok {
			r.MaxDuration = d
		}
	}
	if e, has := f["owners"]; has {
		emails, nodes, _ := ps.strs(e.val, "owners", false)
		for i, s := range emails {
			email := normEmail(s)
			switch {
			case !isEmail(email):
				ps.nodef(nodes[i], "owner %q is not an email address", s)
			case !ps.known(email):
				ps.nodef(nodes[i], "owner %s is not in the directory", email)
			case slices.Contains(r.Owners, email):
				ps.nodef(nodes[i], "owner %s is listed twice", email)
			default:
				r.Owners = append(r.Owners, email)
			}
		}
	}
	if r.ID == "" {
		return nil, idAt
	}
	return r, idAt
}

func (ps *parser) known(email string) bool {
	_, ok := ps.pol.People[email]
	return ok
}

// checkBundles reports bundle members that are not resources, and cycles.
func (ps *parser) checkBundles() {
	for _, r := range ps.pol.Resources {
		for _, n := range ps.members[r.ID] {
			if id := strings.TrimSpace(n.Value); ps.pol.byID[id] == nil {
				ps.nodef(n, "bundle member %q is not a resource defined under resources", id)
			}
		}
	}
	const (
		unseen = iota
		onStack
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(id string)
	visit = func(id string) {
		state[id] = onStack
		stack = append(stack, id)
		for _, n := range ps.members[id] {
			m := strings.TrimSpace(n.Value)
			if ps.pol.byID[m] == nil {
				continue
			}
			switch state[m] {
			case onStack:
				cycle := append(slices.Clone(stack[slices.Index(stack, m):]), m)
				ps.nodef(n, "bundle cycle: %s", strings.Join(cycle, " → "))
			case unseen:
				visit(m)
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = done
	}
	for _, r := range ps.pol.Resources {
		if state[r.ID] == unseen {
			visit(r.ID)
		}
	}
}

// ---- rules ----

func (ps *parser) rules(n *yaml.Node) {
	items, ok := ps.seq(n, "rules")
	if !ok {
		return
	}
	names := map[string]int{}
	for i, it := range items {
		r := ps.rule(it, i, names)
		if r != nil {
			ps.pol.Rules = append(ps.pol.Rules, r)
		}
	}
}

func (ps *parser) rule(n *yaml.Node, i int, names map[string]int) *Rule {
	f, ok := ps.fields(n, "a rule", ruleKeys)
	if !ok {
		return nil
	}
	r := &Rule{Name: fmt.Sprintf("rule %d", i+1), Line: ps.at(n).line}
	what := "a rule"
	if e, has := f["name"]; has {
		if s, ok := ps.str(e.val, "name"); ok {
			v := ps.deref(e.val)
			if line, dup := names[s]; dup {
				ps.nodef(v, "rule name %q is already used (first at line %d)", s, line)
			} else {
				names[s] = v.Line
			}
			r.Name = s
			what = fmt.Sprintf("rule %q", s)
		}
	}
	if e, has := f["if"]; has {
		ps.match(e.val, &r.If)
	}
	if e, has := f["then"]; has {
		ps.action(e.val, &r.Then)
	} else {
		ps.require(n, f, what, "then")
	}
	return r
}

func (ps *parser) match(n *yaml.Node, m *Match) {
	f, ok := ps.fields(n, "if", matchKeys)
	if !ok {
		return
	}
	if e, has := f["requester"]; has {
		ps.requester(e.val, &m.Requester)
	}
	if e, has := f["resource"]; has {
		ids, nodes, _ := ps.strs(e.val, "resource", true)
		ps.nonEmpty(e.val, "resource")
		for i, id := range ids {
			if ps.pol.byID[id] == nil {
				ps.nodef(nodes[i], "unknown resource %q: expected an id defined under resources", id)
				continue
			}
			m.Resources = append(m.Resources, id)
		}
	}
	if e, has := f["resource_kind"]; has {
		m.ResourceKind, _ = ps.oneOf(e.val, "resource_kind", KindAdmin, KindStandard)
	}
	if e, has := f["duration_at_most"]; has {
		m.DurationAtMost, _ = ps.duration(e.val, "duration_at_most")
	}
	if e, has := f["duration_longer_than"]; has {
		m.DurationLongerThan, _ = ps.duration(e.val, "duration_longer_than")
	}
	if m.DurationAtMost > 0 && m.DurationLongerThan > 0 && m.DurationAtMost <= m.DurationLongerThan {
		ps.nodef(ps.deref(f["duration_at_most"].val), "duration_at_most %s is not longer than duration_longer_than %s: the rule can never match",
			FormatDuration(m.DurationAtMost), FormatDuration(m.DurationLongerThan))
	}
}

// nonEmpty reports an empty list, which as a matcher would never match.
func (ps *parser) nonEmpty(n *yaml.Node, key string) {
	if v := ps.deref(n); v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
		ps.nodef(v, "%s must list at least one value", key)
	}
}

func (ps *parser) requester(n *yaml.Node, m *PersonMatch) {
	f, ok := ps.fields(n, "requester", requesterKeys)
	if !ok {
		return
	}
	list := func(key string, check func(string) (string, error)) []string {
		e, has := f[key]
		if !has {
			return nil
		}
		ps.nonEmpty(e.val, key)
		vals, nodes, _ := ps.strs(e.val, key, true)
		var out []string
		for i, v := range vals {
			norm, err := check(v)
			if err != nil {
				ps.nodef(nodes[i], "%s: %v", key, err)
				continue
			}
			out = append(out, norm)
		}
		return out
	}
	m.Department = list("department", func(s string) (string, error) { return s, nil })
	m.Employment = list("employment", func(s string) (string, error) {
		s = strings.ToLower(s)
		if s != EmploymentInternal && s != EmploymentExternal {
			return "", fmt.Errorf("expected internal | external, got %q", s)
		}
		return s, nil
	})
	m.Email = list("email", func(s string) (string, error) {
		if s = normEmail(s); !isEmail(s) {
			return "", fmt.Errorf("%q is not an email address", s)
		}
		return s, nil
	})
	m.EmailDomain = list("email_domain", func(s string) (string, error) {
		d := strings.ToLower(strings.TrimPrefix(s, "@"))
		if !isEmail("x@" + d) {
			return "", fmt.Errorf("%q is not a domain like example.com", s)
		}
		return d, nil
	})
}

func (ps *parser) action(n *yaml.Node, a *Action) {
	a.RequestTTL = defaultRequestTTL
	f, ok := ps.fields(n, "then", actionKeys)
	if !ok {
		return
	}
	autoKnown := true
	if e, has := f["auto_approve"]; has {
		a.AutoApprove, autoKnown = ps.boolean(e.val, "auto_approve")
	}
	if e, has := f["approvals"]; has {
		if a.AutoApprove {
			ps.nodef(f["auto_approve"].key, "a rule either auto-approves or lists approvals, not both")
		}
		items, ok := ps.seq(e.val, "approvals")
		if ok && len(items) == 0 {
			ps.nodef(ps.deref(e.val), "approvals must list at least one step")
		}
		for _, it := range items {
			if st, ok := ps.step(it); ok {
				a.Approvals = append(a.Approvals, st)
			}
		}
	} else if !a.AutoApprove && autoKnown {
		ps.nodef(ps.deref(n), "then needs either approvals or auto_approve: true")
	}
	if e, has := f["notify"]; has {
		a.Notify, _, _ = ps.strs(e.val, "notify", false)
	}
	if e, has := f["max_duration"]; has {
		a.MaxDuration, _ = ps.duration(e.val, "max_duration")
	}
	if e, has := f["request_ttl"]; has {
		if d, ok := ps.duration(e.val, "request_ttl"); ok {
			a.RequestTTL = d
		}
	}
	if e, has := f["require_ticket"]; has {
		a.RequireTicket, _ = ps.boolean(e.val, "require_ticket")
	}
	if e, has := f["allow_self_approval"]; has {
		a.AllowSelfApproval, _ = ps.boolean(e.val, "allow_self_approval")
	}
}

func (ps *parser) step(n *yaml.Node) (Approval, bool) {
	st := Approval{Quorum: 1}
	f, ok := ps.fields(n, "an approval step", stepKeys)
	if !ok || !ps.require(n, f, "an approval step", "approvers") {
		return st, false
	}
	ok = true
	terms, nodes, good := ps.strs(f["approvers"].val, "approvers", false)
	ok = ok && good
	if v := ps.deref(f["approvers"].val); v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
		ps.nodef(v, "approvers must list at least one approver: manager, owner, group:HANDLE or an email address")
		ok = false
	}
	emails := map[string]bool{}
	allEmails := true
	for i, t := range terms {
		if err := checkTerm(t); err != nil {
			ps.nodef(nodes[i], "%v", err)
			ok = false
			continue
		}
		if strings.Contains(t, "@") && !strings.HasPrefix(t, "group:") {
			emails[normEmail(t)] = true
		} else {
			allEmails = false
		}
		st.Approvers = append(st.Approvers, t)
	}
	if e, has := f["quorum"]; has {
		q, good := ps.integer(e.val, "quorum")
		switch {
		case !good:
			ok = false
		case q < 1:
			ps.nodef(ps.deref(e.val), "quorum must be at least 1, got %d", q)
			ok = false
		case ok && allEmails && q > len(emails):
			ps.nodef(ps.deref(e.val), "quorum %d can never be met: the step lists %d distinct approvers", q, len(emails))
			ok = false
		default:
			st.Quorum = q
		}
	}
	return st, ok
}

// checkTerm validates an approver term.
func checkTerm(t string) error {
	switch {
	case t == "manager", t == "owner":
		return nil
	case strings.HasPrefix(t, "group:"):
		if !validHandle(strings.TrimPrefix(t, "group:")) {
			return fmt.Errorf("approver %q: expected group: followed by a Slack user group handle, like group:it-leads", t)
		}
		return nil
	case strings.Contains(t, "@"):
		if !isEmail(normEmail(t)) {
			return fmt.Errorf("approver %q is not an email address", t)
		}
		return nil
	}
	return fmt.Errorf("unknown approver %q: expected manager, owner, group:HANDLE or an email address", t)
}

// validHandle reports whether h can be a Slack user group handle.
func validHandle(h string) bool {
	if h == "" {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// isEmail is a deliberately plain check: one @ between a non-empty local
// part and a dotless-or-dotted domain, no spaces or address punctuation.
func isEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at != strings.LastIndexByte(s, '@') || at == len(s)-1 {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || strings.ContainsRune(",;<>()[]\\\"", c) {
			return false
		}
	}
	domain := s[at+1:]
	return !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".") && !strings.Contains(domain, "..")
}
