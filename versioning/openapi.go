package versioning

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/saaskit/saaskit/problem"
)

// problemSchema is the schema of an RFC 9457 problem, every operation's
// error response.
var problemSchema = Schema{
	"type": "object",
	"properties": map[string]any{
		"type":     map[string]any{"type": "string"},
		"title":    map[string]any{"type": "string"},
		"status":   map[string]any{"type": "integer"},
		"detail":   map[string]any{"type": "string"},
		"instance": map[string]any{"type": "string"},
	},
}

// buildDocuments renders every version's OpenAPI 3.1 document once, so
// serving one is writing a byte slice.
func (a *API) buildDocuments() error {
	a.docs = make(map[string][]byte, len(a.versions))
	for i, v := range a.versions {
		doc, err := json.Marshal(a.document(i))
		if err != nil {
			return fmt.Errorf("%w: openapi document of %s: %w", ErrInvalid, v, err)
		}
		a.docs[v.String()] = doc
	}
	return nil
}

// exists reports whether route is served at the version of index i:
// not added by a later change, not removed by this or an earlier one.
func (a *API) exists(route string, i int) bool {
	for _, c := range a.changes {
		switch {
		case c.index > i && containsPattern(c.AddedRoutes, route):
			return false
		case c.index <= i && containsPattern(c.RemovedRoutes, route):
			return false
		}
	}
	return true
}

// document is the OpenAPI 3.1 document of the version of index i.
func (a *API) document(i int) map[string]any {
	v := a.versions[i]
	title := a.opts.Title
	if title == "" {
		title = "API"
	}
	info := map[string]any{"title": title, "version": v.String()}
	versionLife, deprecatedVersion := a.opts.VersionLifecycle[v.String()]
	var notes []string
	if deprecatedVersion && !versionLife.Deprecated.IsZero() {
		notes = append(notes, "Deprecated on "+versionLife.Deprecated.UTC().Format(http.TimeFormat)+".")
	}
	if deprecatedVersion && !versionLife.Sunset.IsZero() {
		notes = append(notes, "Sunset on "+versionLife.Sunset.UTC().Format(http.TimeFormat)+": requests at this version fail with 410 from then on.")
		info["x-sunset"] = versionLife.Sunset.UTC().Format(http.TimeFormat)
	}
	if len(notes) > 0 {
		info["description"] = strings.Join(notes, " ")
	}
	paths := map[string]any{}
	for _, op := range a.opts.Operations {
		if !a.exists(op.Route, i) {
			continue
		}
		method, path, _ := splitRoute(a.routeAt(op.Route, i)) // checked in deriveSchemas; renamed routes by their name then
		item, _ := paths[path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[path] = item
		}
		item[strings.ToLower(method)] = a.operation(op, i, path, !versionLife.Deprecated.IsZero())
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info":    info,
		"paths":   paths,
		"components": map[string]any{
			"schemas": map[string]any{"Problem": problemSchema},
		},
	}
}

// operation is op's OpenAPI operation at the version of index i, whose
// OpenAPI path is path.
func (a *API) operation(op Operation, i int, path string, versionDeprecated bool) map[string]any {
	s := a.schemas[i][op.Route]
	params := []any{map[string]any{
		"name": a.opts.Header, "in": "header", "required": false,
		"description": "The API version; this document's is " + a.versions[i].String() + ".",
		"schema":      map[string]any{"type": "string", "enum": []any{a.versions[i].String()}},
	}}
	for _, name := range pathParams(path) {
		params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	responses := map[string]any{
		"default": map[string]any{"description": "An error, as an RFC 9457 problem.",
			"content": map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}},
	}
	statuses := make([]int, 0, len(s.responses))
	for st := range s.responses {
		statuses = append(statuses, st)
	}
	slices.Sort(statuses)
	for _, st := range statuses {
		r := map[string]any{"description": http.StatusText(st)}
		if body := s.responses[st]; body != nil {
			r["content"] = map[string]any{"application/json": map[string]any{"schema": body}}
		}
		responses[strconv.Itoa(st)] = r
	}
	out := map[string]any{
		"operationId": operationID(op.Route),
		"parameters":  params,
		"responses":   responses,
	}
	if op.Summary != "" {
		out["summary"] = op.Summary
	}
	if s.request != nil {
		out["requestBody"] = map[string]any{"required": true,
			"content": map[string]any{"application/json": map[string]any{"schema": s.request}}}
	}
	if l, ok := a.opts.RouteLifecycle[op.Route]; versionDeprecated || ok && !l.Deprecated.IsZero() {
		out["deprecated"] = true
	}
	return out
}

// pathParams lists the {name} segments of an OpenAPI path.
func pathParams(path string) []string {
	var out []string
	for seg := range strings.SplitSeq(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && seg != "{$}" {
			out = append(out, strings.Trim(seg, "{}"))
		}
	}
	return out
}

// operationID names a route: "POST /users/{id}/keys" is
// post_users_id_keys.
func operationID(route string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(route) {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "_"):
			b.WriteByte('_')
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}

// OpenAPI returns the OpenAPI 3.1 document of version, as JSON: its
// routes, their request and response schemas as of that version, errors
// as RFC 9457 problems, deprecations and the sunset. The slice is
// shared: do not modify it.
func (a *API) OpenAPI(version string) ([]byte, bool) {
	doc, ok := a.docs[version]
	return doc, ok
}

// OpenAPIHandler serves each version's document at <version>.json under
// wherever it is mounted (GET /openapi/2024-06-01.json), and the list of
// versions with their documents at the mount point itself.
func (a *API) OpenAPIHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		if name == "" {
			list := make([]map[string]string, 0, len(a.versions))
			for _, v := range a.versions {
				list = append(list, map[string]string{"version": v.String(), "document": v.String() + ".json"})
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"versions": list, "head": a.head.String()})
			return
		}
		doc, ok := a.docs[strings.TrimSuffix(name, ".json")]
		if !ok || !strings.HasSuffix(name, ".json") {
			problem.Write(w, problem.Details{Status: http.StatusNotFound,
				Detail: fmt.Sprintf("no document %q; the versions are %s", name, strings.Join(a.Versions(), ", "))})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(doc)
	})
}

// MigrationGuide renders, in Markdown, what a client must change to move
// from each version to the next, oldest step first: the change's
// description, the routes added and removed, and each migration's
// declared effects on the bodies of its routes and types.
func (a *API) MigrationGuide() string {
	var b strings.Builder
	b.WriteString("# Migration guide\n")
	for _, c := range a.changes {
		prev := a.versions[c.index-1]
		fmt.Fprintf(&b, "\n## From %s to %s\n\n", prev, c.version)
		if d := strings.TrimSpace(c.Description); d != "" {
			b.WriteString(d + "\n\n")
		}
		for _, r := range c.AddedRoutes {
			fmt.Fprintf(&b, "- `%s` is new.\n", r)
		}
		for _, r := range c.RemovedRoutes {
			fmt.Fprintf(&b, "- `%s` is gone: it answers 410.\n", r)
		}
		for _, m := range c.Requests {
			for _, e := range m.Effects {
				fmt.Fprintf(&b, "- In requests%s: %s.\n", scopeOf(m), e)
			}
		}
		for _, m := range c.Responses {
			for _, e := range m.Effects {
				fmt.Fprintf(&b, "- In responses%s: %s.\n", scopeOf(m), e)
			}
		}
		if a.opts.DocumentPath != "" {
			fmt.Fprintf(&b, "- Reference: [%s](%s%s.json).\n", c.version, a.opts.DocumentPath, c.version)
		}
	}
	return b.String()
}

// scopeOf describes the routes and types a migration applies to.
func scopeOf(m Migration) string {
	var parts []string
	if len(m.Routes) > 0 {
		parts = append(parts, "to `"+strings.Join(m.Routes, "`, `")+"`")
	}
	if len(m.Types) > 0 {
		parts = append(parts, "of `"+strings.Join(m.Types, "`, `")+"`")
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, " ")
}

// Changes returns the API's changes, oldest first.
func (a *API) Changes() []Change {
	out := make([]Change, len(a.changes))
	for i, c := range a.changes {
		out[i] = c.Change
	}
	return out
}

// Operations returns the documented routes, as Options gave them.
func (a *API) Operations() []Operation { return slices.Clone(a.opts.Operations) }

// Exists reports whether route is served at version: the version is
// known, no later change added the route, and neither that change nor
// an earlier one removed it.
func (a *API) Exists(version, route string) bool {
	v, ok := a.byName[version]
	if !ok {
		return false
	}
	return a.exists(route, slices.IndexFunc(a.versions, func(w Version) bool { return w.Compare(v) == 0 }))
}
