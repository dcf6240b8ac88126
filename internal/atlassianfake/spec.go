package atlassianfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Spec validation of the Jira API.
//
// The official spec (../shared/specs/jira-platform-openapi-v3.json, 2.4 MB)
// is loaded once per test binary. kin-openapi's router validates the whole
// document before routing and refuses it ("conflicting paths
// /rest/api/3/field/{id} and /rest/api/3/field/{fieldId}"), so the router is
// built over the operations the fake serves, taken unchanged from the
// official document (same parameters, schemas and $refs). A request to any
// other Jira path is a violation in itself: the fake does not serve it.
// Examples are not validated (they are documentation, and slow to check);
// security is checked by the fake itself (basic auth), not by the filter.

// SpecFile is the Jira spec's name under shared/specs.
const SpecFile = "jira-platform-openapi-v3.json"

// JiraPaths are the Jira operations' paths the fake serves, as the spec
// writes them.
var JiraPaths = []string{
	"/rest/api/3/group/bulk",
	"/rest/api/3/group/member",
	"/rest/api/3/group/user",
	"/rest/api/3/user/groups",
	"/rest/api/3/user/search",
}

type jiraSpec struct {
	path   string
	doc    *openapi3.T
	router routers.Router
}

type specLoad struct {
	once sync.Once
	spec *jiraSpec
	err  error
}

var specCache sync.Map // path → *specLoad

// FindSpec returns the path of shared/specs/jira-platform-openapi-v3.json,
// looking in every directory from the working directory up (the specs live
// beside the repository: ../shared/specs from /work/main). It returns ""
// when there is none.
func FindSpec() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, "shared", "specs", SpecFile)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// RequireSpec skips a contract test when the official spec is not there,
// saying where it was looked for. Other tests run the fake without
// validation instead.
func RequireSpec(t TB) string {
	t.Helper()
	p := FindSpec()
	if p == "" {
		noticeSpecMissing()
		t.Skipf("contract test skipped: shared/specs/%s not found above the working directory (it lives beside the repository, ../shared/specs)", SpecFile)
	}
	if _, err := loadSpec(p); err != nil {
		t.Fatalf("load the Jira spec: %v", err)
	}
	return p
}

// specNotice prints, once per test binary, that the spec was not found:
// without -v a skip or a log line is invisible.
var specNotice sync.Once

func noticeSpecMissing() {
	specNotice.Do(func() {
		fmt.Fprintf(os.Stderr, "atlassianfake: shared/specs/%s not found: Jira requests in these tests are not validated and contract tests are skipped\n", SpecFile)
	})
}

func loadSpec(path string) (*jiraSpec, error) {
	v, _ := specCache.LoadOrStore(path, &specLoad{})
	l := v.(*specLoad)
	l.once.Do(func() { l.spec, l.err = parseSpec(path) })
	return l.spec, l.err
}

func parseSpec(path string) (*jiraSpec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	served := openapi3.NewPaths()
	for _, p := range JiraPaths {
		item := doc.Paths.Value(p)
		if item == nil {
			return nil, fmt.Errorf("%s does not document %s", path, p)
		}
		served.Set(p, item)
	}
	doc.Paths = served
	doc.Servers = nil // route on the path only: the fake listens on 127.0.0.1
	r, err := legacy.NewRouter(doc, openapi3.DisableExamplesValidation(), openapi3.DisableSchemaDefaultsValidation())
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", path, err)
	}
	return &jiraSpec{path: path, doc: doc, router: r}, nil
}

var filterOptions = &openapi3filter.Options{
	MultiError:         true,
	AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
}

// validateRequest checks r (whose body the caller has buffered and will
// restore) against the spec. It returns the route for response validation.
func (s *jiraSpec) validateRequest(r *http.Request) (*openapi3filter.RequestValidationInput, error) {
	route, params, err := s.router.FindRoute(r)
	if err != nil {
		return nil, fmt.Errorf("%s %s is not an operation of the Jira API the fake serves: %w", r.Method, r.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: filterOptions}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		return in, flatten(err)
	}
	return in, nil
}

// validateResponse checks a 2xx answer the fake gives against the spec, so
// the bodies the providers parse are shaped as the spec documents them.
func (s *jiraSpec) validateResponse(in *openapi3filter.RequestValidationInput, status int, header http.Header, body []byte) error {
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: filterOptions}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return flatten(err)
	}
	return nil
}

func flatten(err error) error {
	var me openapi3.MultiError
	if errors.As(err, &me) {
		parts := make([]string, 0, len(me))
		for _, e := range me {
			parts = append(parts, strings.Join(strings.Fields(e.Error()), " "))
		}
		return errors.New(strings.Join(parts, "; "))
	}
	return errors.New(strings.Join(strings.Fields(err.Error()), " "))
}

// SpecExample returns the example answer the official spec documents for
// one of JiraPaths (method as "GET", status as 200), as JSON text. It skips
// the test when the spec is absent.
func SpecExample(t TB, path, method string, status int) string {
	t.Helper()
	spec, err := loadSpec(RequireSpec(t))
	if err != nil {
		t.Fatalf("%v", err)
	}
	item := spec.doc.Paths.Value(path)
	if item == nil || item.GetOperation(method) == nil {
		t.Fatalf("the spec has no %s %s", method, path)
	}
	resp := item.GetOperation(method).Responses.Status(status)
	if resp == nil || resp.Value == nil || resp.Value.Content.Get("application/json") == nil {
		t.Fatalf("the spec documents no JSON %d answer to %s %s", status, method, path)
	}
	ex := resp.Value.Content.Get("application/json").Example
	switch v := ex.(type) {
	case string:
		return v
	case nil:
		t.Fatalf("the spec has no example for the %d answer to %s %s", status, method, path)
	}
	b, err := json.Marshal(ex)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return string(b)
}
