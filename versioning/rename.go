package versioning

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// routePattern is a ServeMux pattern with a method, split for matching
// and rebuilding paths: "GET /users/{id}/keys".
type routePattern struct {
	method   string
	segments []string // literal, or "{name}" / "{name...}"
}

func parseRoutePattern(p string) (routePattern, error) {
	method, path, ok := strings.Cut(p, " ")
	if !ok || method == "" || !strings.HasPrefix(path, "/") {
		return routePattern{}, fmt.Errorf("route %q: want a method and a path, such as \"GET /users/{id}\"", p)
	}
	rp := routePattern{method: method, segments: strings.Split(strings.TrimPrefix(path, "/"), "/")}
	for i, s := range rp.segments {
		if strings.HasSuffix(s, "...}") && i != len(rp.segments)-1 {
			return routePattern{}, fmt.Errorf("route %q: a {name...} wildcard must come last", p)
		}
		if strings.Contains(s, "{$}") {
			return routePattern{}, fmt.Errorf("route %q: {$} cannot be renamed", p)
		}
	}
	return rp, nil
}

// wildcards lists the pattern's wildcard names, in order.
func (rp routePattern) wildcards() []string {
	var out []string
	for _, s := range rp.segments {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			out = append(out, strings.TrimSuffix(strings.Trim(s, "{}"), "..."))
		}
	}
	return out
}

// match returns the wildcards' values if r's method and path match.
func (rp routePattern) match(method, path string) (map[string]string, bool) {
	if method != rp.method && !(rp.method == http.MethodGet && method == http.MethodHead) {
		return nil, false
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	values := map[string]string{}
	for i, s := range rp.segments {
		switch {
		case strings.HasSuffix(s, "...}"):
			values[strings.TrimSuffix(strings.Trim(s, "{}"), "...")] = strings.Join(parts[min(i, len(parts)):], "/")
			return values, true
		case i >= len(parts):
			return nil, false
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			if parts[i] == "" {
				return nil, false
			}
			values[strings.Trim(s, "{}")] = parts[i]
		case s != parts[i]:
			return nil, false
		}
	}
	return values, len(parts) == len(rp.segments)
}

// build is the path of the pattern with the wildcards' values.
func (rp routePattern) build(values map[string]string) string {
	parts := make([]string, len(rp.segments))
	for i, s := range rp.segments {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			s = values[strings.TrimSuffix(strings.Trim(s, "{}"), "...")]
		}
		parts[i] = s
	}
	return "/" + strings.Join(parts, "/")
}

// rename is a route renamed at a version: callers older than it use
// from, which the middleware rewrites to to.
type rename struct {
	version  Version
	index    int
	from, to routePattern
	fromName string
	toName   string
}

// compileRenames checks each change's RenamedRoutes: the same method,
// the same wildcards.
func (a *API) compileRenames() error {
	for _, c := range a.changes {
		for from, to := range c.RenamedRoutes {
			fp, err := parseRoutePattern(from)
			if err != nil {
				return fmt.Errorf("%w: version %s: %w", ErrInvalid, c.version, err)
			}
			tp, err := parseRoutePattern(to)
			if err != nil {
				return fmt.Errorf("%w: version %s: %w", ErrInvalid, c.version, err)
			}
			if fp.method != tp.method || !slices.Equal(sortedCopy(fp.wildcards()), sortedCopy(tp.wildcards())) {
				return fmt.Errorf("%w: version %s: route %q cannot be renamed %q: the method and the wildcards must stay", ErrInvalid, c.version, from, to)
			}
			a.renames = append(a.renames, rename{version: c.version, index: c.index, from: fp, to: tp, fromName: from, toName: to})
		}
	}
	// Oldest first: a caller's path is carried through every later
	// rename in turn.
	slices.SortStableFunc(a.renames, func(x, y rename) int { return x.index - y.index })
	return nil
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// renamedPath carries the escaped path of a caller at v through every
// rename after v, oldest first; it returns path itself when none
// applies. Wildcard values stay escaped, so an escaped slash in one
// stays inside its segment.
func (a *API) renamedPath(v Version, method, path string) string {
	for _, rn := range a.renames {
		if rn.version.Compare(v) <= 0 {
			continue
		}
		if values, ok := rn.from.match(method, path); ok {
			path = rn.to.build(values)
		}
	}
	return path
}

// routeAt is the name a route (as the head names it) had at the version
// of index i, walking renames after i back.
func (a *API) routeAt(route string, i int) string {
	for j := len(a.renames) - 1; j >= 0; j-- {
		if rn := a.renames[j]; rn.index > i && rn.toName == route {
			route = rn.fromName
		}
	}
	return route
}

// withPath is r with its URL path replaced by escaped, an escaped path.
func withPath(r *http.Request, escaped string) (*http.Request, error) {
	path, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, err
	}
	r2 := *r
	u := *r.URL
	u.Path, u.RawPath = path, escaped
	r2.URL = &u
	return &r2, nil
}
