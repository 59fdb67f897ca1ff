// Command saas is the saaskit demo service: a multi-tenant HTTP API on
// embedded SQLite that wires the saaskit packages together.
//
//	go run ./examples/saas
//
// It seeds two tenants, acme and globex, on first start and prints their
// demo API keys once; set ACME and GLOBEX to them (or to keys the
// operator issues with POST /admin/tenants/{tenant}/keys). A host or the
// X-Tenant-ID header only names a tenant, for its public pages; its data
// needs its key, and another tenant's key is refused (403). Try:
//
//	curl http://acme.localhost:8080/api/branding
//	curl -H 'X-Tenant-ID: globex' http://localhost:8080/api/branding
//	curl -H "Authorization: Bearer $GLOBEX" http://localhost:8080/api/tenant
//	open http://globex.localhost:8080/
//	curl -H "Authorization: Bearer $ACME" --json '{"email_address":"ada@example.com","first_name":"Ada","last_name":"Lovelace"}' http://localhost:8080/api/users
//	curl -H "Authorization: Bearer $ACME" 'http://localhost:8080/api/users?email=ada@example.com'
//	curl -X DELETE -H "Authorization: Bearer $ACME" http://localhost:8080/api/users/<id>
//
// Webhooks: register an endpoint, then create a user; the user.created
// event is committed with the user (outbox) and delivered, signed:
//
//	curl -H "Authorization: Bearer $ACME" --json '{"url":"http://localhost:8080/webhooks/inbound/acme"}' http://localhost:8080/api/webhooks/endpoints
//	curl -H "Authorization: Bearer $ACME" http://localhost:8080/api/webhooks/inbound
//	curl -H "Authorization: Bearer $ACME" 'http://localhost:8080/api/webhooks/deliveries?state=dead'
//
// Feature flags: usage-insights is rolled out to the internal ring
// (acme) and 0% of other tenants; the operator (token printed at start)
// widens the rollout or kills it, and every change is audited:
//
//	curl -H "Authorization: Bearer $ACME" http://localhost:8080/api/insights
//	curl -H "Authorization: Bearer $GLOBEX" http://localhost:8080/api/features
//	curl -X POST -H 'Authorization: Bearer <operator token>' --json '{"tenant":"globex"}' http://localhost:8080/admin/rings/internal/tenants
//	curl -X PUT -H 'Authorization: Bearer <operator token>' --json '{"percent":50}' http://localhost:8080/admin/flags/usage-insights/percent
//	curl -X POST -H 'Authorization: Bearer <operator token>' http://localhost:8080/admin/flags/usage-insights/kill
//	curl -H 'Authorization: Bearer <operator token>' http://localhost:8080/admin/flags/usage-insights/audit
//
// Plans: a tenant on free may make 10,000 calls to the tenant API a
// month (UTC), one on pro 1,000,000 (a tenant's "limit.api_calls"
// setting overrides its plan's); past them it gets 429 until the next
// month. The calls are counted in the database, so replicas share the
// counts, and flags can target tenants by this month's calls
// (tenantUsage.api_calls). A tenant reads its own usage and limits:
//
//	curl -H "Authorization: Bearer $ACME" http://localhost:8080/api/usage
//
// The API is versioned by date (2024-01-01, 2024-06-01, 2025-01-01): send
// API-Version, or let the tenant be pinned to the version current at its
// first request; GET /api/changelog lists the changes, GET
// /api/migration-guide what a client changes at each step, and GET
// /openapi/<version>.json is each version's OpenAPI document:
//
//	curl -H "Authorization: Bearer $ACME" -H 'API-Version: 2024-01-01' --json '{"email":"grace@example.com","name":"Grace Hopper"}' http://localhost:8080/api/users
//	curl http://localhost:8080/openapi/2024-01-01.json
//
// Users' emails are stored encrypted under a key per user (package
// crypto), found by a blind index, and erased by shredding that key. The
// root key is a keyset file in the data directory protected by
// SAASKIT_ROOT_PASSPHRASE (the demo invents and keeps one when unset).
//
// Data-subject requests: an access request's export (JSON or ZIP), and
// an erasure that shreds the user's keys and erases their webhook
// messages, with GDPR or CCPA deadlines:
//
//	curl -H "Authorization: Bearer $ACME" --json '{"kind":"access"}' http://localhost:8080/api/users/<id>/privacy-requests
//	curl -H "Authorization: Bearer $ACME" 'http://localhost:8080/api/privacy-requests/<request id>/export?format=zip' -o export.zip
//	curl -H "Authorization: Bearer $ACME" --json '{"kind":"erasure"}' http://localhost:8080/api/users/<id>/privacy-requests
//	curl -H "Authorization: Bearer $ACME" http://localhost:8080/api/privacy-audit   # the hash-chained trail, verified
//
// Consent to product updates is recorded against the notice text shown,
// and survives the user's erasure under a pseudonym:
//
//	curl -H "Authorization: Bearer $ACME" http://localhost:8080/api/consent/notice
//	curl -H "Authorization: Bearer $ACME" --json '{"granted":true,"notice_version":1,"notice_hash":"<sha256>"}' http://localhost:8080/api/users/<id>/consent
//
// Backups: the database is backed up hourly, encrypted, to
// <data>/backups, and a restore is drilled daily (and at start); the
// operator sees age, RPO, 3-2-1 status and the last drill's time:
//
//	curl -H 'Authorization: Bearer <operator token>' http://localhost:8080/admin/backups
//
// Webhook portal: each tenant's users manage its webhooks in pages at
// /portal/webhooks/ (package webhookportal), in its branding. The
// tenant's key mints a ten-minute link that opens a browser session
// there, so the key stays out of the browser:
//
//	curl -X POST -H "Authorization: Bearer $ACME" http://localhost:8080/api/webhooks/portal-link
//
// Operator console: open http://localhost:8080/console/ and log in with
// the operator token. It lists the tenants with the state of their audit
// trails; shows each tenant's webhook endpoints and deliveries, where a
// disabled endpoint can be repointed and a dead letter retried; kills,
// revives and rolls out flags; starts erasures and follows data-subject
// requests to their due dates; lists each tenant's custom domains with
// their state and the TXT record that proves them, adds them and checks
// them now; and shows the backups. Every change it makes is audited
// under the actor console:operator. To see a dead letter, point an
// endpoint at POST /webhooks/gone, which answers 410 Gone:
//
//	curl -H "Authorization: Bearer $ACME" --json '{"url":"http://localhost:8080/webhooks/gone"}' http://localhost:8080/api/webhooks/endpoints
//
// Operations: GET /livez (the process is up) and GET /readyz (database,
// keyring and webhook backlog, and with -nats the NATS connection and
// the events outbox's backlog, in application/health+json). Traces,
// metrics and logs follow the OTEL_* variables, e.g. OTEL_TRACES_EXPORTER=
// console, or OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 for a
// collector; logs on stdout carry trace_id and tenant.id.
//
// Custom domains over HTTPS, for development: -tls starts Pebble, Let's
// Encrypt's test CA, inside the process and serves HTTPS on -tls-addr
// (SAASKIT_TLS_ADDR, default localhost:8443) with certificates ordered
// from it at the first handshake of a verified domain (package autotls;
// kept in the database, private keys sealed by the keyring). Pebble's
// root goes to <data>/pebble-root.pem. Domain proofs are read from
// <data>/dev-dns.txt instead of the DNS: the demo publishes acme's
// app.customer.test there, so it is verified at start, while globex's
// shop.globex.test stays pending until its record is added and checked
// on the console's Domains page. With or without -tls, domains due a
// re-check are checked every minute (each once an hour), and each turn
// (domain.verified, domain.failing, domain.recovered, domain.revoked)
// goes to the tenant's webhooks and the events outbox. Never use -tls
// in production:
//
//	go run ./examples/saas -tls
//	curl --cacert data/pebble-root.pem --resolve app.customer.test:8443:127.0.0.1 https://app.customer.test:8443/
//
// On PostgreSQL: -db postgres://... (or SAASKIT_DATABASE_URL); keys
// and backups stay in the data directory, and backups use pg_dump.
//
// Flags (and environment variables): -addr (SAASKIT_ADDR, default
// localhost:8080), -data (SAASKIT_DATA_DIR, default ./data), -domain
// (SAASKIT_BASE_DOMAIN, default localhost), -trusted-proxies
// (SAASKIT_TRUSTED_PROXIES: CIDRs of reverse proxies whose
// X-Forwarded-Proto and X-Forwarded-For the console believes, for its
// Secure cookie and its per-client limit on failed log-ins; default
// none), -redis (SAASKIT_REDIS_URL, e.g. redis://localhost:6379/0: keep
// rate limits and webhook replay protection in Redis instead of the
// database), -nats (SAASKIT_NATS_URL, e.g. nats://127.0.0.1:4222: relay
// user events to NATS JetStream, where examples/billing consumes them).
//
// Events for other products: user.created is written to an outbox
// (package events) in the transaction that creates the user, and
// user.erased in the one that records the erasure's webhook message
// once the erasure is done; with -nats a relay publishes each once to the
// JetStream stream EVENTS. Without it they stay in the outbox. An
// erasure deletes the user's relayed events from the outbox and purges
// them from the stream.
//
// Replicas: run several processes on one PostgreSQL database (and, with
// -redis, one Redis) and they act as one service: tenants, API keys,
// flags, console sessions, legal holds, the breach register, rate
// limits, webhook queues and replay protection are shared. Per process:
// the caches in front of tenants and flags (refreshed within a second),
// and the demo's log of received webhooks (GET /api/webhooks/inbound).
package main

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/observability"
	"github.com/saaskit/saaskit/observability/health"
	"github.com/saaskit/saaskit/observability/otelsetup"
	"github.com/saaskit/saaskit/problem"
	"github.com/saaskit/saaskit/sqlopen"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/sqlstore"
	"github.com/saaskit/saaskit/versioning"
	webhookstore "github.com/saaskit/saaskit/webhook/sqlstore"
	"github.com/saaskit/saaskit/webhook/webhookapi"
)

//go:embed templates
var templateFiles embed.FS

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "saas:", err)
		os.Exit(1)
	}
}

type config struct {
	addr, dataDir, domain, db, redis string
	// nats is the NATS server the events relay publishes to; without
	// one, events stay in the outbox.
	nats string
	// trustedProxies are the reverse proxies whose X-Forwarded-Proto
	// and X-Forwarded-For the console believes.
	trustedProxies []netip.Prefix
	// tls is the development HTTPS mode (devtls.go), served on tlsAddr.
	tls     bool
	tlsAddr string
}

func parseFlags(args []string) (config, error) {
	fsFlags := flag.NewFlagSet("saas", flag.ContinueOnError)
	var c config
	fsFlags.StringVar(&c.addr, "addr", envOr("SAASKIT_ADDR", "localhost:8080"), "listen address")
	fsFlags.StringVar(&c.dataDir, "data", envOr("SAASKIT_DATA_DIR", "data"), "directory of the SQLite database, keys and backups")
	fsFlags.StringVar(&c.db, "db", envOr("SAASKIT_DATABASE_URL", ""), "a postgres:// URL to use PostgreSQL instead of <data>/saas.db")
	fsFlags.StringVar(&c.redis, "redis", envOr("SAASKIT_REDIS_URL", ""), "a redis:// URL to keep rate limits and webhook replay protection in Redis instead of the database")
	fsFlags.StringVar(&c.nats, "nats", envOr("SAASKIT_NATS_URL", ""), "a nats:// URL of NATS with JetStream to publish user events to other products (default: they stay in the outbox)")
	fsFlags.StringVar(&c.domain, "domain", envOr("SAASKIT_BASE_DOMAIN", "localhost"), "base domain whose subdomains name tenants")
	fsFlags.BoolVar(&c.tls, "tls", envOr("SAASKIT_DEV_TLS", "") != "",
		"development only: HTTPS for custom domains with certificates from an in-process Pebble, and domain proofs read from <data>/"+devZoneFile)
	fsFlags.StringVar(&c.tlsAddr, "tls-addr", envOr("SAASKIT_TLS_ADDR", "localhost:8443"), "HTTPS listen address of -tls")
	proxies := fsFlags.String("trusted-proxies", envOr("SAASKIT_TRUSTED_PROXIES", ""),
		"comma-separated CIDRs of reverse proxies whose X-Forwarded-Proto and X-Forwarded-For are believed (default: none)")
	if err := fsFlags.Parse(args); err != nil {
		return c, err
	}
	for p := range strings.SplitSeq(*proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return c, fmt.Errorf("-trusted-proxies: %q is not a CIDR: %w", p, err)
		}
		c.trustedProxies = append(c.trustedProxies, prefix)
	}
	return c, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	// Traces, metrics and logs go where the OTEL_* variables say (OTLP,
	// console), or nowhere; logs on stdout carry trace and tenant ids.
	shutdownTelemetry, err := otelsetup.Setup(ctx, otelsetup.Options{
		ServiceName: "saaskit-demo", ServiceVersion: "dev", Environment: envOr("SAASKIT_ENV", "development"),
		Writer: stdout, Sampling: otelsetup.Sampling{Ratio: 0.1},
	})
	if err != nil {
		return err
	}
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdownTelemetry(shutdownCtx)
	}()
	logger := slog.New(observability.LogHandler(slog.NewJSONHandler(stdout, nil), observability.LogOptions{}))

	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	dsn := cfg.db
	if dsn == "" {
		// The continuous backup (replicate) checkpoints the WAL itself,
		// after shipping it: connections that checkpointed on their own
		// could move commits out of the WAL before they were shipped.
		dsn = "sqlite:" + filepath.Join(cfg.dataDir, "saas.db") + "?_pragma=wal_autocheckpoint(0)"
	}
	// afterStore runs, last first, once the database is closed: the
	// continuous backup must outlive every connection of the
	// application, and the backup keys must outlive it.
	var afterStore []func()
	defer func() {
		for _, f := range slices.Backward(afterStore) {
			f()
		}
	}()
	// One database for every store: each store creates its own tables.
	db, err := sqlopen.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := sqlstore.New(db)
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	regOpts := tenancy.Options{Regions: []string{"eu-west", "us-east"}, PlatformDomains: []string{cfg.domain}}
	var zone *devZone
	if cfg.tls {
		// Development only: domain proofs are looked up in a file of the
		// data directory, not the DNS, so that app.customer.test can be
		// verified on a laptop. Without -tls the real DNS decides.
		zone = &devZone{path: filepath.Join(cfg.dataDir, devZoneFile)}
		regOpts.Domains.Resolver = zone
	}
	// Domain events (verified, failing, recovered, revoked) go to the
	// tenant's webhooks and the events outbox, once those are open.
	domainEvents := &domainEvents{logger: logger}
	regOpts.Domains.OnEvent = domainEvents.send
	reg := tenancy.NewRegistry(store, store, regOpts)
	defer reg.Close()
	if err := seed(ctx, reg, stdout); err != nil {
		return err
	}

	keys, root, err := openKeyring(ctx, store.DB(), cfg.dataDir)
	if err != nil {
		return err
	}
	backupKeys, closeBackupKeys, err := openBackupKeyring(ctx, root, cfg.dataDir)
	if err != nil {
		return err
	}
	afterStore = append(afterStore, func() { _ = closeBackupKeys() })
	hookStore, err := webhookstore.New(store.DB())
	if err != nil {
		return err
	}
	api, err := newAPI(reg)
	if err != nil {
		return err
	}
	shared, closeShared, err := openShared(cfg.redis, store, hookStore)
	if err != nil {
		return err
	}
	defer func() { _ = closeShared() }()
	hooks, err := newHooks(ctx, hookStore, shared, keys, api, logger)
	if err != nil {
		return err
	}
	if hooks.bus, err = openBus(ctx, store.DB(), cfg.nats, logger); err != nil {
		return err
	}
	defer hooks.bus.close()
	hooks.db = store.DB()
	domainEvents.hooks = hooks
	if zone != nil {
		if err := seedDevDomains(ctx, reg, zone); err != nil {
			return err
		}
	}
	featCtx, stopFeatures := context.WithCancel(context.Background())
	feats, featuresDone, err := newFeatures(featCtx, store.DB(), stdout, logger)
	if err != nil {
		stopFeatures()
		return err
	}
	defer func() { stopFeatures(); <-featuresDone }()
	ofrepAPI, ofrepDone, err := feats.ofrepHandler(featCtx)
	if err != nil {
		return err
	}
	defer func() { stopFeatures(); <-ofrepDone }()
	app, err := newApp(reg, store, shared.limits, keys, hooks, cfg.domain, logger)
	if err != nil {
		return err
	}
	app.features, app.api, app.trustedProxies, app.ofrep = feats, api, cfg.trustedProxies, ofrepAPI
	if zone != nil {
		app.devZone = zone.path
	}
	// Consent records keep a pseudonym of erased users, keyed by a secret
	// of the demo's data directory.
	pseudonymKey, err := demoPassphrase(filepath.Join(cfg.dataDir, "pseudonym.key"))
	if err != nil {
		return err
	}
	if app.consents, err = newConsents(ctx, store.DB(), pseudonymKey, []string{"acme", "globex"}, logger); err != nil {
		return err
	}
	if app.privacy, err = newPrivacy(ctx, app.users, keys, hooks, app.consents.ledger, pseudonymKey, cfg.dataDir, logger); err != nil {
		return err
	}
	app.users.erasable = app.privacy.engine.CheckErasable
	if app.ready, err = readiness(store.DB(), keys, hooks); err != nil {
		return err
	}
	if app.backups, err = newBackups(store.DB(), cfg.db, backupKeys, cfg.dataDir, logger); err != nil {
		return err
	}
	if cfg.db == "" {
		stopReplication, err := app.backups.replicate(ctx, filepath.Join(cfg.dataDir, "saas.db"), logger)
		if err != nil {
			return err
		}
		afterStore = append(afterStore, stopReplication)
	}
	backupCtx, stopBackups := context.WithCancel(context.Background())
	backupsDone := make(chan struct{})
	go func() { defer close(backupsDone); app.backups.run(backupCtx) }()
	defer func() { stopBackups(); <-backupsDone }()
	// Custom domains are checked again on a schedule, not only when the
	// console's Check now is pressed: a domain whose proof has gone
	// turns failing, then is revoked.
	domainsCtx, stopDomainChecks := context.WithCancel(context.Background())
	domainChecksDone := make(chan struct{})
	go func() { defer close(domainChecksDone); checkDomains(domainsCtx, reg, logger) }()
	defer func() { stopDomainChecks(); <-domainChecksDone }()
	if app.console, err = newConsole(ctx, app); err != nil {
		return err
	}
	if app.portal, err = newPortal(app, cfg.domain, cfg.dataDir); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	serveErr := make(chan error, 2) // plain HTTP's, and HTTPS's with -tls
	srv := &http.Server{
		Handler:           observability.Middleware(observability.HTTPOptions{Filter: notProbe})(app.routes()),
		ReadHeaderTimeout: 5 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	port := ln.Addr().(*net.TCPAddr).Port
	var tlsSrv *http.Server
	if cfg.tls {
		dev, err := startDevTLS(ctx, cfg.tlsAddr, ln, store.DB(), keys, reg, cfg.dataDir, logger)
		if err != nil {
			_ = ln.Close()
			return err
		}
		defer dev.close()
		tlsSrv = &http.Server{Handler: srv.Handler, TLSConfig: dev.m.TLSConfig(),
			ReadHeaderTimeout: srv.ReadHeaderTimeout, MaxHeaderBytes: srv.MaxHeaderBytes, ErrorLog: srv.ErrorLog}
		// Plain HTTP answers Pebble's HTTP-01 challenges too.
		srv.Handler = dev.m.HTTPChallengeHandler(srv.Handler)
		logger.Warn("development only: certificates from an in-process Pebble, domain proofs from a file instead of the DNS",
			slog.String("dns.zone_file", zone.path), slog.String("tls.root_file", dev.root))
		fmt.Fprintf(stdout, "dev TLS: https://app.customer.test:%d/ with certificates from an in-process Pebble; trust %s:\n"+
			"  curl --cacert %s --resolve app.customer.test:%d:127.0.0.1 https://app.customer.test:%d/\n",
			dev.port(), dev.root, dev.root, dev.port(), dev.port())
		go func() { serveErr <- tlsSrv.ServeTLS(dev.ln, "", "") }()
	}
	logger.Warn("demo only: the X-Tenant-ID header names a tenant for public pages; tenant data needs that tenant's API key",
		slog.String("header", tenancy.DefaultHeader))
	logger.Warn("demo only: webhook endpoints may be on loopback, so the demo can call its own receiver; a real service refuses private addresses",
		slog.Any("allowed", demoLoopback))
	fmt.Fprintf(stdout, "saaskit demo listening on http://%s:%d (try http://acme.%s:%d/api/branding)\n", cfg.domain, port, cfg.domain, port)

	go func() { serveErr <- srv.Serve(ln) }()
	// Deliveries start once the listener accepts: the demo's endpoints
	// include its own receiver, which must be there for the first ones.
	workerDone := make(chan struct{})
	workerCtx, stopWorker := context.WithCancel(context.Background())
	go func() { defer close(workerDone); hooks.run(workerCtx) }()
	defer func() { stopWorker(); <-workerDone }()
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); hooks.bus.run(workerCtx, logger) }()
	defer func() { stopWorker(); <-relayDone }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	servers := []*http.Server{srv}
	if tlsSrv != nil {
		servers = append(servers, tlsSrv)
	}
	for _, s := range servers {
		if err := s.Shutdown(shutdownCtx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
	}
	for range servers {
		if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}

// seed creates the demo tenants on first start and prints their API keys,
// which exist nowhere else, once.
func seed(ctx context.Context, reg *tenancy.Registry, stdout io.Writer) error {
	demo := []*tenancy.Tenant{
		{ID: "acme", Slug: "acme", Name: "Acme Corporation", Plan: "pro", Region: "eu-west",
			Branding: tenancy.Branding{Name: "Acme Cloud", LogoURL: "https://acme.example/logo.svg",
				PrimaryColor: "#d9480f", SecondaryColor: "#212529", Font: "Georgia, serif", SupportEmail: "help@acme.example"}},
		{ID: "globex", Slug: "globex", Name: "Globex", Plan: "free", Region: "us-east",
			Branding: tenancy.Branding{Name: "Globex Portal", PrimaryColor: "#1864ab", Font: "Helvetica, sans-serif",
				SupportEmail: "support@globex.example", CSSVars: map[string]string{"--radius": "0"}}},
	}
	for _, t := range demo {
		if _, err := reg.Get(ctx, t.ID); err == nil {
			continue
		} else if !errors.Is(err, tenancy.ErrNotFound) {
			return err
		}
		if _, err := reg.Create(ctx, t); err != nil {
			return fmt.Errorf("seed %s: %w", t.ID, err)
		}
		token, _, err := reg.CreateKey(ctx, t.ID, tenancy.KeyOptions{Name: "demo", Scopes: []string{"tenant:read", "keys:write"}})
		if err != nil {
			return fmt.Errorf("seed %s key: %w", t.ID, err)
		}
		fmt.Fprintf(stdout, "seeded tenant %s; its demo API key (shown once): %s\n", t.ID, token)
	}
	return nil
}

type app struct {
	// trustedProxies: see config.
	trustedProxies []netip.Prefix
	reg            *tenancy.Registry
	store          *sqlstore.Store
	logger         *slog.Logger
	resolve        func(http.Handler) http.Handler
	limit          *tenancy.RateLimiter
	meter          *tenancy.Metering
	meterAPICalls  func(http.Handler) http.Handler // counts a call to the tenant API
	templates      *tenancy.Templates
	users          *users
	hooks          *hooks
	features       *features
	ofrep          http.Handler // the OFREP endpoints of the frontend flags (ofrep.go)
	api            *versioning.API
	ready          *health.Checker
	privacy        *privacy
	consents       *consents
	backups        *backups
	console        *console
	portal         *portal
	// devZone is the file that stands for the DNS in -tls mode; "" for
	// the real DNS.
	devZone string
}

// plans are the demo's plan tiers: how many API calls (requests to the
// tenant API) a tenant may make a month. A tenant's "limit.api_calls"
// setting overrides its plan's.
var plans = map[string]tenancy.Plan{
	"free": {Limits: map[string]int64{apiCalls: 10_000}},
	"pro":  {Limits: map[string]int64{apiCalls: 1_000_000}},
}

// apiCalls is the metered name of a request to the tenant API.
const apiCalls = "api_calls"

// metered are the names the demo counts per tenant and period, in the
// order GET /api/usage lists them.
var metered = []string{apiCalls}

func newApp(reg *tenancy.Registry, store *sqlstore.Store, limits tenancy.LimitStore, keys *skcrypto.Keyring, hooks *hooks, domain string, logger *slog.Logger) (*app, error) {
	sub, err := tenancy.Subdomain(reg, []string{domain}, "www", "api")
	if err != nil {
		return nil, err
	}
	hdr, err := tenancy.Header(reg, "", tenancy.ByID)
	if err != nil {
		return nil, err
	}
	limit, err := tenancy.NewRateLimiter(tenancy.RateLimitOptions{
		Plans:   map[string]tenancy.Limit{"free": {Rate: 5, Burst: 10}, "pro": {Rate: 50, Burst: 100}},
		Default: tenancy.Limit{Rate: 5, Burst: 10},
		Shared:  limits,
		Logger:  logger,
	})
	if err != nil {
		return nil, err
	}
	ent, err := tenancy.NewEntitlements(plans)
	if err != nil {
		return nil, err
	}
	// The API calls of each tenant are counted per calendar month in the
	// database, so replicas hold each plan's limit together.
	meter, err := tenancy.NewMetering(store, ent, tenancy.MeteringOptions{Logger: logger})
	if err != nil {
		return nil, err
	}
	meterAPICalls, err := meter.Middleware(apiCalls)
	if err != nil {
		return nil, err
	}
	defaults, _ := fs.Sub(templateFiles, "templates")
	return &app{
		reg: reg, store: store, logger: logger, limit: limit, meter: meter, meterAPICalls: meterAPICalls,
		users: &users{db: store.DB(), keys: keys, hooks: hooks, logger: logger},
		hooks: hooks,
		resolve: tenancy.Middleware(tenancy.MiddlewareOptions{
			// Hosts and the X-Tenant-ID header (a demo convenience) only
			// name a tenant, which is then served unauthenticated: public
			// pages only. An API key decides whose request it is, and
			// one of another tenant than the name is refused.
			Identify:     []tenancy.Resolver{sub, tenancy.CustomDomain(reg), hdr},
			Authenticate: []tenancy.Authenticator{tenancy.APIKeyAuth(reg)},
			Logger:       logger,
		}),
		// Overrides live beside the defaults, in a directory per tenant ID.
		templates: tenancy.NewTemplates(defaults, defaults),
	}, nil
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /livez", health.Liveness())
	mux.Handle("GET /readyz", a.ready.Handler())
	// public serves a page of the tenant the request names, to anyone:
	// only what a tenant shows the world (its home page, branding and
	// consent notice). Every route that reads or writes tenant data is
	// authed: it needs an API key of that tenant (and scopes, if given).
	public := func(h http.HandlerFunc) http.Handler { return a.resolve(a.limit.Middleware(a.api.Middleware(h))) }
	authed := a.authed
	mux.Handle("GET /{$}", public(a.home))
	mux.Handle("GET /api/branding", public(a.branding))
	mux.Handle("GET /api/consent/notice", public(a.consents.notice))
	mux.HandleFunc("GET /api/changelog", a.changelog)
	// Each version's OpenAPI document (GET /openapi/2024-01-01.json), and
	// what a client changes to move from one version to the next.
	mux.Handle("GET /openapi/", a.api.OpenAPIHandler())
	mux.HandleFunc("GET /api/migration-guide", a.migrationGuide)
	for _, r := range a.tenantAPI() {
		mux.Handle(r.pattern, authed(r.handler, r.scopes...))
	}
	// The webhook management API (package webhookapi): each tenant's own
	// endpoints, messages, deliveries and attempts, behind the same keys.
	// Its OpenAPI document is GET /api/webhooks/manage/openapi.json.
	manage := webhookapi.New(a.hooks.d, webhookapi.Options{})
	mux.Handle("/api/webhooks/manage/", authed(http.StripPrefix("/api/webhooks/manage", manage).ServeHTTP))
	a.ofrepRoutes(mux) // OpenFeature remote evaluation of the frontend flag set, for browsers
	mux.HandleFunc("POST /admin/flags/{key}/kill", a.features.setState(flags.Disabled))
	mux.HandleFunc("POST /admin/flags/{key}/revive", a.features.setState(flags.Enabled))
	mux.HandleFunc("PUT /admin/flags/{key}/percent", a.features.admin(a.features.setPercent))
	mux.HandleFunc("POST /admin/rings/{key}/tenants", a.features.admin(a.features.addToRing))
	mux.HandleFunc("GET /admin/flags/{key}/audit", a.features.admin(a.features.audit))
	mux.HandleFunc("GET /admin/backups", a.features.admin(a.backups.status))
	mux.HandleFunc("POST /admin/tenants/{tenant}/keys", a.features.admin(a.issueKey))
	mux.HandleFunc("GET /admin/tenants/{tenant}/holds", a.features.admin(a.holds))
	mux.HandleFunc("PUT /admin/tenants/{tenant}/holds", a.features.admin(a.holds))
	mux.HandleFunc("DELETE /admin/tenants/{tenant}/holds", a.features.admin(a.holds))
	mux.HandleFunc("GET /admin/incidents", a.features.admin(a.incidents))
	mux.HandleFunc("POST /admin/incidents", a.features.admin(a.incidents))
	// Public: the demo's own receiver of the webhooks it sends. It takes
	// only messages signed with one of the tenant's endpoint secrets;
	// what arrived is tenant data, read at GET /api/webhooks/inbound with
	// the tenant's key.
	mux.HandleFunc("POST /webhooks/inbound/{tenant}", a.hooks.inbound)
	mux.HandleFunc("POST /webhooks/gone", a.hooks.gone)
	a.console.routes(mux) // the operator console, /console/
	// Each tenant's webhook portal, /portal/webhooks/: with the tenant's
	// key, or a browser session from a link the key mints.
	a.portal.routes(mux, a.limit)
	return mux
}

// authed serves h to an API key of the request's tenant with scopes,
// within the request rate of its credential and the API calls its plan
// allows a month (429 past either). Each call it lets through counts,
// and the tenant's usage this month reaches flags targeting as
// tenantUsage.api_calls.
func (a *app) authed(h http.HandlerFunc, scopes ...string) http.Handler {
	return a.resolve(a.limit.Middleware(tenancy.RequireAuth(scopes...)(a.meterAPICalls(a.api.Middleware(knownID(h))))))
}

// route is one route of the demo: of the tenant API, with the scopes
// its key needs, or of the console.
type route struct {
	pattern string
	handler http.HandlerFunc
	scopes  []string
}

// tenantAPI lists the routes that read or write a tenant's data: each
// needs an API key of that tenant.
func (a *app) tenantAPI() []route {
	return []route{
		{"GET /api/tenant", a.tenant, nil},
		{"GET /api/usage", a.usage, nil},
		{"POST /api/keys", a.createKey, []string{"keys:write"}},
		{"POST /api/users", a.users.create, nil},
		{"GET /api/users", a.users.find, nil},
		{"GET /api/users/lookup", a.users.find, nil}, // removed in 2025-01-01; kept for older callers
		{"DELETE /api/users/{id}", a.users.erase, nil},
		{"POST /api/users/{id}/privacy-requests", a.privacy.request, nil},
		{"POST /api/users/{id}/consent", a.consents.record, nil},
		{"GET /api/users/{id}/consent", a.consents.states, nil},
		{"GET /api/privacy-requests/{id}", a.privacy.status, nil},
		{"GET /api/privacy-requests/{id}/export", a.privacy.export, nil},
		{"GET /api/privacy-audit", a.privacy.verifyAudit, nil},
		{"GET /api/webhooks/event-types", a.hooks.eventTypes, nil},
		{"POST /api/webhooks/endpoints", a.hooks.createEndpoint, nil},
		{"GET /api/webhooks/deliveries", a.hooks.listDeliveries, nil},
		{"GET /api/webhooks/inbound", a.hooks.inboundLog, nil},
		{"POST /api/webhooks/portal-link", a.portal.link, nil},
		{"POST /api/webhooks/deliveries/{id}/retry", a.hooks.retry, nil},
		{"GET /api/features", a.features.list, nil},
		{"GET /api/insights", a.features.insights, nil},
	}
}

// knownID answers 404 when a route's {id} holds a NUL byte or invalid
// UTF-8: no record has such an ID, and PostgreSQL cannot even compare
// one (the saaskit stores answer not found for them too).
func knownID(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if id := r.PathValue("id"); !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0 {
			problem.Write(w, problem.Details{Status: http.StatusNotFound, Detail: "no such id"})
			return
		}
		next(w, r)
	}
}

// notProbe leaves health probes untraced.
func notProbe(r *http.Request) bool {
	return r.URL.Path != "/livez" && r.URL.Path != "/readyz"
}

// changelog handles GET /api/changelog: the API's history, in Markdown.
func (a *app) changelog(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	_, _ = io.WriteString(w, a.api.Changelog())
}

// migrationGuide handles GET /api/migration-guide, in Markdown.
func (a *app) migrationGuide(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	_, _ = io.WriteString(w, a.api.MigrationGuide())
}

// readiness checks what the demo needs to serve: the database, the
// keyring (a round trip under a key of its own) and the webhook queue's
// backlog. Results are cached briefly, so probes cannot hammer them.
func readiness(db *sql.DB, keys *skcrypto.Keyring, hooks *hooks) (*health.Checker, error) {
	queue := func(ctx context.Context) (int, time.Duration, error) {
		st, err := hooks.d.QueueStats(ctx)
		if err != nil || st.OldestDue.IsZero() {
			return st.Due, 0, err
		}
		return st.Due, time.Since(st.OldestDue), nil
	}
	checks := []health.Check{
		{Name: "sqlite", ComponentType: "datastore", Func: health.SQL(db)},
		{Name: "keyring", ComponentType: "component", Func: health.AEAD(keys.AEAD(skcrypto.Scope{Tenant: "health"}))},
		{Name: "webhooks:backlog", ComponentType: "component", Func: health.Queue(queue, 10_000, 5*time.Minute)},
	}
	// With NATS: the connection and the events outbox's backlog.
	return health.New(health.Options{Version: "dev"}, append(checks, hooks.bus.checks()...)...)
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := a.templates.Render(r.Context(), w, "home.html", nil); err != nil {
		a.logger.ErrorContext(r.Context(), "render home", slog.String("error", err.Error()))
	}
}

func (a *app) branding(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	writeJSON(w, http.StatusOK, t.Branding)
}

func (a *app) tenant(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	a.logger.InfoContext(r.Context(), "tenant read")
	writeJSON(w, http.StatusOK, t)
}

// usageResponse is the body of GET /api/usage.
type usageResponse struct {
	Tenant string                 `json:"tenant"`
	Usage  []*tenancy.UsageReport `json:"usage"`
}

// usage answers the calling tenant's usage of each metered name this
// period, with its limits: the tenant is the API key's (a host or
// header naming another is refused before), and the call itself counts.
func (a *app) usage(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	out := usageResponse{Tenant: t.ID, Usage: make([]*tenancy.UsageReport, 0, len(metered))}
	for _, name := range metered {
		rep, err := a.meter.Report(r.Context(), name)
		if err != nil {
			a.logger.ErrorContext(r.Context(), "usage report", slog.String("error", err.Error()))
			problem.Write(w, problem.Details{Status: http.StatusInternalServerError, Detail: "internal error"})
			return
		}
		out.Usage = append(out.Usage, rep)
	}
	writeJSON(w, http.StatusOK, out)
}

// createKey issues an API key for the caller's tenant (the route needs
// scope keys:write). The request's context carries the calling key, so
// the registry mints no scope the caller lacks.
func (a *app) createKey(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	a.mintKey(w, r, t.ID)
}

// issueKey handles POST /admin/tenants/{tenant}/keys: the operator
// issues a tenant an API key with the scopes asked for.
func (a *app) issueKey(w http.ResponseWriter, r *http.Request, _ string) error {
	a.mintKey(w, r, r.PathValue("tenant"))
	return nil
}

// mintKey creates the tenant a key as the JSON body {name, scopes} asks
// and answers its token, shown this once.
func (a *app) mintKey(w http.ResponseWriter, r *http.Request, tenantID string) {
	var req struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	if !readJSON(w, r, 4<<10, &req, "{name, scopes}") {
		return
	}
	if req.Name == "" || len(req.Scopes) == 0 {
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Detail: "a key needs a name and at least one scope"})
		return
	}
	token, key, err := a.reg.CreateKey(r.Context(), tenantID, tenancy.KeyOptions{Name: req.Name, Scopes: req.Scopes})
	if err != nil {
		problem.Write(w, problem.Details{Status: tenancy.HTTPStatus(err), Detail: err.Error()})
		return
	}
	a.logger.InfoContext(r.Context(), "api key created", slog.String(tenancy.AttrKey, tenantID), slog.String("key.id", key.ID))
	writeJSON(w, http.StatusCreated, map[string]any{"id": key.ID, "token": token, "scopes": key.Scopes})
}

// readJSON decodes r's body into v, which describes the body as want
// ("{name, scopes}"), and reports whether it could; if not it has
// answered: 415 unless the Content-Type is JSON, 413 over limit bytes,
// 400 for malformed JSON, an unknown field or data after the value.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64, v any, want string) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		problem.Write(w, problem.Details{Status: http.StatusUnsupportedMediaType, Detail: "Content-Type must be application/json"})
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, next := dec.Token(); next != io.EOF {
			err = errors.New("data after the JSON value")
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooLarge):
		problem.Write(w, problem.Details{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("the body is over %d bytes", limit)})
	default:
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Detail: fmt.Sprintf("body must be JSON %s: %v", want, err)})
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
