package versioning

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/saaskit/saaskit/tenancy"
)

// ResolveError is a request naming a version the API cannot serve.
type ResolveError struct {
	Given  string // the version as given ("" when the tenant's pin failed)
	Source string // header, path, accept or pin
	Err    error
}

func (e *ResolveError) Error() string {
	return fmt.Sprintf("api version %q from the %s: %v", truncate(e.Given), e.Source, e.Err)
}

func (e *ResolveError) Unwrap() error { return e.Err }

// ErrUnknownVersion is a well-formed version this API does not have.
var ErrUnknownVersion = errors.New("versioning: unknown version")

// Resolve returns the version of r by the documented precedence: the
// version header, then the path prefix (when enabled), then the Accept
// media type's version parameter (when configured), then the tenant's
// pin (its record's APIVersion, else Pins' when set; pinning at the
// first request with AutoPin), then the default. It also returns the path to route with, without the
// version prefix.
func (a *API) Resolve(r *http.Request) (Version, string, error) {
	path := r.URL.Path
	if s := r.Header.Get(a.opts.Header); s != "" {
		v, err := a.find(s, "header")
		return v, a.stripped(path), err
	}
	if a.opts.PathPrefix {
		if seg, rest, ok := versionSegment(path); ok {
			v, err := a.find(seg, "path")
			return v, rest, err
		}
	}
	if a.opts.MediaType != "" {
		if s := a.acceptVersion(r.Header.Values("Accept")); s != "" {
			v, err := a.find(s, "accept")
			return v, path, err
		}
	}
	if v, ok, err := a.pinned(r.Context()); ok || err != nil {
		return v, path, err
	}
	return a.def, path, nil
}

// stripped removes a version prefix from path when prefixes are on, so
// a header can override a prefixed path.
func (a *API) stripped(path string) string {
	if a.opts.PathPrefix {
		if _, rest, ok := versionSegment(path); ok {
			return rest
		}
	}
	return path
}

func (a *API) find(s, source string) (Version, error) {
	if v, ok := a.byName[s]; ok {
		return v, nil
	}
	if _, err := ParseVersion(s); err != nil {
		return Version{}, &ResolveError{Given: s, Source: source, Err: err}
	}
	v, ok := a.lookup(s)
	if !ok {
		return Version{}, &ResolveError{Given: s, Source: source, Err: ErrUnknownVersion}
	}
	return v, nil
}

// versionSegment splits "/v2/rest" into "v2" and "/rest" when the first
// segment looks like a major version.
func versionSegment(path string) (seg, rest string, ok bool) {
	p := strings.TrimPrefix(path, "/")
	seg, tail, found := strings.Cut(p, "/")
	if len(seg) < 2 || seg[0] != 'v' || seg[1] < '0' || seg[1] > '9' {
		return "", path, false
	}
	for _, c := range []byte(seg[1:]) {
		if c < '0' || c > '9' {
			return "", path, false
		}
	}
	if !found {
		return seg, "/", true
	}
	return seg, "/" + tail, true
}

// acceptVersion returns the version parameter of the configured media
// type in Accept headers, "" when none names one.
func (a *API) acceptVersion(values []string) string {
	for _, header := range values {
		for r := range strings.SplitSeq(header, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(r))
			if err == nil && strings.EqualFold(mt, a.opts.MediaType) && params["version"] != "" {
				return params["version"]
			}
		}
	}
	return ""
}

// pinned resolves the tenant's pin: the tenant record's APIVersion, else
// the PinStore's; ok is false when there is no tenant or no pin (and no
// AutoPin).
func (a *API) pinned(ctx context.Context) (Version, bool, error) {
	t, err := tenancy.FromContext(ctx)
	if err != nil {
		return Version{}, false, nil
	}
	if t.APIVersion != "" {
		v, err := a.find(t.APIVersion, "pin")
		return v, true, err
	}
	if a.opts.Pins == nil {
		return Version{}, false, nil
	}
	s, err := a.opts.Pins.Pin(ctx, t.ID)
	switch {
	case errors.Is(err, ErrNoPin) && a.opts.AutoPin:
		if err := a.opts.Pins.SetPin(ctx, t.ID, a.def.String()); err != nil {
			return Version{}, false, fmt.Errorf("versioning: pin tenant: %w", err)
		}
		return a.def, true, nil
	case errors.Is(err, ErrNoPin):
		return Version{}, false, nil
	case err != nil:
		return Version{}, false, fmt.Errorf("versioning: read tenant pin: %w", err)
	}
	v, err := a.find(s, "pin")
	return v, true, err
}
