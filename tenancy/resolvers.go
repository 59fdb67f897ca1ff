package tenancy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

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
