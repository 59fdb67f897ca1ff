package tenancy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/saaskit/saaskit/internal/problem"
)

// Input bounds: anything longer is refused as malformed before any work.
const (
	maxHostLen      = 253 + len(":65535")
	maxHeaderValLen = 256
)

// DefaultHeader is the header the Header resolver reads and Transport
// writes.
const DefaultHeader = "X-Tenant-ID"

// Resolver identifies the tenant a request names: by its host, a
// custom domain, a header, a path or baggage. Identifying is not
// authenticating: a client can name any tenant, so a tenant that a
// Resolver found is served only as unauthenticated, unless a credential
// of that same tenant (an [Authenticator]'s [Principal]) comes with it.
//
// Resolve returns nil and a nil error when the request carries nothing
// the resolver reads. Once it finds what it reads, its answer is final:
// an unknown tenant is ErrNotFound, an unparsable reference ErrMalformed.
type Resolver interface {
	Resolve(r *http.Request) (*Tenant, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(r *http.Request) (*Tenant, error)

// Resolve calls f.
func (f ResolverFunc) Resolve(r *http.Request) (*Tenant, error) { return f(r) }

// MiddlewareOptions configure Middleware.
type MiddlewareOptions struct {
	// Identify are the resolvers that name a tenant, asked in order; the
	// first that finds what it reads decides which tenant is named.
	Identify []Resolver
	// Authenticate are the authenticators that verify a credential
	// ([APIKeyAuth], [Claims]). Every one is asked, whatever the order:
	// a presented credential always decides.
	Authenticate []Authenticator
	// Optional lets requests that name no tenant and present no
	// credential through without one. Default false: they get 400.
	Optional bool
	// Logger records store failures. Default slog.Default().
	Logger *slog.Logger
}

// Middleware resolves the tenant of each request and puts it in the
// request context (see FromContext), with the [Principal] that
// authenticated the request, if any (see PrincipalFromContext, and
// RequireAuth for the routes that need one). It records the tenant as
// tenant.id on the request's span when one is recording.
//
// A presented credential always decides, whatever the order of the
// options' lists:
//
//   - A credential that does not verify (unknown, revoked, expired,
//     malformed) is 401, even when the request also names a tenant.
//   - A credential whose tenant differs from the tenant the request
//     names (by host, domain, header, path or baggage), or from another
//     credential's, is 403: the request is served as neither.
//   - A valid credential serves its tenant, authenticated.
//   - Without a credential, the named tenant is served unauthenticated.
//
// Other failures are application/problem+json too: malformed reference
// 400, suspended tenant 403, unknown or deleted tenant 404, store
// failure 500.
func Middleware(opts MiddlewareOptions) func(http.Handler) http.Handler {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	var resolvers []Resolver
	for _, r := range opts.Identify {
		if r != nil {
			resolvers = append(resolvers, r)
		}
	}
	var authenticators []Authenticator
	for _, a := range opts.Authenticate {
		if a != nil {
			authenticators = append(authenticators, a)
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := authenticate(authenticators, r)
			if err != nil {
				writeError(w, r, logger, err)
				return
			}
			named, by, err := identify(resolvers, r)
			if err != nil {
				writeError(w, r, logger, err)
				return
			}
			t := named
			if p != nil {
				if named != nil && named.ID != p.Tenant.ID {
					writeError(w, r, logger, fmt.Errorf("%w: the credential does not belong to the tenant that the %s names", ErrForbidden, sourceOf(by)))
					return
				}
				t = p.Tenant
			}
			switch {
			case t == nil && opts.Optional:
				next.ServeHTTP(w, r)
				return
			case t == nil:
				problem.Write(w, problem.Details{Status: http.StatusBadRequest, Detail: "the request names no tenant"})
				return
			case t.Status == StatusDeleted:
				writeError(w, r, logger, fmt.Errorf("tenant %q: %w", t.Slug, ErrNotFound))
				return
			case t.Status == StatusSuspended:
				writeError(w, r, logger, fmt.Errorf("tenant %q: %w", t.Slug, ErrSuspended))
				return
			}
			ctx := WithTenant(r.Context(), t)
			if p != nil {
				ctx = WithPrincipal(ctx, p)
			}
			// The request's span (otelhttp's, if any) records whose it is.
			if span := trace.SpanFromContext(ctx); span.IsRecording() {
				span.SetAttributes(attribute.String(AttrKey, t.ID))
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// authenticate asks every authenticator and returns the principal the
// request's credentials agree on, or nil when it presents none. A
// credential that does not verify is ErrUnauthenticated; store failures
// keep their own error.
func authenticate(authenticators []Authenticator, r *http.Request) (*Principal, error) {
	var found *Principal
	for _, a := range authenticators {
		p, err := a.Authenticate(r)
		switch {
		case err != nil && HTTPStatus(err) == http.StatusInternalServerError:
			return nil, err
		case err != nil && !errors.Is(err, ErrUnauthenticated):
			return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
		case err != nil:
			return nil, err
		case p == nil:
			continue
		case p.Tenant == nil:
			return nil, fmt.Errorf("%w: the credential names no tenant", ErrUnauthenticated)
		case found != nil && found.Tenant.ID != p.Tenant.ID:
			return nil, fmt.Errorf("%w: the request's credentials belong to different tenants", ErrForbidden)
		case found == nil:
			found = p
		}
	}
	return found, nil
}

// identify runs the resolvers in order and returns the first tenant
// named, and the resolver that named it.
func identify(resolvers []Resolver, r *http.Request) (*Tenant, Resolver, error) {
	for _, res := range resolvers {
		t, err := res.Resolve(r)
		if err != nil || t != nil {
			return t, res, err
		}
	}
	return nil, nil, nil
}

// sourceOf names what a resolver reads, for error messages.
func sourceOf(r Resolver) string {
	switch r := r.(type) {
	case *SubdomainResolver:
		return "host"
	case *CustomDomainResolver:
		return "custom domain"
	case *HeaderResolver:
		return "header " + r.name
	case *PathPrefixResolver:
		return "path"
	case *BaggageResolver:
		return "baggage"
	}
	return "request"
}

// HTTPStatus maps a resolution error to its HTTP status.
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrSuspended), errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoTenant):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	status := HTTPStatus(err)
	detail := err.Error()
	switch status {
	case http.StatusInternalServerError:
		logger.ErrorContext(r.Context(), "tenant resolution failed", slog.String("error", detail))
		detail = "tenant resolution failed"
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
	}
	problem.Write(w, problem.Details{Status: status, Detail: detail})
}

// SubdomainResolver reads the tenant slug from the first label of a host
// under one of its base domains: acme.example.com, acme.localhost:8080.
type SubdomainResolver struct {
	reg      *Registry
	hosts    *cache[*Tenant] // Host header → tenant, for hosts that matched
	bases    []string
	reserved []string
}

// Subdomain returns a resolver for subdomains of baseDomains. Hosts whose
// label is reserved (www, api, ...) are not matched; hosts that are not
// under a base domain are left to the next resolver.
func Subdomain(reg *Registry, baseDomains []string, reserved ...string) (*SubdomainResolver, error) {
	if reg == nil {
		return nil, fieldErr("registry", "must not be nil")
	}
	if len(baseDomains) == 0 {
		return nil, fieldErr("base_domains", "must name at least one domain")
	}
	s := &SubdomainResolver{reg: reg, hosts: reg.newTenantCache()}
	for _, b := range baseDomains {
		b = strings.ToLower(strings.TrimSuffix(b, "."))
		if !validHostname(b) {
			return nil, fieldErr("base_domains", fmt.Sprintf("%q is not a host name", b))
		}
		s.bases = append(s.bases, b)
	}
	for _, l := range reserved {
		s.reserved = append(s.reserved, strings.ToLower(l))
	}
	return s, nil
}

// Resolve implements Resolver. A host seen before is answered from a
// cache keyed by the raw Host header, without parsing; its entries expire
// with the registry entries they came from.
func (s *SubdomainResolver) Resolve(r *http.Request) (*Tenant, error) {
	if e := s.hosts.entry(r.Host); e != nil {
		return e.value, nil
	}
	gen := s.hosts.generation()
	t, expires, err := s.resolve(r)
	if err == nil && t != nil {
		s.hosts.putUntil(r.Host, t, nil, gen, expires)
	}
	return t, err
}

func (s *SubdomainResolver) resolve(r *http.Request) (*Tenant, int64, error) {
	name, err := hostname(r.Host)
	if err != nil || name == "" {
		return nil, 0, err
	}
	for _, base := range s.bases {
		n := len(name) - len(base) - 1
		if n <= 0 || name[n] != '.' || name[n+1:] != base {
			continue
		}
		label := name[:n]
		if slices.Contains(s.reserved, label) {
			return nil, 0, nil
		}
		if !validLabel(label) {
			return nil, 0, fmt.Errorf("host %q: %w: subdomain is not a tenant slug", name, ErrMalformed)
		}
		return s.reg.lookupUntil(r.Context(), BySlug, label)
	}
	return nil, 0, nil
}

// hostname returns the lower-case host name of a Host header value,
// without port or trailing dot. IP literals give "": no tenant there.
func hostname(host string) (string, error) {
	if len(host) > maxHostLen {
		return "", fmt.Errorf("host: %w: longer than %d bytes", ErrMalformed, maxHostLen)
	}
	if host == "" || host[0] == '[' {
		return "", nil
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		if !validPort(host[i+1:]) {
			return "", fmt.Errorf("host: %w: bad port", ErrMalformed)
		}
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	upper := false
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.':
		case 'A' <= c && c <= 'Z':
			upper = true
		default:
			return "", fmt.Errorf("host: %w: bad character", ErrMalformed)
		}
	}
	if upper {
		host = strings.ToLower(host)
	}
	return host, nil
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// validHostname: one or more DNS labels joined by dots.
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for l := range strings.SplitSeq(s, ".") {
		if !validLabel(l) {
			return false
		}
	}
	return true
}

// CustomDomainResolver matches hosts registered as a tenant's custom
// domain. Hosts that are not registered are left to the next resolver.
type CustomDomainResolver struct {
	reg   *Registry
	hosts *cache[*Tenant] // Host header → tenant, for hosts that matched
}

// CustomDomain returns a resolver for tenants' custom domains.
func CustomDomain(reg *Registry) *CustomDomainResolver {
	return &CustomDomainResolver{reg: reg, hosts: reg.newTenantCache()}
}

// Resolve implements Resolver. A host seen before is answered from a
// cache keyed by the raw Host header, without parsing.
func (c *CustomDomainResolver) Resolve(r *http.Request) (*Tenant, error) {
	if e := c.hosts.entry(r.Host); e != nil {
		return e.value, nil
	}
	name, err := hostname(r.Host)
	if err != nil || name == "" {
		return nil, err
	}
	for _, p := range c.reg.opts.PlatformDomains {
		if name == p || strings.HasSuffix(name, "."+p) {
			return nil, nil // the platform's own names are never custom domains
		}
	}
	gen := c.hosts.generation()
	t, expires, err := c.reg.lookupUntil(r.Context(), ByDomain, name)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, nil
	case err == nil:
		c.hosts.putUntil(r.Host, t, nil, gen, expires)
	}
	return t, err
}

// HeaderResolver reads a tenant ID or slug from a request header.
type HeaderResolver struct {
	reg  *Registry
	name string
	by   Field
}

// Header returns a resolver reading the tenant from header name
// (DefaultHeader when empty), looked up by ID or slug. A client can send
// any value: like every Resolver it only names a tenant, which is served
// unauthenticated unless a credential of that tenant comes with it.
func Header(reg *Registry, name string, by Field) (*HeaderResolver, error) {
	if name == "" {
		name = DefaultHeader
	}
	if reg == nil {
		return nil, fieldErr("registry", "must not be nil")
	}
	if by != ByID && by != BySlug {
		return nil, fieldErr("by", "must be ByID or BySlug")
	}
	return &HeaderResolver{reg: reg, name: http.CanonicalHeaderKey(name), by: by}, nil
}

// Resolve implements Resolver.
func (h *HeaderResolver) Resolve(r *http.Request) (*Tenant, error) {
	v := r.Header.Get(h.name)
	if v == "" {
		return nil, nil
	}
	return lookupReference(r.Context(), h.reg, h.by, v, "header "+h.name)
}

// lookupReference validates a tenant ID or slug taken from a request and
// looks it up.
func lookupReference(ctx context.Context, reg *Registry, by Field, v, where string) (*Tenant, error) {
	ok := len(v) <= maxHeaderValLen
	if ok && by == ByID {
		ok = validID(v)
	} else if ok {
		ok = validLabel(v)
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w: not a tenant %s", where, ErrMalformed, by)
	}
	return reg.lookup(ctx, by, v)
}

// PathPrefixResolver reads the tenant from the path segment after a
// prefix: /t/acme/invoices. It does not rewrite the path; route the
// prefix with a pattern such as "/t/{tenant}/invoices".
type PathPrefixResolver struct {
	reg    *Registry
	prefix string
	by     Field
}

// PathPrefix returns a resolver for paths starting with prefix ("/t/"
// when empty), looked up by slug or ID.
func PathPrefix(reg *Registry, prefix string, by Field) (*PathPrefixResolver, error) {
	if prefix == "" {
		prefix = "/t/"
	}
	if reg == nil {
		return nil, fieldErr("registry", "must not be nil")
	}
	if !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") {
		return nil, fieldErr("prefix", "must start and end with '/'")
	}
	if by != ByID && by != BySlug {
		return nil, fieldErr("by", "must be ByID or BySlug")
	}
	return &PathPrefixResolver{reg: reg, prefix: prefix, by: by}, nil
}

// Resolve implements Resolver.
func (p *PathPrefixResolver) Resolve(r *http.Request) (*Tenant, error) {
	rest, ok := strings.CutPrefix(r.URL.Path, p.prefix)
	if !ok {
		return nil, nil
	}
	seg, _, _ := strings.Cut(rest, "/")
	return lookupReference(r.Context(), p.reg, p.by, seg, "path")
}
