package policies

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The identity providers the directory reads people from:
//
//	directory:
//	  sources:
//	    - okta: {url: https://example.okta.com}
//	      map: {department: department, manager: managerId, employment: userType}
//	    - entra: {tenant: 00000000-0000-0000-0000-000000000000}
//	    - google: {customer: my_customer}
//	    - atlassian: {}
//	  sync_every: 1h
//	  max_drop: 10%
//	  employment_values: {Employee: internal, Contractor: external}
//
// and the review rules' suspend_at: atlassian | idp | auto.

// Source kinds a directory source may be.
const (
	SourceOkta      = "okta"
	SourceEntra     = "entra"
	SourceGoogle    = "google"
	SourceAtlassian = "atlassian"
)

// SourceKinds lists them, in the order errors name them.
var SourceKinds = []string{SourceOkta, SourceEntra, SourceGoogle, SourceAtlassian}

// IdPs are the providers (provider:) that are identity providers.
var IdPs = []string{SourceOkta, SourceEntra, SourceGoogle}

// Where a review suspends an account (suspend_at:).
const (
	SuspendAtAtlassian = "atlassian" // the Admin API's v2 suspend (the default)
	SuspendAtIdP       = "idp"       // the account's identity provider
	SuspendAtAuto      = "auto"      // the IdP where it manages the account, else Atlassian
)

// Defaults of DirectorySettings.
const (
	DefaultSyncEvery = time.Hour
	DefaultMaxDrop   = 0.10
)

var (
	sourceKeys   = append(slices.Clone(SourceKinds), "map")
	mapKeys      = []string{"department", "manager", "employment"}
	sourceParams = map[string][]string{SourceOkta: {"url"}, SourceEntra: {"tenant"}, SourceGoogle: {"customer"}, SourceAtlassian: nil}
)

// DirectorySettings are the directory's identity-provider sources.
type DirectorySettings struct {
	Sources   []DirectorySource // merged in this order; the policy's own people override them
	SyncEvery time.Duration     // DefaultSyncEvery when not set
	MaxDrop   float64           // a fraction; DefaultMaxDrop when not set
	// EmploymentValues maps an IdP's employment values to internal or
	// external (keys as written).
	EmploymentValues map[string]string
}

// DirectorySource is one entry of directory.sources.
type DirectorySource struct {
	Kind     string            // okta | entra | google | atlassian
	URL      string            // okta
	Tenant   string            // entra
	Customer string            // google; my_customer when not set
	Map      map[string]string // department, manager, employment → the IdP's attribute
	Line     int
}

// directorySettings reads sources, sync_every, max_drop and
// employment_values of directory:.
func (ps *parser) directorySettings(f map[string]entry) {
	d := &DirectorySettings{SyncEvery: DefaultSyncEvery, MaxDrop: DefaultMaxDrop}
	_, hasSources := f["sources"]
	for _, k := range []string{"sync_every", "max_drop", "employment_values"} {
		if e, has := f[k]; has && !hasSources {
			ps.nodef(e.key, "%s applies to directory sources; this directory has no sources:", k)
		}
	}
	if !hasSources {
		return
	}
	ps.pol.Directory = d
	items, _ := ps.seq(f["sources"].val, "sources")
	seen := map[string]int{}
	for _, it := range items {
		if s, ok := ps.directorySource(it); ok {
			if line, dup := seen[s.Kind]; dup {
				ps.nodef(it, "source %s is listed twice (first at line %d)", s.Kind, line)
				continue
			}
			seen[s.Kind] = s.Line
			d.Sources = append(d.Sources, s)
		}
	}
	if e, has := f["sync_every"]; has {
		if v, ok := ps.duration(e.val, "sync_every"); ok {
			if v < time.Minute {
				ps.nodef(ps.deref(e.val), "sync_every must be at least 1m, got %s", FormatDuration(v))
			} else {
				d.SyncEvery = v
			}
		}
	}
	if e, has := f["max_drop"]; has {
		d.MaxDrop = ps.fraction(e.val, "max_drop")
	}
	if e, has := f["employment_values"]; has {
		n := ps.deref(e.val)
		if n.Kind != yaml.MappingNode {
			ps.nodef(n, "employment_values must be a mapping like {Employee: internal, Contractor: external}, got %s", describe(n))
			return
		}
		d.EmploymentValues = map[string]string{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := strings.TrimSpace(n.Content[i].Value)
			if v, ok := ps.oneOf(n.Content[i+1], "employment_values "+strconv.Quote(k), EmploymentInternal, EmploymentExternal); ok {
				d.EmploymentValues[k] = v
			}
		}
	}
}

func (ps *parser) directorySource(n *yaml.Node) (DirectorySource, bool) {
	f, ok := ps.fields(n, "a directory source", sourceKeys)
	if !ok {
		return DirectorySource{}, false
	}
	s := DirectorySource{Line: ps.deref(n).Line}
	var kinds []string
	for _, k := range SourceKinds {
		if _, has := f[k]; has {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) != 1 {
		ps.nodef(n, "a directory source names exactly one of %s, got %d", strings.Join(SourceKinds, ", "), len(kinds))
		return s, false
	}
	s.Kind = kinds[0]
	params := sourceParams[s.Kind]
	e := f[s.Kind]
	if v := ps.deref(e.val); !isNull(v) {
		g, ok := ps.fields(e.val, s.Kind, params)
		if !ok {
			return s, false
		}
		for k, pe := range g {
			val, ok := ps.str(pe.val, k)
			if !ok {
				return s, false
			}
			switch k {
			case "url":
				s.URL = val
			case "tenant":
				s.Tenant = val
			case "customer":
				s.Customer = val
			}
		}
	}
	switch {
	case s.Kind == SourceOkta && s.URL == "":
		ps.nodef(e.key, "okta needs url: (https://example.okta.com)")
		return s, false
	case s.Kind == SourceEntra && s.Tenant == "":
		ps.nodef(e.key, "entra needs tenant: (the directory's tenant id)")
		return s, false
	case s.Kind == SourceGoogle && s.Customer == "":
		s.Customer = "my_customer"
	}
	if me, has := f["map"]; has {
		g, ok := ps.fields(me.val, "map", mapKeys)
		if !ok {
			return s, false
		}
		s.Map = map[string]string{}
		for k, ke := range g {
			if v, ok := ps.str(ke.val, "map "+k); ok {
				s.Map[k] = v
			}
		}
	}
	return s, true
}

// fraction reads 10% or 0.1 as 0.1; it must lie in [0, 1].
func (ps *parser) fraction(n *yaml.Node, key string) float64 {
	n = ps.deref(n)
	s := strings.TrimSpace(n.Value)
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
	if pct {
		v /= 100
	}
	if n.Kind != yaml.ScalarNode || err != nil || v < 0 || v > 1 {
		ps.nodef(n, "%s must be a share like 10%% or 0.1, between 0 and 100%%, got %s", key, describe(n))
		return DefaultMaxDrop
	}
	return v
}

// suspendAt reads a review rule's suspend_at.
func (ps *parser) suspendAt(f map[string]entry, r *ReviewRule) {
	e, has := f["suspend_at"]
	if !has {
		return
	}
	if r.Action == ReviewReport {
		ps.nodef(e.key, "suspend_at has no effect with action: report, which suspends nobody")
		return
	}
	r.SuspendAt, _ = ps.oneOf(e.val, "suspend_at", SuspendAtAtlassian, SuspendAtIdP, SuspendAtAuto)
}

// String names the source as the CLI shows it.
func (s DirectorySource) String() string {
	switch s.Kind {
	case SourceOkta:
		return fmt.Sprintf("okta (%s)", s.URL)
	case SourceEntra:
		return fmt.Sprintf("entra (tenant %s)", s.Tenant)
	case SourceGoogle:
		return fmt.Sprintf("google (customer %s)", s.Customer)
	}
	return s.Kind
}

// WithPeople returns a copy of p whose directory is people (the synced
// directory with the file's own people over it). p is not changed.
func (p *Policy) WithPeople(people map[string]*Person) *Policy {
	cp := *p
	cp.own = p.OwnPeople()
	cp.People = people
	return &cp
}

// Synced reports whether WithPeople gave the policy a synced directory.
func (p *Policy) Synced() bool { return p.own != nil }

// OwnPeople returns the people the policy file itself lists (inline and
// in its CSV), whatever WithPeople added.
func (p *Policy) OwnPeople() map[string]*Person {
	if p.own != nil {
		return p.own
	}
	return p.People
}
