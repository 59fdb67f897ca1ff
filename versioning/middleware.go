package versioning

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/saaskit/saaskit/problem"
)

// DefaultMaxBody is Options.MaxBody's default: the largest request body
// the middleware reads to migrate it.
const DefaultMaxBody = 1 << 20

// maxResponse bounds a response the middleware buffers to migrate; a
// larger one passes through unmigrated, as a stream.
const maxResponse = 8 << 20

// request is what the middleware knows of a request; handlers reach it
// through the context.
type request struct {
	version     Version
	payloadType string
}

type ctxKey struct{}

// FromContext returns the version a request was resolved to, "" outside
// the middleware.
func FromContext(ctx context.Context) string {
	if r, ok := ctx.Value(ctxKey{}).(*request); ok {
		return r.version.String()
	}
	return ""
}

// SetType declares the type of the payload the handler responds with
// ("invoice", "user.created"), so that migrations scoped to that type
// apply. Call it before writing the response.
func SetType(ctx context.Context, payloadType string) {
	if r, ok := ctx.Value(ctxKey{}).(*request); ok {
		r.payloadType = payloadType
	}
}

// Middleware resolves each request's version, echoes it in the version
// header, announces deprecations and sunsets, refuses sunset versions
// and routes that do not exist at the caller's version, and migrates
// request and response bodies between the caller's version and the head.
func (a *API) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, path, err := a.Resolve(r)
		if err != nil {
			a.refuse(w, r, err)
			return
		}
		if path != r.URL.Path {
			r2 := *r
			u := *r.URL
			u.Path, u.RawPath = path, ""
			r2.URL = &u
			r = &r2
		}
		w.Header()[a.header] = a.echo[v.String()] // a shared, full slice: an Add copies it
		a.count(r.Context(), v)
		if a.gone(w, r, v) {
			return
		}
		if len(a.renames) > 0 { // an older caller's path to a route renamed since
			if p := a.renamedPath(v, r.Method, r.URL.EscapedPath()); p != r.URL.EscapedPath() {
				if r2, err := withPath(r, p); err == nil {
					r = r2
				}
			}
		}
		st := &request{version: v}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, st))
		pattern := a.pattern(r)
		if !a.routeExists(w, r, v, pattern) {
			return
		}
		up, down := a.steps(v, pattern)
		if len(up) == 0 && len(down) == 0 {
			next.ServeHTTP(w, r) // at the head: nothing to migrate
			return
		}
		if len(up) > 0 {
			if err := a.migrateRequest(r, up); err != nil {
				a.refuse(w, r, err)
				return
			}
		}
		if len(down) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		c := &capture{w: w, header: http.Header{}}
		next.ServeHTTP(c, r)
		if !c.passing {
			a.writeMigrated(w, c, down, st.payloadType)
		}
	})
}

// refuse answers a request the API cannot serve with problem+json.
func (a *API) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var re *ResolveError
	switch {
	case errors.Is(err, errTooLarge):
		problem.Write(w, problem.Details{Status: http.StatusRequestEntityTooLarge, Detail: err.Error()})
	case errors.Is(err, errMigration):
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Title: "Request not valid at this API version", Detail: err.Error()})
	case errors.As(err, &re) && re.Source != "pin":
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Title: "Unsupported API version",
			Detail:     fmt.Sprintf("%s; supported versions: %s", err.Error(), strings.Join(a.supported(), ", ")),
			Extensions: map[string]any{"supported_versions": a.supported()}})
	default:
		problem.Write(w, problem.Details{Status: http.StatusInternalServerError, Detail: "could not resolve the api version"})
	}
}

// supported lists the versions not past their sunset, oldest first.
func (a *API) supported() []string {
	now := a.opts.Now()
	var out []string
	for _, v := range a.versions {
		if l := a.opts.VersionLifecycle[v.String()]; l.Sunset.IsZero() || now.Before(l.Sunset) {
			out = append(out, v.String())
		}
	}
	return out
}

// gone writes the version's lifecycle headers, and 410 when it is past
// its sunset.
func (a *API) gone(w http.ResponseWriter, r *http.Request, v Version) bool {
	l, ok := a.opts.VersionLifecycle[v.String()]
	if !ok {
		return false
	}
	l.announce(w.Header())
	if l.Sunset.IsZero() || a.opts.Now().Before(l.Sunset) {
		return false
	}
	oldest := "none"
	if s := a.supported(); len(s) > 0 {
		oldest = s[0]
	}
	problem.Write(w, problem.Details{Status: http.StatusGone, Title: "API version sunset",
		Detail:     fmt.Sprintf("api version %s was sunset on %s; the oldest supported version is %s", v, l.Sunset.UTC().Format(http.TimeFormat), oldest),
		Extensions: map[string]any{"oldest_supported_version": oldest}})
	return true
}

// announce sets the Deprecation, Sunset and Link headers.
func (l Lifecycle) announce(h http.Header) {
	if !l.Deprecated.IsZero() {
		h.Set("Deprecation", "@"+strconv.FormatInt(l.Deprecated.Unix(), 10))
	}
	if !l.Sunset.IsZero() {
		h.Set("Sunset", l.Sunset.UTC().Format(http.TimeFormat))
	}
	if l.Link != "" {
		h.Add("Link", "<"+l.Link+`>; rel="deprecation"`)
	}
}

// pattern returns the matched route pattern among those the API names,
// "" when none matches.
func (a *API) pattern(r *http.Request) string {
	if len(a.patterns) == 0 {
		return ""
	}
	h, pattern := a.routes.Handler(r)
	if _, ok := h.(routeMarker); !ok {
		return ""
	}
	return pattern
}

// routeExists answers 404 for a route added after v, 410 for one
// removed at or before v or past its sunset, and announces a route's
// deprecation.
func (a *API) routeExists(w http.ResponseWriter, r *http.Request, v Version, pattern string) bool {
	if pattern == "" {
		return true
	}
	for _, c := range a.changes {
		newer := c.version.Compare(v) > 0
		switch {
		case newer && containsPattern(c.AddedRoutes, pattern):
			problem.Write(w, problem.Details{Status: http.StatusNotFound,
				Detail: fmt.Sprintf("%s exists from api version %s on; this request is at %s", pattern, c.version, v)})
			return false
		case !newer && containsPattern(c.RemovedRoutes, pattern):
			problem.Write(w, problem.Details{Status: http.StatusGone,
				Detail: fmt.Sprintf("%s was removed in api version %s; this request is at %s", pattern, c.version, v)})
			return false
		}
	}
	if l, ok := a.opts.RouteLifecycle[pattern]; ok {
		l.announce(w.Header())
		if !l.Sunset.IsZero() && !a.opts.Now().Before(l.Sunset) {
			problem.Write(w, problem.Details{Status: http.StatusGone,
				Detail: fmt.Sprintf("%s was sunset on %s", pattern, l.Sunset.UTC().Format(http.TimeFormat))})
			return false
		}
	}
	return true
}

func containsPattern(list []string, p string) bool {
	for _, x := range list {
		if x == p {
			return true
		}
	}
	return false
}

// steps returns the request migrations to apply for a caller at v on
// pattern, oldest change first, and the changes whose response
// migrations may apply, newest first (their types are known only after
// the handler ran).
func (a *API) steps(v Version, pattern string) (up []Migration, down []*compiledChange) {
	for i := range a.changes {
		c := &a.changes[i]
		if c.version.Compare(v) <= 0 {
			continue
		}
		for _, m := range c.Requests {
			if m.matchesRoute(pattern) {
				up = append(up, m)
			}
		}
		for _, m := range c.Responses {
			if m.matchesRoute(pattern) {
				down = append(down, c)
				break
			}
		}
	}
	for i, j := 0, len(down)-1; i < j; i, j = i+1, j-1 {
		down[i], down[j] = down[j], down[i]
	}
	return up, down
}

func (m Migration) matchesRoute(pattern string) bool {
	return len(m.Routes) == 0 || containsPattern(m.Routes, pattern)
}

func (m Migration) matchesType(t string) bool {
	return len(m.Types) == 0 || containsPattern(m.Types, t)
}
