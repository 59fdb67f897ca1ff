package versioningtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/saaskit/saaskit/versioning"
)

// CheckChanges holds every migration that declares schema effects to
// them: it runs the migration on an example body of the schema on one
// side of its change (every property present) and validates the result
// against the schema on the other side, derived from the effects. A
// migration that does more, less or other than it declares fails,
// naming its change.
func CheckChanges(t testing.TB, api *versioning.API) {
	t.Helper()
	versions := api.Versions()
	for _, c := range api.Changes() {
		prev := versions[slices.Index(versions, c.Version)-1]
		for _, op := range api.Operations() {
			if !api.Exists(prev, op.Route) || !api.Exists(c.Version, op.Route) {
				continue
			}
			for i, m := range c.Requests {
				if len(m.Effects) == 0 || !matches(m.Routes, op.Route) {
					continue
				}
				before, after := api.RequestSchema(prev, op.Route), api.RequestSchema(c.Version, op.Route)
				if before != nil {
					checkMigration(t, fmt.Sprintf("change %s, request migration %d, on %s", c.Version, i, op.Route), m, before, after, 0)
				}
			}
			for i, m := range c.Responses {
				if len(m.Effects) == 0 || !matches(m.Routes, op.Route) || !matches(m.Types, op.Type) {
					continue
				}
				for status := range op.Responses {
					newer, older := api.ResponseSchema(c.Version, op.Route, status), api.ResponseSchema(prev, op.Route, status)
					if status < 200 || status > 299 || newer == nil {
						continue
					}
					checkMigration(t, fmt.Sprintf("change %s, response migration %d, on %s %d", c.Version, i, op.Route, status), m, newer, older, status)
				}
			}
		}
	}
}

func matches(scope []string, s string) bool { return len(scope) == 0 || slices.Contains(scope, s) }

// checkMigration runs m on an example of from and validates the result
// against to.
func checkMigration(t testing.TB, what string, m versioning.Migration, from, to versioning.Schema, status int) {
	t.Helper()
	b := &versioning.Body{Value: Example(from), Status: status}
	if err := m.Apply(b); err != nil {
		t.Errorf("%s: the migration failed on an example body: %v", what, err)
		return
	}
	if err := validate(to, b.Value); err != nil {
		t.Errorf("%s does not do what its schema effects declare: the migrated example %s is not valid at the other version: %v", what, mustJSON(b.Value), err)
	}
}

// Example returns a value of schema s with every property present: the
// first enum value or const, a typed placeholder, an array of one item.
func Example(s versioning.Schema) any {
	if s == nil {
		return nil
	}
	if c, ok := s["const"]; ok {
		return c
	}
	if e, ok := s["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	typ := s["type"]
	if list, ok := typ.([]any); ok && len(list) > 0 {
		typ = list[0]
	}
	switch typ {
	case "object":
		out := map[string]any{}
		props, _ := s["properties"].(map[string]any)
		for k, p := range props {
			if ps, ok := p.(map[string]any); ok {
				out[k] = Example(ps)
			}
		}
		return out
	case "array":
		items, _ := s["items"].(map[string]any)
		return []any{Example(items)}
	case "string":
		switch s["format"] {
		case "date-time":
			return "2024-01-01T00:00:00Z"
		case "date":
			return "2024-01-01"
		case "email":
			return "ada@example.com"
		}
		return "x"
	case "integer":
		return 1.0
	case "number":
		return 1.5
	case "boolean":
		return true
	case "null":
		return nil
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		if alts, ok := s[k].([]any); ok && len(alts) > 0 {
			if first, ok := alts[0].(map[string]any); ok {
				return Example(first)
			}
		}
	}
	return "x"
}

// validate checks value against schema, a JSON Schema 2020-12.
func validate(schema versioning.Schema, value any) error {
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", roundTrip(schema)); err != nil {
		return err
	}
	compiled, err := c.Compile("schema.json")
	if err != nil {
		return err
	}
	return compiled.Validate(roundTrip(value))
}

// roundTrip re-decodes v as the validator expects JSON: numbers as
// json.Number.
func roundTrip(v any) any {
	data, _ := json.Marshal(v) // decoded JSON always encodes
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return v
	}
	return out
}

func mustJSON(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}

// Case is one request of a contract test: its method, path (below the
// server's root), JSON body and headers.
type Case struct {
	Method, Path string
	// Body is the JSON body ("" for none), as the oldest version takes
	// it; BodyFrom gives the body from a version on, for a request whose
	// shape changed: {"2024-06-01": `{"full_name": "Ada"}`}.
	Body     string
	BodyFrom map[string]string
	Header   http.Header
}

// bodyAt is the case's body at version.
func (c Case) bodyAt(version string, versions []string) string {
	body := c.Body
	for _, v := range versions {
		if b, ok := c.BodyFrom[v]; ok {
			body = b
		}
		if v == version {
			break
		}
	}
	return body
}

// RunContract sends every case at every version the API supports,
// through handler (the application with api's middleware), naming the
// version in the API's header, and validates each request and each
// response against that version's OpenAPI document. A route the document
// lacks must not succeed at that version; otherwise the request and the
// response must be as documented, errors included.
func RunContract(t testing.TB, api *versioning.API, handler http.Handler, header string, cases []Case) {
	t.Helper()
	if header == "" {
		header = "API-Version"
	}
	for _, v := range api.Versions() {
		data, _ := api.OpenAPI(v)
		doc, err := openapi3.NewLoader().LoadFromData(data)
		if err != nil {
			t.Fatalf("the document of %s does not load: %v", v, err)
		}
		if err := doc.Validate(context.Background()); err != nil {
			t.Fatalf("the document of %s is not valid OpenAPI: %v", v, err)
		}
		doc.Servers = openapi3.Servers{{URL: "http://contract.test"}}
		router, err := legacy.NewRouter(doc)
		if err != nil {
			t.Fatalf("the document of %s: %v", v, err)
		}
		for _, c := range cases {
			runCase(t, v, router, handler, header, c, c.bodyAt(v, api.Versions()))
		}
	}
}

func runCase(t testing.TB, version string, router routers.Router, handler http.Handler, header string, c Case, payload string) {
	t.Helper()
	name := fmt.Sprintf("%s %s at %s", c.Method, c.Path, version)
	newRequest := func() *http.Request {
		var body io.Reader = http.NoBody
		if payload != "" {
			body = strings.NewReader(payload)
		}
		r := httptest.NewRequest(c.Method, "http://contract.test"+c.Path, body)
		for k, vs := range c.Header {
			r.Header[k] = vs
		}
		if payload != "" && r.Header.Get("Content-Type") == "" {
			r.Header.Set("Content-Type", "application/json")
		}
		r.Header.Set(header, version)
		return r
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, newRequest())
	resp := rec.Result()
	route, params, err := router.FindRoute(newRequest())
	if err != nil {
		if resp.StatusCode < 300 {
			t.Errorf("%s: answered %d, but the document of %s has no such operation", name, resp.StatusCode, version)
		}
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: newRequest(), PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	if resp.StatusCode < 400 { // a request the service refused may well be off its document
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s: the request is not as documented: %v", name, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes())), Options: &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s: answered %d %s, not as documented: %v", name, resp.StatusCode, rec.Body.String(), err)
	}
}
