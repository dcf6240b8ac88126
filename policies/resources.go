package policies

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// The catalogue: leaf resources and bundles.

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
			if s, ok := ps.oneOf(e.val, "reconcile", ReconcileRemove, ReconcileRepair, ReconcileReport); ok {
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
