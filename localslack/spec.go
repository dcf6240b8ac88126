package localslack

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
)

// Spec validation.
//
// The spec (slackapi/slack-api-specs, 2021) is loaded with kin-openapi as
// OpenAPI 2.0 and converted to 3.0 with openapi2conv.ToV3. Requests are not
// routed through openapi3filter, because the spec describes Slack's
// transport loosely: it declares the token as a required header named
// "token" (clients send "Authorization: Bearer" or a token form field),
// declares methods that clients POST (views.open, views.publish, users.info,
// …) as GET with query parameters, and Slack accepts every argument from the
// query string, a form body or a JSON body alike. So the emulator collects a
// request's arguments wherever they came from and checks them against the
// operation's parameters (query, header and form-body properties):
//
//   - a required parameter that is missing or empty is a violation;
//   - a value that does not match the parameter's type is a violation, after
//     the coercion Slack itself applies to form strings ("true", "1" for
//     booleans, digits for numbers); a string parameter accepts a JSON object
//     or array in a JSON body, which is how blocks and views are sent;
//   - an argument the spec does not document is logged once per method (the
//     2021 spec predates parameters slack-go sends, such as
//     usergroups.list team_id) and is a violation only with
//     Options.StrictUnknownParams;
//   - methods absent from the spec are checked against specSupplement when
//     it describes them (files.getUploadURLExternal and
//     files.completeUploadExternal, from their documentation pages), and
//     otherwise not at all (apps.connections.open);
//   - an array or object parameter given as a string (a form field) is
//     decoded as JSON first, as Slack does with files.
//
// The spec also writes some tuple schemas as "items": [...], which Swagger
// 2.0 does not allow and kin-openapi rejects; they are rewritten to their
// first element before loading. They occur only in response definitions.

type specIndex struct {
	path string
	ops  map[string]*specOp
}

type specOp struct {
	params   map[string]*openapi3.Schema
	required []string
}

type specLoad struct {
	once sync.Once
	idx  *specIndex
	err  error
}

var specCache sync.Map // path → *specLoad

// findSpec walks up from the working directory looking for
// shared/specs/slack-web-openapi-v2.json, which lives beside the repository.
func findSpec() string {
	const rel = "shared/specs/slack-web-openapi-v2.json"
	dir, err := os.Getwd()
	if err != nil {
		return rel
	}
	first := ""
	for {
		p := filepath.Join(dir, rel)
		if first == "" {
			first = p
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return first
		}
		dir = parent
	}
}

func loadSpec(path string) (*specIndex, error) {
	v, _ := specCache.LoadOrStore(path, &specLoad{})
	l := v.(*specLoad)
	l.once.Do(func() { l.idx, l.err = parseSpec(path) })
	return l.idx, l.err
}

func parseSpec(path string) (*specIndex, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if data, err = json.Marshal(fixTupleItems(raw)); err != nil {
		return nil, err
	}
	var doc openapi2.T
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	v3, err := openapi2conv.ToV3(&doc)
	if err != nil {
		return nil, fmt.Errorf("convert %s: %w", path, err)
	}
	idx := &specIndex{path: path, ops: map[string]*specOp{}}
	for p, item := range v3.Paths.Map() {
		for _, op := range item.Operations() {
			so := &specOp{params: map[string]*openapi3.Schema{}}
			for _, ref := range op.Parameters {
				prm := ref.Value
				if prm == nil || prm.Name == "token" || prm.Schema == nil {
					continue
				}
				so.params[prm.Name] = prm.Schema.Value
				if prm.Required {
					so.required = append(so.required, prm.Name)
				}
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for ct, mt := range op.RequestBody.Value.Content {
					if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") || mt.Schema == nil || mt.Schema.Value == nil {
						continue
					}
					body := mt.Schema.Value
					for name, prop := range body.Properties {
						if name != "token" && prop.Value != nil {
							so.params[name] = prop.Value
						}
					}
					for _, name := range body.Required {
						if name != "token" && !slices.Contains(so.required, name) {
							so.required = append(so.required, name)
						}
					}
				}
			}
			slices.Sort(so.required)
			idx.ops[strings.TrimPrefix(p, "/")] = so
		}
	}
	if len(idx.ops) == 0 {
		return nil, errors.New("no operations in spec")
	}
	for method, op := range specSupplement() {
		if _, ok := idx.ops[method]; !ok {
			idx.ops[method] = op
		}
	}
	return idx, nil
}

// specSupplement describes the methods the emulator serves that the 2021
// spec predates, from Slack's documentation of each method's arguments
// (docs.slack.dev/reference/methods/<method>), the way the spec describes
// the others. The spec's own entry wins should a newer spec add them.
func specSupplement() map[string]*specOp {
	str := openapi3.NewStringSchema
	return map[string]*specOp{
		// https://docs.slack.dev/reference/methods/files.getUploadURLExternal
		"files.getUploadURLExternal": {
			params: map[string]*openapi3.Schema{
				"filename":     str(),
				"length":       openapi3.NewIntegerSchema(),
				"alt_txt":      str(),
				"snippet_type": str(),
			},
			required: []string{"filename", "length"},
		},
		// https://docs.slack.dev/reference/methods/files.completeUploadExternal
		"files.completeUploadExternal": {
			params: map[string]*openapi3.Schema{
				"files": openapi3.NewArraySchema().WithItems(openapi3.NewObjectSchema().
					WithProperty("id", str()).WithProperty("title", str()).WithRequired([]string{"id"})),
				"channel_id":      str(),
				"channels":        str(),
				"initial_comment": str(),
				"thread_ts":       str(),
				"blocks":          str(),
			},
			required: []string{"files"},
		},
	}
}

// fixTupleItems rewrites JSON-Schema tuple "items": [a, b] to "items": a.
func fixTupleItems(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if l, ok := x.([]any); ok && (k == "items" || k == "additionalProperties") {
				if len(l) > 0 {
					t[k] = fixTupleItems(l[0])
				} else {
					t[k] = map[string]any{}
				}
				continue
			}
			t[k] = fixTupleItems(x)
		}
	case []any:
		for i := range t {
			t[i] = fixTupleItems(t[i])
		}
	}
	return v
}

// documented reports whether the spec has method.
func (idx *specIndex) documented(method string) bool {
	_, ok := idx.ops[method]
	return ok
}

// check validates arguments (token excluded) against method's parameters.
func (idx *specIndex) check(method string, args map[string]any) (problems, unknown []string) {
	op, ok := idx.ops[method]
	if !ok {
		return nil, nil
	}
	for _, name := range op.required {
		v, ok := args[name]
		if !ok || v == nil || v == "" {
			problems = append(problems, fmt.Sprintf("missing required parameter %q", name))
		}
	}
	names := make([]string, 0, len(args))
	for name := range args {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		sch, ok := op.params[name]
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		if err := sch.VisitJSON(coerceArg(sch, args[name])); err != nil {
			problems = append(problems, fmt.Sprintf("parameter %q: %v", name, firstLine(err.Error())))
		}
	}
	return problems, unknown
}

// coerceArg converts an argument as Slack reads it into the JSON value the
// parameter's schema describes, leaving values that cannot be converted
// as they are so that validation reports them.
func coerceArg(sch *openapi3.Schema, v any) any {
	typ := ""
	if sch.Type != nil && len(*sch.Type) > 0 {
		typ = (*sch.Type)[0]
	}
	switch typ {
	case "boolean":
		switch x := v.(type) {
		case string:
			switch strings.ToLower(x) {
			case "true", "1":
				return true
			case "false", "0", "":
				return false
			}
		case json.Number:
			switch x.String() {
			case "1":
				return true
			case "0":
				return false
			}
		}
	case "integer", "number":
		switch x := v.(type) {
		case string:
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return f
			}
		case json.Number:
			if f, err := x.Float64(); err == nil {
				return f
			}
		}
	case "array", "object":
		// A form carries a JSON array or object as a string.
		if x, ok := v.(string); ok {
			if d, err := decodeJSON([]byte(x)); err == nil {
				return numbersToFloat(d)
			}
		}
		return numbersToFloat(v)
	case "string":
		switch x := v.(type) {
		case map[string]any, []any:
			// A JSON body carries blocks and views as structures.
			b, _ := json.Marshal(x)
			return string(b)
		case json.Number:
			return x.String()
		case bool:
			return strconv.FormatBool(x)
		}
	}
	if n, ok := v.(json.Number); ok {
		if f, err := n.Float64(); err == nil {
			return f
		}
	}
	return v
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// numbersToFloat converts the json.Numbers in a decoded JSON value to
// float64, the form schema validation expects.
func numbersToFloat(v any) any {
	switch t := v.(type) {
	case json.Number:
		if f, err := t.Float64(); err == nil {
			return f
		}
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = numbersToFloat(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = numbersToFloat(x)
		}
		return out
	}
	return v
}
