package autotls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
)

// Errors the decision and the handshake fail with. A handshake that is
// refused fails with an error wrapping one of them; the client sees a
// TLS alert.
var (
	// ErrRefused means a name may not have a certificate: it is not a
	// DNS name (empty, an IP literal, too long, not LDH), or
	// Options.Allow said no.
	ErrRefused = errors.New("autotls: name refused")
	// ErrPlatform means a name is under a platform domain, which is
	// served by the platform certificate and never ordered by name.
	ErrPlatform = errors.New("autotls: platform name is not ordered on demand")
	// ErrBackoff means obtaining a certificate for the name failed
	// recently and is not tried again yet.
	ErrBackoff = errors.New("autotls: name in backoff after a failed order")
	// ErrInvalid means an option is unusable; the message names it.
	ErrInvalid = errors.New("autotls: invalid options")
)

// Options configure a Manager. The zero value serves nothing: set Allow
// for tenants' domains, PlatformCert for the platform's own names, or
// both.
type Options struct {
	// Allow answers whether name, a lower-case DNS name in A-label form
	// (punycode), may have a certificate: nil to allow, an error to
	// refuse. It runs before any ACME order, at the first handshake
	// for a name and before each renewal. With package tenancy:
	//
	//	Allow: func(ctx context.Context, name string) error {
	//		_, err := registry.VerifiedDomain(ctx, name)
	//		return err
	//	}
	//
	// Default: nil, which refuses every name.
	Allow func(ctx context.Context, name string) error

	// PlatformDomains are the platform's own domains ("saas.test"):
	// their subdomains are served by PlatformCert, never ordered one by
	// one. Default: none.
	PlatformDomains []string
	// PlatformCert is the wildcard certificate for PlatformDomains
	// (*.saas.test, and saas.test itself if it covers it). It is also
	// served to clients that send no server name. Default: none; then,
	// if ACME.DNS01Solver is set, the Manager obtains and renews
	// *.<domain> for each platform domain by DNS-01 (one wildcard
	// order per domain, never one per subdomain), and otherwise platform
	// names fail their handshake.
	PlatformCert *tls.Certificate

	// Storage keeps certificates, keys and ACME accounts; replicas that
	// share it share certificates (see package sqlstore). Default:
	// certmagic's file storage under the user's data directory.
	Storage certmagic.Storage
	// ACME is the ACME issuer's configuration: CA (the directory URL;
	// default Let's Encrypt's production directory), Email, Agreed (to
	// the CA's terms: required by most CAs), TrustedRoots (roots of the
	// CA's own HTTPS, for a development CA), challenge ports and
	// switches. See certmagic.ACMEIssuer. Its DNS01Solver (a
	// certmagic.DNS01Solver over a libdns provider for the platform's
	// DNS) is used only for the platform wildcards: tenants' names are
	// validated by TLS-ALPN-01 or HTTP-01.
	ACME certmagic.ACMEIssuer

	// MinBackoff is how long a name whose order failed is refused
	// before it is tried again; each failure in a row doubles it, up
	// to MaxBackoff. A success clears it. Defaults: 1 minute and 1 hour.
	MinBackoff, MaxBackoff time.Duration

	// MeterProvider records saaskit.autotls.refusals (names refused at
	// a handshake, by autotls.reason: invalid, platform, backoff,
	// not_allowed) and saaskit.autotls.orders (by autotls.outcome:
	// obtained, failed). Default the global provider.
	MeterProvider metric.MeterProvider

	// Now is the clock of the backoff. Default time.Now.
	Now func() time.Time
	// Logger receives refusals (debug), failed orders (warn) and
	// obtained certificates (info). Default slog.Default().
	Logger *slog.Logger
}

// Manager obtains and renews certificates for tenants' domains at
// their first TLS handshake, and serves them and the platform's
// certificate. It is safe for concurrent use.
type Manager struct {
	opts      Options
	platforms []string // normalised PlatformDomains
	cache     *certmagic.Cache
	cfg       *certmagic.Config // tenants' names, on demand
	issuer    *certmagic.ACMEIssuer
	platform  *certmagic.Config // platform wildcards by DNS-01; nil without

	refusals, orders metric.Int64Counter

	mu     sync.Mutex
	failed map[string]failure // names in backoff
}

// failure is a name's run of failed orders.
type failure struct {
	n     int       // failures in a row
	until time.Time // refused until then
}

// New returns a Manager. Call Stop when done with it.
func New(opts Options) (*Manager, error) {
	if opts.MinBackoff < 0 || opts.MaxBackoff < 0 {
		return nil, fmt.Errorf("%w: MinBackoff and MaxBackoff must not be negative", ErrInvalid)
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = time.Minute
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = max(time.Hour, opts.MinBackoff)
	}
	if opts.MaxBackoff < opts.MinBackoff {
		return nil, fmt.Errorf("%w: MaxBackoff %v is below MinBackoff %v", ErrInvalid, opts.MaxBackoff, opts.MinBackoff)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := &Manager{opts: opts, failed: map[string]failure{}}
	if err := m.newMetrics(); err != nil {
		return nil, err
	}
	for i, d := range opts.PlatformDomains {
		n := strings.ToLower(strings.TrimSuffix(d, "."))
		if checkName(n) != nil {
			return nil, fmt.Errorf("%w: PlatformDomains[%d] %q is not a DNS name", ErrInvalid, i, d)
		}
		m.platforms = append(m.platforms, n)
	}
	if c := opts.PlatformCert; c != nil {
		if len(c.Certificate) == 0 || c.PrivateKey == nil {
			return nil, fmt.Errorf("%w: PlatformCert has no certificate or no private key", ErrInvalid)
		}
		if c.Leaf == nil {
			leaf, err := x509.ParseCertificate(c.Certificate[0])
			if err != nil {
				return nil, fmt.Errorf("%w: PlatformCert: %w", ErrInvalid, err)
			}
			cc := *c
			cc.Leaf = leaf
			m.opts.PlatformCert = &cc
		}
		for _, d := range m.platforms {
			if err := m.opts.PlatformCert.Leaf.VerifyHostname("x." + d); err != nil {
				return nil, fmt.Errorf("%w: PlatformCert does not cover *.%s: %w", ErrInvalid, d, err)
			}
		}
	}

	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(c certmagic.Certificate) (*certmagic.Config, error) {
			if m.platform != nil && slices.ContainsFunc(c.Names, m.isPlatform) {
				return m.platform, nil
			}
			return m.cfg, nil
		},
		Logger: zap.NewNop(),
	})
	acme := opts.ACME
	if acme.Logger == nil {
		acme.Logger = zap.NewNop()
	}
	m.cfg = certmagic.New(m.cache, certmagic.Config{
		Storage:  opts.Storage,
		OnDemand: &certmagic.OnDemandConfig{DecisionFunc: m.decide},
		OnEvent:  m.onEvent,
		Logger:   zap.NewNop(),
	})
	tenants := acme
	tenants.DNS01Solver = nil // tenants' DNS is theirs: HTTP-01 and TLS-ALPN-01
	m.issuer = certmagic.NewACMEIssuer(m.cfg, tenants)
	m.cfg.Issuers = []certmagic.Issuer{onceIssuer{m.issuer}}

	if opts.PlatformCert == nil && acme.DNS01Solver != nil && len(m.platforms) > 0 {
		m.platform = certmagic.New(m.cache, certmagic.Config{Storage: opts.Storage, OnEvent: m.onEvent, Logger: zap.NewNop()})
		m.platform.Issuers = []certmagic.Issuer{certmagic.NewACMEIssuer(m.platform, acme)}
		wildcards := make([]string, len(m.platforms))
		for i, d := range m.platforms {
			wildcards[i] = "*." + d
		}
		// In the background, retried by certmagic until it succeeds;
		// then renewed by its maintenance.
		if err := m.platform.ManageAsync(context.Background(), wildcards); err != nil {
			m.cache.Stop()
			return nil, fmt.Errorf("autotls: manage %v: %w", wildcards, err)
		}
	}
	return m, nil
}

// Stop stops the background maintenance (renewals) of the Manager's
// certificates.
func (m *Manager) Stop() { m.cache.Stop() }

// TLSConfig returns a server configuration that serves the Manager's
// certificates, obtains tenants' on demand, and answers TLS-ALPN-01
// challenges. Use it as http.Server.TLSConfig and serve with
// ListenAndServeTLS("", "") or tls.NewListener.
func (m *Manager) TLSConfig() *tls.Config {
	return &tls.Config{
		GetCertificate: m.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1", acmez.ACMETLS1Protocol},
		MinVersion:     tls.VersionTLS12,
	}
}

// HTTPChallengeHandler wraps next, usually the port-80 handler that
// redirects to HTTPS, so that it answers ACME HTTP-01 challenges.
func (m *Manager) HTTPChallengeHandler(next http.Handler) http.Handler {
	return m.issuer.HTTPChallengeHandler(next)
}

// GetCertificate is the tls.Config callback: the platform certificate
// for platform names and clients that send none, else a tenant's
// certificate from memory, storage or, if Allow allows the name, a new
// ACME order.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if m.platform != nil && m.isPlatform(name) {
		return m.platform.GetCertificate(hello) // the cached wildcard; never an order
	}
	if name == "" || m.isPlatform(name) {
		if m.opts.PlatformCert == nil {
			return nil, fmt.Errorf("%w: %q: no platform certificate", ErrRefused, name)
		}
		return m.opts.PlatformCert, nil
	}
	return m.cfg.GetCertificate(hello)
}

// isPlatform reports whether name is a platform domain or under one.
func (m *Manager) isPlatform(name string) bool {
	for _, p := range m.platforms {
		if name == p || strings.HasSuffix(name, "."+p) {
			return true
		}
	}
	return false
}

// decide is certmagic's on-demand decision: it runs before any order.
func (m *Manager) decide(ctx context.Context, name string) error {
	err := m.Decide(ctx, name)
	if err != nil {
		reason := "not_allowed"
		switch {
		case errors.Is(err, ErrPlatform):
			reason = "platform"
		case errors.Is(err, ErrBackoff):
			reason = "backoff"
		case checkName(name) != nil:
			reason = "invalid"
		}
		m.refusals.Add(ctx, 1, metric.WithAttributes(attribute.String("autotls.reason", reason)))
		m.opts.Logger.DebugContext(ctx, "autotls: certificate refused", "tls.server_name", truncate(name), "error", err)
	}
	return err
}

// newMetrics makes the Manager's instruments.
func (m *Manager) newMetrics() error {
	mp := m.opts.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter("github.com/saaskit/saaskit/tenancy/autotls")
	var err error
	if m.refusals, err = meter.Int64Counter("saaskit.autotls.refusals", metric.WithUnit("{name}"),
		metric.WithDescription("Server names refused a certificate at a handshake, before any order.")); err != nil {
		return fmt.Errorf("autotls metrics: %w", err)
	}
	if m.orders, err = meter.Int64Counter("saaskit.autotls.orders", metric.WithUnit("{order}"),
		metric.WithDescription("Certificate orders, by outcome.")); err != nil {
		return fmt.Errorf("autotls metrics: %w", err)
	}
	return nil
}

// Decide reports whether the Manager would order a certificate for
// name now: nil if name is a DNS name, not a platform name, not in
// backoff, and allowed by Options.Allow.
func (m *Manager) Decide(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if m.isPlatform(name) {
		return fmt.Errorf("%w: %s", ErrPlatform, name)
	}
	m.mu.Lock()
	f, ok := m.failed[name]
	m.mu.Unlock()
	if ok && m.opts.Now().Before(f.until) {
		return fmt.Errorf("%w: %s until %s after %d failures", ErrBackoff, name, f.until.Format(time.RFC3339), f.n)
	}
	if m.opts.Allow == nil {
		return fmt.Errorf("%w: %s: no Allow function", ErrRefused, name)
	}
	if err := m.opts.Allow(ctx, name); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrRefused, name, err)
	}
	return nil
}

// onEvent records failed and obtained orders for the backoff, and logs
// them.
func (m *Manager) onEvent(ctx context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	switch event {
	case "cert_failed":
		err, _ := data["error"].(error)
		m.mu.Lock()
		f := m.failed[name]
		f.n++
		wait := m.opts.MinBackoff << min(f.n-1, 30)
		if wait > m.opts.MaxBackoff || wait <= 0 {
			wait = m.opts.MaxBackoff
		}
		f.until = m.opts.Now().Add(wait)
		m.failed[name] = f
		m.mu.Unlock()
		m.orders.Add(ctx, 1, metric.WithAttributes(attribute.String("autotls.outcome", "failed")))
		m.opts.Logger.WarnContext(ctx, "autotls: certificate order failed", "tls.server_name", name, "error", err,
			"autotls.failures", f.n, "autotls.retry_after", wait)
	case "cert_obtained":
		m.mu.Lock()
		delete(m.failed, name)
		m.mu.Unlock()
		m.orders.Add(ctx, 1, metric.WithAttributes(attribute.String("autotls.outcome", "obtained")))
		m.opts.Logger.InfoContext(ctx, "autotls: certificate obtained", "tls.server_name", name)
	}
	return nil
}

// onceIssuer is the ACME issuer with the failures of orders made during
// a handshake marked final: certmagic then fails the handshake at the
// first failed order instead of retrying for minutes while the client
// waits; the name's backoff decides when it is tried again.
type onceIssuer struct{ *certmagic.ACMEIssuer }

func (i onceIssuer) Issue(ctx context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	c, err := i.ACMEIssuer.Issue(ctx, csr)
	if err != nil && ctx.Value(certmagic.ClientHelloInfoCtxKey) != nil {
		return nil, certmagic.ErrNoRetry{Err: err}
	}
	return c, err
}

// checkName refuses what is not a DNS name a certificate may hold: it
// must be LDH labels of 1 to 63 bytes, 253 bytes in all, at least two
// labels, and not end in a numeric label (an IPv4 literal).
func checkName(name string) error {
	if name == "" || len(name) > 253 {
		return fmt.Errorf("%w: name of %d bytes (want 1 to 253)", ErrRefused, len(name))
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return fmt.Errorf("%w: %q has a single label", ErrRefused, truncate(name))
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("%w: %q has an empty, long or hyphen-edged label", ErrRefused, truncate(name))
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("%w: %q is not a lower-case LDH name", ErrRefused, truncate(name))
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return fmt.Errorf("%w: %q ends in a numeric label (an IP address?)", ErrRefused, truncate(name))
	}
	return nil
}

// truncate shortens a hostile name for logs and errors.
func truncate(name string) string {
	if len(name) > 80 {
		return name[:80] + "..."
	}
	return name
}
