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

// Match is what a Resolver found. The zero Match means the request
// carries nothing the resolver reads, and the next resolver is asked.
type Match struct {
	Tenant *Tenant // shared and read-only
	Key    *APIKey // the API key that authenticated the request, if any
}

// Resolver finds the tenant a request names. It returns the zero Match
// and a nil error when the request carries nothing it reads. Once it
// finds what it reads, its answer is final: an unknown tenant is
// ErrNotFound, an unparsable reference ErrMalformed.
type Resolver interface {
	Resolve(r *http.Request) (Match, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(r *http.Request) (Match, error)

// Resolve calls f.
func (f ResolverFunc) Resolve(r *http.Request) (Match, error) { return f(r) }

// MiddlewareOptions configure Middleware.
type MiddlewareOptions struct {
	// Resolvers are asked in order; the first match wins.
	Resolvers []Resolver
	// Optional lets requests that no resolver matches through without a
	// tenant. Default false: they get 400.
	Optional bool
	// Logger records store failures. Default slog.Default().
	Logger *slog.Logger
}

// Middleware resolves the tenant of each request and puts it in the
// request context (see FromContext, KeyFromContext), and records it as
// tenant.id on the request's span when one is recording. Failures are
// answered with application/problem+json: malformed reference 400,
// bad API key 401, suspended tenant 403, unknown or deleted tenant 404,
// store failure 500.
func Middleware(opts MiddlewareOptions) func(http.Handler) http.Handler {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	var resolvers []Resolver
	for _, r := range opts.Resolvers {
		if r != nil {
			resolvers = append(resolvers, r)
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m, err := resolve(resolvers, r)
			switch {
			case err != nil:
				writeError(w, r, logger, err)
				return
			case m.Tenant == nil && opts.Optional:
				next.ServeHTTP(w, r)
				return
			case m.Tenant == nil:
				problem.Write(w, problem.Details{Status: http.StatusBadRequest, Detail: "the request names no tenant"})
				return
			case m.Tenant.Status == StatusDeleted:
				writeError(w, r, logger, fmt.Errorf("tenant %q: %w", m.Tenant.Slug, ErrNotFound))
				return
			case m.Tenant.Status == StatusSuspended:
				writeError(w, r, logger, fmt.Errorf("tenant %q: %w", m.Tenant.Slug, ErrSuspended))
				return
			}
			ctx := WithTenant(r.Context(), m.Tenant)
			if m.Key != nil {
				ctx = WithKey(ctx, m.Key)
			}
			// The request's span (otelhttp's, if any) records whose it is.
			if span := trace.SpanFromContext(ctx); span.IsRecording() {
				span.SetAttributes(attribute.String(AttrKey, m.Tenant.ID))
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// resolve runs the resolvers in order and returns the first match.
func resolve(resolvers []Resolver, r *http.Request) (Match, error) {
	for _, res := range resolvers {
		m, err := res.Resolve(r)
		if err != nil || m.Tenant != nil {
			return m, err
		}
	}
	return Match{}, nil
}

// HTTPStatus maps a resolution error to its HTTP status.
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrSuspended):
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
func (s *SubdomainResolver) Resolve(r *http.Request) (Match, error) {
	if e := s.hosts.entry(r.Host); e != nil {
		return Match{Tenant: e.value}, nil
	}
	gen := s.hosts.generation()
	m, expires, err := s.resolve(r)
	if err == nil && m.Tenant != nil {
		s.hosts.putUntil(r.Host, m.Tenant, nil, gen, expires)
	}
	return m, err
}

func (s *SubdomainResolver) resolve(r *http.Request) (Match, int64, error) {
	name, err := hostname(r.Host)
	if err != nil || name == "" {
		return Match{}, 0, err
	}
	for _, base := range s.bases {
		n := len(name) - len(base) - 1
		if n <= 0 || name[n] != '.' || name[n+1:] != base {
			continue
		}
		label := name[:n]
		if slices.Contains(s.reserved, label) {
			return Match{}, 0, nil
		}
		if !validLabel(label) {
			return Match{}, 0, fmt.Errorf("host %q: %w: subdomain is not a tenant slug", name, ErrMalformed)
		}
		t, expires, err := s.reg.lookupUntil(r.Context(), BySlug, label)
		return Match{Tenant: t}, expires, err
	}
	return Match{}, 0, nil
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
func (c *CustomDomainResolver) Resolve(r *http.Request) (Match, error) {
	if e := c.hosts.entry(r.Host); e != nil {
		return Match{Tenant: e.value}, nil
	}
	name, err := hostname(r.Host)
	if err != nil || name == "" {
		return Match{}, err
	}
	for _, p := range c.reg.opts.PlatformDomains {
		if name == p || strings.HasSuffix(name, "."+p) {
			return Match{}, nil // the platform's own names are never custom domains
		}
	}
	gen := c.hosts.generation()
	t, expires, err := c.reg.lookupUntil(r.Context(), ByDomain, name)
	switch {
	case errors.Is(err, ErrNotFound):
		return Match{}, nil
	case err == nil:
		c.hosts.putUntil(r.Host, t, nil, gen, expires)
	}
	return Match{Tenant: t}, err
}

// HeaderResolver reads a tenant ID or slug from a request header.
type HeaderResolver struct {
	reg  *Registry
	name string
	by   Field
}

// Header returns a resolver reading the tenant from header name
// (DefaultHeader when empty), looked up by ID or slug. Only use it where
// the header comes from a trusted party or is checked later: a client
// can send any value.
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
func (h *HeaderResolver) Resolve(r *http.Request) (Match, error) {
	v := r.Header.Get(h.name)
	if v == "" {
		return Match{}, nil
	}
	return lookupReference(r.Context(), h.reg, h.by, v, "header "+h.name)
}

// lookupReference validates a tenant ID or slug taken from a request and
// looks it up.
func lookupReference(ctx context.Context, reg *Registry, by Field, v, where string) (Match, error) {
	ok := len(v) <= maxHeaderValLen
	if ok && by == ByID {
		ok = validID(v)
	} else if ok {
		ok = validLabel(v)
	}
	if !ok {
		return Match{}, fmt.Errorf("%s: %w: not a tenant %s", where, ErrMalformed, by)
	}
	t, err := reg.lookup(ctx, by, v)
	return Match{Tenant: t}, err
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
func (p *PathPrefixResolver) Resolve(r *http.Request) (Match, error) {
	rest, ok := strings.CutPrefix(r.URL.Path, p.prefix)
	if !ok {
		return Match{}, nil
	}
	seg, _, _ := strings.Cut(rest, "/")
	return lookupReference(r.Context(), p.reg, p.by, seg, "path")
}

// APIKeyResolver authenticates a tenant API key sent as
// "Authorization: Bearer <token>" or "X-API-Key: <token>".
type APIKeyResolver struct{ reg *Registry }

// APIKeyAuth returns a resolver for tenant API keys.
func APIKeyAuth(reg *Registry) *APIKeyResolver { return &APIKeyResolver{reg: reg} }

// Resolve implements Resolver.
func (a *APIKeyResolver) Resolve(r *http.Request) (Match, error) {
	tok := r.Header.Get("X-API-Key")
	if tok == "" {
		auth := r.Header.Get("Authorization")
		scheme, rest, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.Contains(rest, "_") {
			// Not ours: other bearer tokens (JWTs) are left to claims.
			return Match{}, nil
		}
		tok = strings.TrimSpace(rest)
	}
	t, k, err := a.reg.Authenticate(r.Context(), tok)
	if err != nil {
		return Match{}, err
	}
	return Match{Tenant: t, Key: k}, nil
}

// ClaimsResolver reads the tenant from claims that the application's own
// authentication middleware has already verified and put in the context.
// saaskit does not verify tokens itself.
type ClaimsResolver struct {
	reg   *Registry
	claim func(ctx context.Context) (string, bool)
	by    Field
}

// Claims returns a resolver calling claim to get the tenant ID or slug
// from the verified identity in the request context.
func Claims(reg *Registry, by Field, claim func(ctx context.Context) (string, bool)) (*ClaimsResolver, error) {
	if reg == nil || claim == nil {
		return nil, fieldErr("claim", "registry and claim function must not be nil")
	}
	if by != ByID && by != BySlug {
		return nil, fieldErr("by", "must be ByID or BySlug")
	}
	return &ClaimsResolver{reg: reg, claim: claim, by: by}, nil
}

// Resolve implements Resolver.
func (c *ClaimsResolver) Resolve(r *http.Request) (Match, error) {
	v, ok := c.claim(r.Context())
	if !ok {
		return Match{}, nil
	}
	return lookupReference(r.Context(), c.reg, c.by, v, "claim")
}
