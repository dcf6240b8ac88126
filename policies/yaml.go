package policies

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Generic helpers over yaml.v3 nodes: aliases within a budget, mappings
// with allowed keys and merge keys, and typed scalars that record a problem
// at the node when they do not fit.

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
	if d > MaxPolicyDuration {
		ps.nodef(n, "%s: %s is longer than the limit of %s", key, strings.TrimSpace(n.Value), FormatDuration(MaxPolicyDuration))
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
