package versioning

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/invopop/jsonschema"
)

// Schema is a JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1),
// decoded into maps and slices.
type Schema = map[string]any

// SchemaFor returns the JSON Schema of v's type, from its json tags, as
// one tree without references, objects closed to other members
// (additionalProperties false) and fields without omitempty required.
func SchemaFor(v any) Schema {
	r := jsonschema.Reflector{DoNotReference: true, Anonymous: true, ExpandedStruct: true}
	data, err := json.Marshal(r.Reflect(v))
	if err != nil {
		panic(fmt.Sprintf("versioning: schema of %T: %v", v, err)) // a reflected schema always encodes
	}
	var s Schema
	if err := json.Unmarshal(data, &s); err != nil {
		panic(fmt.Sprintf("versioning: schema of %T: %v", v, err))
	}
	delete(s, "$schema")
	return s
}

// Operation documents one route: its schemas as of the newest version
// that has it (the head, unless a change removed it).
type Operation struct {
	// Route is the ServeMux pattern, with its method: "POST /users".
	Route   string
	Summary string
	// Type is the payload type its responses declare with SetType, so
	// that migrations scoped to Types reach its schemas too.
	Type string
	// Request is the request body's schema; nil for none.
	Request Schema
	// Responses are the response bodies' schemas by status; a nil schema
	// is a response without a body. Errors are RFC 9457 problems,
	// documented for every operation.
	Responses map[int]Schema
}

// SchemaEffect is what a change did to the schema of the bodies its
// migration rewrites, going forward: from the version before the
// change to the change's version. Declared on each Migration, it lets
// the API derive every older version's schemas from the head's, as
// Cadwyn does, and versioningtest.CheckChanges hold each migration to
// it.
type SchemaEffect struct {
	kind   effectKind
	field  string // the field as it is at the change's version
	old    string // its name before (renamed)
	schema Schema // its schema before (removed, type changed)
}

type effectKind int

const (
	effectRenamed effectKind = iota + 1
	effectAdded
	effectRemoved
	effectTypeChanged
)

// FieldRenamed says field old is called new from the change's version on.
func FieldRenamed(old, new string) SchemaEffect {
	return SchemaEffect{kind: effectRenamed, field: new, old: old}
}

// FieldAdded says the field exists from the change's version on.
func FieldAdded(name string) SchemaEffect { return SchemaEffect{kind: effectAdded, field: name} }

// FieldRemoved says the field, of schema was, is gone from the change's
// version on.
func FieldRemoved(name string, was Schema) SchemaEffect {
	return SchemaEffect{kind: effectRemoved, field: name, schema: was}
}

// FieldTypeChanged says the field had schema was before the change.
func FieldTypeChanged(name string, was Schema) SchemaEffect {
	return SchemaEffect{kind: effectTypeChanged, field: name, schema: was}
}

// String says what the effect did, for migration guides.
func (e SchemaEffect) String() string {
	switch e.kind {
	case effectRenamed:
		return fmt.Sprintf("`%s` is renamed `%s`", e.old, e.field)
	case effectAdded:
		return fmt.Sprintf("`%s` is added", e.field)
	case effectRemoved:
		return fmt.Sprintf("`%s` is removed", e.field)
	case effectTypeChanged:
		return fmt.Sprintf("`%s` changes type", e.field)
	}
	return "no effect"
}

// undo turns the object schema obj, as at the change's version, into
// its schema before the change.
func (e SchemaEffect) undo(obj Schema) error {
	props, _ := obj["properties"].(map[string]any)
	if props == nil {
		return fmt.Errorf("the schema has no properties for %s", e)
	}
	_, has := props[e.field]
	switch {
	case e.kind == effectRemoved && has:
		return fmt.Errorf("field %q, said to be removed, is still in the schema", e.field)
	case e.kind != effectRemoved && !has:
		return fmt.Errorf("the schema has no field %q (%s)", e.field, e)
	}
	required := requiredOf(obj)
	switch e.kind {
	case effectRenamed:
		props[e.old] = props[e.field]
		delete(props, e.field)
		if i := slices.Index(required, e.field); i >= 0 {
			required[i] = e.old
		}
	case effectAdded:
		delete(props, e.field)
		required = slices.DeleteFunc(required, func(s string) bool { return s == e.field })
	case effectRemoved:
		props[e.field] = cloneSchema(e.schema)
	case effectTypeChanged:
		props[e.field] = cloneSchema(e.schema)
	}
	if len(required) > 0 {
		slices.Sort(required)
		obj["required"] = toAny(required)
	} else {
		delete(obj, "required")
	}
	return nil
}

func requiredOf(obj Schema) []string {
	var out []string
	switch r := obj["required"].(type) {
	case []any:
		for _, s := range r {
			if name, ok := s.(string); ok {
				out = append(out, name)
			}
		}
	case []string:
		out = slices.Clone(r)
	}
	return out
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// objectSchemas are the object schemas of s that a migration's Body
// Objects reaches: s's own, an array's items, or its "data" member's
// (a page's items, or an event's object).
func objectSchemas(s Schema) []Schema {
	if s == nil {
		return nil
	}
	if items, ok := s["items"].(map[string]any); ok && s["type"] == "array" {
		return []Schema{items}
	}
	props, _ := s["properties"].(map[string]any)
	if data, ok := props["data"].(map[string]any); ok {
		switch data["type"] {
		case "array":
			if items, ok := data["items"].(map[string]any); ok {
				return []Schema{items}
			}
		case "object":
			return []Schema{data}
		}
	}
	return []Schema{s}
}

// cloneSchema deep-copies a decoded schema.
func cloneSchema(s Schema) Schema {
	if s == nil {
		return nil
	}
	return cloneValue(s).(map[string]any)
}

func cloneValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = cloneValue(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = cloneValue(x)
		}
		return out
	case []string:
		return toAny(t)
	}
	return v
}

// opSchemas are an operation's schemas at one version.
type opSchemas struct {
	request   Schema
	responses map[int]Schema
}

func (o opSchemas) clone() opSchemas {
	out := opSchemas{request: cloneSchema(o.request), responses: make(map[int]Schema, len(o.responses))}
	for st, s := range o.responses {
		out.responses[st] = cloneSchema(s)
	}
	return out
}

// deriveSchemas computes every version's schemas of every operation,
// walking the changes down from the head and undoing each migration's
// declared effects on the bodies it reaches: request schemas of its
// routes, success response schemas of its routes and types. An effect
// that names a field the schema lacks is an error naming the change.
func (a *API) deriveSchemas() error {
	a.schemas = make([]map[string]opSchemas, len(a.versions))
	cur := map[string]opSchemas{}
	for _, op := range a.opts.Operations {
		if _, _, err := splitRoute(op.Route); err != nil {
			return fmt.Errorf("%w: operation %q: %w", ErrInvalid, op.Route, err)
		}
		if _, dup := cur[op.Route]; dup {
			return fmt.Errorf("%w: operation %q is listed twice", ErrInvalid, op.Route)
		}
		cur[op.Route] = opSchemas{request: cloneSchema(op.Request), responses: maps.Clone(op.Responses)}.clone()
	}
	byVersion := map[int]*compiledChange{}
	for i := range a.changes {
		byVersion[a.changes[i].index] = &a.changes[i]
	}
	a.payloads = make([]map[string]Schema, len(a.versions))
	payloads := map[string]Schema{}
	for t, p := range a.opts.Payloads {
		payloads[t] = cloneSchema(p)
	}
	for i := len(a.versions) - 1; i >= 0; i-- {
		a.schemas[i], a.payloads[i] = cur, payloads
		c := byVersion[i]
		if i == 0 {
			break
		}
		older := make(map[string]opSchemas, len(cur))
		for route, s := range cur {
			older[route] = s.clone()
		}
		olderPayloads := make(map[string]Schema, len(payloads))
		for t, p := range payloads {
			olderPayloads[t] = cloneSchema(p)
		}
		if c != nil {
			if err := a.undo(c, older); err != nil {
				return err
			}
			if err := undoPayloads(c, olderPayloads); err != nil {
				return err
			}
		}
		cur, payloads = older, olderPayloads
	}
	return nil
}

// undoPayloads undoes change c's declared effects on payload schemas:
// those of its response migrations scoped to no route and to the
// payload's type, as RenderPayload applies them.
func undoPayloads(c *compiledChange, payloads map[string]Schema) error {
	for t, p := range payloads {
		for _, m := range c.Responses {
			if len(m.Effects) == 0 || len(m.Routes) > 0 || !m.matchesType(t) {
				continue
			}
			for _, obj := range objectSchemas(p) {
				for _, e := range m.Effects {
					if err := e.undo(obj); err != nil {
						return fmt.Errorf("%w: change of version %s: payload %s: %w", ErrInvalid, c.version, t, err)
					}
				}
			}
		}
	}
	return nil
}

// PayloadSchema returns the schema of payloads of a type at version, as
// RenderPayload shapes them for an endpoint pinned to it; nil when the
// type or version is unknown.
func (a *API) PayloadSchema(version, payloadType string) Schema {
	v, ok := a.byName[version]
	if !ok {
		return nil
	}
	i := slices.IndexFunc(a.versions, func(w Version) bool { return w.Compare(v) == 0 })
	return cloneSchema(a.payloads[i][payloadType])
}

// undo undoes change c's declared effects on schemas, which are the
// version before c's, still as at c's version.
func (a *API) undo(c *compiledChange, schemas map[string]opSchemas) error {
	fail := func(route, what string, err error) error {
		return fmt.Errorf("%w: change of version %s: %s of %s: %w", ErrInvalid, c.version, what, route, err)
	}
	for _, op := range a.opts.Operations {
		// A route's schemas are as of the newest version that has it:
		// changes at or after its removal, or the one adding it, do not
		// apply.
		s, ok := schemas[op.Route]
		if !ok || !a.exists(op.Route, c.index) || containsPattern(c.AddedRoutes, op.Route) {
			continue
		}
		for _, m := range c.Requests {
			if len(m.Effects) == 0 || !m.matchesRoute(op.Route) || s.request == nil {
				continue
			}
			for _, obj := range objectSchemas(s.request) {
				for _, e := range m.Effects {
					if err := e.undo(obj); err != nil {
						return fail(op.Route, "request", err)
					}
				}
			}
		}
		for _, m := range c.Responses {
			if len(m.Effects) == 0 || !m.matchesRoute(op.Route) || !m.matchesType(op.Type) {
				continue
			}
			for status, body := range s.responses {
				if status < 200 || status > 299 || body == nil {
					continue
				}
				for _, obj := range objectSchemas(body) {
					for _, e := range m.Effects {
						if err := e.undo(obj); err != nil {
							return fail(op.Route, fmt.Sprintf("response %d", status), err)
						}
					}
				}
			}
		}
	}
	return nil
}

// splitRoute splits a ServeMux pattern with a method into the method
// and the OpenAPI path ({name...} wildcards become {name}).
func splitRoute(route string) (method, path string, err error) {
	method, path, ok := strings.Cut(route, " ")
	if !ok || method == "" || !strings.HasPrefix(path, "/") {
		return "", "", fmt.Errorf("want a ServeMux pattern with a method, such as \"GET /users/{id}\"")
	}
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions:
	default:
		return "", "", fmt.Errorf("method %q is not one OpenAPI documents", method)
	}
	return method, strings.ReplaceAll(path, "...}", "}"), nil
}

// RequestSchema returns the request body schema of route at version;
// nil when it has none or the route is unknown there.
func (a *API) RequestSchema(version, route string) Schema {
	s, ok := a.schemasAt(version, route)
	if !ok {
		return nil
	}
	return cloneSchema(s.request)
}

// ResponseSchema returns the schema of route's response of status at
// version; nil when there is none.
func (a *API) ResponseSchema(version, route string, status int) Schema {
	s, ok := a.schemasAt(version, route)
	if !ok {
		return nil
	}
	return cloneSchema(s.responses[status])
}

func (a *API) schemasAt(version, route string) (opSchemas, bool) {
	v, ok := a.byName[version]
	if !ok {
		return opSchemas{}, false
	}
	i := slices.IndexFunc(a.versions, func(w Version) bool { return w.Compare(v) == 0 })
	s, ok := a.schemas[i][route]
	return s, ok
}
