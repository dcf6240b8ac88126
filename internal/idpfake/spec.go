package idpfake

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Validation against the official descriptions in ../shared/specs/:
//
//   - Okta (okta-management-openapi-2026.06.3.yaml): the operation exists
//     (path template and method) and every query parameter is one it
//     declares; a user's profile keys in the fake's answers are
//     UserProfile's.
//   - Google (google-admin-directory-v1.json, a discovery document): the
//     method exists, every query parameter is one it or the API declares,
//     and a request body's keys are its request schema's properties.
//   - Graph (msgraph-v1.0-csdl.xml): the path walks from an entity set
//     through navigation properties of the entity types it meets; every
//     name in $select, $expand and $filter, and every key of a PATCH body,
//     is a property or navigation property of the type addressed.
//
// Each file is read once per test binary.

// Spec file names under shared/specs.
const (
	OktaSpecFile   = "okta-management-openapi-2026.06.3.yaml"
	GoogleSpecFile = "google-admin-directory-v1.json"
	GraphSpecFile  = "msgraph-v1.0-csdl.xml"
)

// FindSpecDir returns the shared/specs folder above the working directory,
// or "" when there is none.
func FindSpecDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, "shared", "specs")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

var specNotice sync.Map // file → *sync.Once

// noticeMissing says once per binary and file that requests go unchecked.
func noticeMissing(file string) {
	v, _ := specNotice.LoadOrStore(file, &sync.Once{})
	v.(*sync.Once).Do(func() {
		fmt.Fprintf(os.Stderr, "idpfake: shared/specs/%s not found: requests to this fake are not validated\n", file)
	})
}

type once[T any] struct {
	o   sync.Once
	v   T
	err error
}

var specs sync.Map // path → any (*once[…])

func load[T any](path string, parse func(io.Reader) (T, error)) (T, error) {
	v, _ := specs.LoadOrStore(path, &once[T]{})
	l := v.(*once[T])
	l.o.Do(func() {
		f, err := os.Open(path)
		if err != nil {
			l.err = err
			return
		}
		defer f.Close()
		l.v, l.err = parse(f)
		if l.err != nil {
			l.err = fmt.Errorf("%s: %w", filepath.Base(path), l.err)
		}
	})
	return l.v, l.err
}

// route is one operation: a path template's segments and its query names.
type route struct {
	segs   []string // "{x}" matches any one segment
	method string
	query  map[string]bool
	body   map[string]bool // request body properties; nil: not checked
}

func (r route) match(method string, segs []string) bool {
	if r.method != method || len(r.segs) != len(segs) {
		return false
	}
	for i, s := range r.segs {
		if !strings.HasPrefix(s, "{") && s != segs[i] {
			return false
		}
	}
	return true
}

type routes struct {
	list    []route
	global  map[string]bool
	profile map[string]bool // Okta UserProfile properties
}

func split(p string) []string { return strings.Split(strings.Trim(p, "/"), "/") }

// check finds the operation for r and checks its query and body keys.
func (rs *routes) check(r *http.Request, body []byte) error {
	segs := split(r.URL.EscapedPath())
	for i, s := range segs {
		segs[i], _ = url.PathUnescape(s)
	}
	var found *route
	for i := range rs.list {
		rt := &rs.list[i]
		if !rt.match(r.Method, segs) {
			continue
		}
		// Prefer the template with the most literal segments.
		if found == nil || literals(rt.segs) > literals(found.segs) {
			found = rt
		}
	}
	if found == nil {
		return fmt.Errorf("%s %s is no operation of the official description", r.Method, r.URL.Path)
	}
	for k := range r.URL.Query() {
		if !found.query[k] && !rs.global[k] {
			return fmt.Errorf("%s %s: query parameter %q is not declared", r.Method, r.URL.Path, k)
		}
	}
	if found.body != nil && len(body) > 0 {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return fmt.Errorf("%s %s: the body is not a JSON object: %v", r.Method, r.URL.Path, err)
		}
		for k := range m {
			if !found.body[k] {
				return fmt.Errorf("%s %s: body property %q is not in the request schema", r.Method, r.URL.Path, k)
			}
		}
	}
	return nil
}

func literals(segs []string) int {
	n := 0
	for _, s := range segs {
		if !strings.HasPrefix(s, "{") {
			n++
		}
	}
	return n
}

// parseOkta reads the Okta OpenAPI description.
func parseOkta(rd io.Reader) (*routes, error) {
	type param struct {
		Ref  string `yaml:"$ref"`
		Name string `yaml:"name"`
		In   string `yaml:"in"`
	}
	var doc struct {
		Paths      map[string]map[string]yaml.Node `yaml:"paths"`
		Components struct {
			Parameters map[string]param `yaml:"parameters"`
			Schemas    map[string]struct {
				Properties map[string]yaml.Node `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.NewDecoder(rd).Decode(&doc); err != nil {
		return nil, err
	}
	rs := &routes{global: map[string]bool{}, profile: map[string]bool{}}
	for k := range doc.Components.Schemas["UserProfile"].Properties {
		rs.profile[k] = true
	}
	resolve := func(p param) param {
		if p.Ref != "" {
			return doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
		}
		return p
	}
	for path, item := range doc.Paths {
		for method, n := range item {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			var op struct {
				Parameters []param `yaml:"parameters"`
			}
			if err := n.Decode(&op); err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, path, err)
			}
			rt := route{segs: split(path), method: strings.ToUpper(method), query: map[string]bool{}}
			for _, p := range op.Parameters {
				if p = resolve(p); p.In == "query" {
					rt.query[p.Name] = true
				}
			}
			rs.list = append(rs.list, rt)
		}
	}
	return rs, nil
}

// parseGoogle reads the Admin SDK Directory API discovery document.
func parseGoogle(rd io.Reader) (*routes, error) {
	type method struct {
		HTTPMethod string `json:"httpMethod"`
		Path       string `json:"path"`
		Parameters map[string]struct {
			Location string `json:"location"`
		} `json:"parameters"`
		Request *struct {
			Ref string `json:"$ref"`
		} `json:"request"`
	}
	type resource struct {
		Methods   map[string]method          `json:"methods"`
		Resources map[string]json.RawMessage `json:"resources"`
	}
	var doc struct {
		ServicePath string `json:"servicePath"`
		Parameters  map[string]json.RawMessage
		Resources   map[string]json.RawMessage `json:"resources"`
		Schemas     map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"schemas"`
	}
	if err := json.NewDecoder(rd).Decode(&doc); err != nil {
		return nil, err
	}
	rs := &routes{global: map[string]bool{}}
	for k := range doc.Parameters {
		rs.global[k] = true
	}
	var walk func(map[string]json.RawMessage) error
	walk = func(res map[string]json.RawMessage) error {
		for _, raw := range res {
			var r resource
			if err := json.Unmarshal(raw, &r); err != nil {
				return err
			}
			for _, m := range r.Methods {
				rt := route{segs: split(doc.ServicePath + m.Path), method: m.HTTPMethod, query: map[string]bool{}}
				for name, p := range m.Parameters {
					if p.Location == "query" {
						rt.query[name] = true
					}
				}
				if m.Request != nil {
					rt.body = map[string]bool{}
					for k := range doc.Schemas[m.Request.Ref].Properties {
						rt.body[k] = true
					}
				}
				rs.list = append(rs.list, rt)
			}
			if err := walk(r.Resources); err != nil {
				return err
			}
		}
		return nil
	}
	return rs, walk(doc.Resources)
}

// graph is what the fake needs of Graph's CSDL: entity types with their
// properties and navigation properties (with the navigation's type), and
// the entity sets.
type graph struct {
	types map[string]*entityType
	sets  map[string]string // entity set → type name
}

type entityType struct {
	base  string
	props map[string]bool
	navs  map[string]string // name → target type (collection or not)
}

func parseGraph(rd io.Reader) (*graph, error) {
	g := &graph{types: map[string]*entityType{}, sets: map[string]string{}}
	dec := xml.NewDecoder(rd)
	var cur *entityType
	ns := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			attr := func(name string) string {
				for _, a := range t.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			switch t.Name.Local {
			case "Schema":
				ns = attr("Namespace")
			case "EntityType":
				cur = nil
				if ns == "microsoft.graph" {
					cur = &entityType{base: short(attr("BaseType")), props: map[string]bool{}, navs: map[string]string{}}
					g.types[attr("Name")] = cur
				}
			case "Property":
				if cur != nil {
					cur.props[attr("Name")] = true
				}
			case "NavigationProperty":
				if cur != nil {
					cur.navs[attr("Name")] = short(strings.TrimSuffix(strings.TrimPrefix(attr("Type"), "Collection("), ")"))
				}
			case "EntitySet", "Singleton":
				if ns == "microsoft.graph" {
					typ := attr("EntityType")
					if typ == "" {
						typ = attr("Type")
					}
					g.sets[attr("Name")] = short(typ)
				}
			}
		case xml.EndElement:
			if t.Name.Local == "EntityType" {
				cur = nil
			}
		}
	}
	if g.types["user"] == nil || g.types["group"] == nil {
		return nil, fmt.Errorf("no user or group entity type")
	}
	return g, nil
}

func short(t string) string {
	if i := strings.LastIndex(t, "."); i >= 0 {
		return t[i+1:]
	}
	return t
}

// has reports whether typ or a base type has the property or navigation name.
func (g *graph) has(typ, name string) bool {
	for t := g.types[typ]; t != nil; t = g.types[t.base] {
		if t.props[name] || t.navs[name] != "" {
			return true
		}
	}
	return false
}

func (g *graph) nav(typ, name string) string {
	for t := g.types[typ]; t != nil; t = g.types[t.base] {
		if n := t.navs[name]; n != "" {
			return n
		}
	}
	return ""
}

var filterNames = regexp.MustCompile(`([A-Za-z@.]+)\s+(?:eq|ne|startswith)\s`)

// check validates a Graph request: /v1.0/{set}[/{id}[/{nav}[/{id}]]][/$ref],
// its $select, $expand, $filter names, and a PATCH body's keys.
func (g *graph) check(r *http.Request, body []byte) error {
	segs := split(strings.TrimPrefix(r.URL.Path, "/v1.0"))
	typ, ok := g.sets[segs[0]]
	if !ok {
		return fmt.Errorf("%s: %q is no entity set of Graph", r.URL.Path, segs[0])
	}
	for i := 1; i < len(segs); i++ {
		s := segs[i]
		if strings.HasPrefix(s, "microsoft.graph.") { // a type cast
			if g.types[short(s)] == nil {
				return fmt.Errorf("%s: %q is no entity type of Graph", r.URL.Path, s)
			}
			typ = short(s)
			continue
		}
		if s == "$ref" || i%2 == 1 { // ids at odd positions
			continue
		}
		next := g.nav(typ, s)
		if next == "" {
			return fmt.Errorf("%s: %q is no navigation property of %s", r.URL.Path, s, typ)
		}
		typ = next
	}
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "$select", "$expand", "$filter", "$top", "$skiptoken", "$count":
		default:
			return fmt.Errorf("%s: query option %q is not one the fake knows Graph to take", r.URL.Path, k)
		}
	}
	for _, name := range splitList(q.Get("$select")) {
		if !g.has(typ, name) {
			return fmt.Errorf("%s: $select names %q, no property of %s", r.URL.Path, name, typ)
		}
	}
	if e := q.Get("$expand"); e != "" {
		name, inner, _ := strings.Cut(e, "(")
		target := g.nav(typ, name)
		if target == "" {
			return fmt.Errorf("%s: $expand names %q, no navigation property of %s", r.URL.Path, name, typ)
		}
		inner = strings.TrimSuffix(strings.TrimPrefix(inner, "$select="), ")")
		for _, n := range splitList(inner) {
			if !g.has(target, n) {
				return fmt.Errorf("%s: $expand %s selects %q, no property of %s", r.URL.Path, name, n, target)
			}
		}
	}
	for _, m := range filterNames.FindAllStringSubmatch(q.Get("$filter"), -1) {
		if !g.has(typ, m[1]) {
			return fmt.Errorf("%s: $filter names %q, no property of %s", r.URL.Path, m[1], typ)
		}
	}
	if r.Method == http.MethodPatch && len(body) > 0 {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return fmt.Errorf("%s: the body is not a JSON object", r.URL.Path)
		}
		for k := range m {
			if !g.has(typ, k) {
				return fmt.Errorf("%s: PATCH sets %q, no property of %s", r.URL.Path, k, typ)
			}
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return slices.Clip(out)
}
