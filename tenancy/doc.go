// Package tenancy tells a Go service whose request it is serving, keeps
// tenants apart and white-labels them. Every other saaskit package reads
// the tenant it puts in the request context.
//
// # Quick start
//
//	st := memstore.New() // or sqlstore.Open(ctx, "sqlite:data/saas.db")
//	reg := tenancy.NewRegistry(st, st, tenancy.Options{PlatformDomains: []string{"example.com"}})
//	defer reg.Close()
//	acme, err := reg.Create(ctx, &tenancy.Tenant{Slug: "acme", Name: "Acme"})
//
//	sub, err := tenancy.Subdomain(reg, []string{"example.com", "localhost"}, "www")
//	mw := tenancy.Middleware(tenancy.MiddlewareOptions{
//		Identify:     []tenancy.Resolver{sub, tenancy.CustomDomain(reg)},
//		Authenticate: []tenancy.Authenticator{tenancy.APIKeyAuth(reg)},
//	})
//	mux.Handle("GET /api/branding", mw(branding))                    // public
//	mux.Handle("GET /api/invoices", mw(tenancy.RequireAuth()(invoices))) // tenant data
//	http.ListenAndServe(":8080", mux)
//
//	// in a handler:
//	t, err := tenancy.FromContext(r.Context())
//	p, ok := tenancy.PrincipalFromContext(r.Context()) // who authenticated, if anyone
//
// # Tenants
//
// A Tenant has an ID, a slug (its subdomain), a status (active, suspended,
// deleted), a plan tier, a home region, an isolation mode (shared
// database, or a dedicated one reached through its DSN), branding, custom
// domains, an API-version pin and free-form settings. Validate checks all
// of it and names the field and rule that fail ([FieldError]).
//
// A [Registry] is the directory a service uses: it validates writes,
// retries updates that lose a race (no write is lost), caches lookups
// with a TTL, and drops its caches the moment it changes a tenant.
// Stores implement the small [Store] and [KeyStore] interfaces: memstore
// (in memory) and sqlstore (SQLite, PostgreSQL) ship with saaskit, and
// tenancytest is the conformance suite every store passes.
//
// # Resolution
//
// [Middleware] keeps apart two questions. Which tenant does the request
// name? Its Identify resolvers answer, the first that finds what it reads
// deciding: [Subdomain] (acme.example.com, acme.localhost:8080),
// [CustomDomain], [Header] (X-Tenant-ID), [PathPrefix] (/t/acme/...) and
// [Baggage]. Who is calling? Its Authenticate authenticators answer,
// every one of them asked: [APIKeyAuth] and [Claims] (a hook for the
// identity your own authentication middleware verified; saaskit does not
// verify JWTs). A name is not a credential, and a presented credential
// always decides, whatever the order of either list: a credential that
// does not verify is 401, even when the host names a tenant; one of
// another tenant than the name is 403 and serves neither; without one,
// the named tenant is served unauthenticated, for its public pages.
// [RequireAuth] guards the routes that read or write tenant data (401
// without a credential, 403 without a scope), and [PrincipalFromContext]
// tells a handler who authenticated. List the service's own domains in
// Options.PlatformDomains so no tenant can claim them as custom domains.
// Failures are application/problem+json: malformed 400, bad credential
// 401, suspended or mismatched 403, unknown or deleted 404. A host seen
// before resolves without parsing and without allocating, at about the
// cost of one map lookup (see BENCHMARKS.md).
//
// # Custom domains
//
// A tenant's custom domain (app.acme.com) serves it only once the
// tenant proves it controls the name, so the first tenant to name a
// domain cannot keep it from its owner. [Registry.AddDomain] claims a
// name pending, with a random token; the tenant creates the TXT record
// _saaskit-challenge.<domain> holding the token ([DomainStatus] gives the
// exact record for a console) and presses Verify ([Registry.VerifyDomain]),
// or waits for the next check. Set DomainOptions.HTTPClient to accept the
// token at http://<domain>/.well-known/saaskit-challenge/<token> too.
//
// Verified domains are checked again every DomainOptions.Interval (1h):
// run [Registry.RunDomainChecks] (or call CheckDomains from a scheduler)
// in every replica; they share the state in the store and each due
// domain is checked by one of them. A domain whose proof is gone turns
// failing and keeps serving for DomainOptions.Grace (72h), then is
// revoked; one whose proof returns within it recovers. Each turn is a
// [DomainEvent] (domain.verified, domain.failing, domain.recovered,
// domain.revoked) for DomainOptions.OnEvent, shaped like webhook's
// operational events so a service can forward them to its operator.
//
// Any number of tenants may have a name pending, but only one may have
// it verified or failing: the store enforces it (a unique index on
// serving domains). A domain that changes hands moves when its new owner
// publishes its own token: the old tenant's proof fails, it is revoked
// after the grace period, and the new tenant's claim then verifies.
// [CustomDomain], Lookup ByDomain and [Registry.VerifiedDomain] (the
// question an on-demand TLS issuer asks before getting a certificate)
// answer for verified domains and failing ones within their grace period
// only. Names are normalised by [NormalizeDomain]: internationalised
// names are stored as A-labels (punycode); IP addresses, wildcards,
// names longer than 253 bytes and the platform's own domains are
// refused with the rule they break.
//
// Tenant.Domains lists a tenant's serving domains. Domains an operator
// sets there directly serve at once, as they did before verification
// existed, and are not checked on a schedule; domains stored before the
// upgrade (sqlstore migration 0003) are kept that way, so an upgrade
// never stops serving them. Set DomainOptions.RequireVerification to
// refuse new names in Tenant.Domains, so that every new domain goes
// through verification.
//
// # API keys
//
// [Registry.CreateKey] issues tokens like sk_live_<key id><secret><crc>:
// the CRC32 suffix catches a typo before any lookup, only a SHA-256 of the
// secret is stored, and comparison is constant-time. Keys carry scopes,
// expiry and a last-used time, and can be revoked or rotated with an
// overlap window. The token is returned once and never logged. A key
// that mints a key (its request's context reaches CreateKey) gives it
// at most its own scopes, for its own tenant.
//
// # Isolation
//
// [DBRouter] returns a tenant's database: the shared pool or a bounded
// pool of its own. On PostgreSQL, [WithTenantTx] runs a transaction with
// app.tenant_id set transaction-locally, so [RLSPolicy] policies confine
// it to the tenant's rows and nothing leaks to the next user of the
// pooled connection.
//
// # Plans and entitlements
//
// Entitlements gives each plan (Tenant.Plan) features and limits on
// counted things (seats, webhook endpoints), in code, the same in every
// replica. A tenant's own record overrides its plan through its
// Settings ("feature.sso": "on" or "off", "limit.endpoints": a number
// or "unlimited"), checked when the tenant is stored, so an exception
// is one Registry.Update and travels with the tenant. Entitled(ctx,
// "sso") and Within(ctx, "endpoints", n) answer for the tenant of a
// request; Within's ErrNotEntitled names the limit and the plan.
//
// # Usage metering
//
// [Metering] counts what tenants use (API calls, emails, builds) per
// period, calendar months in UTC by default or days, in a [UsageStore]:
// memstore in the process, tenancy/sqlstore in SQLite or PostgreSQL,
// or tenancy/redisstore in Redis, where replicas share the counters. A plan limit on a metered name is a
// limit per period. Consume(ctx, "api_calls", 1) counts for the tenant
// of ctx unless that would take it over its limit: then it counts
// nothing and returns a [UsageLimitError] (errors.Is ErrNotEntitled)
// with the limit, the usage and when the next period starts. Check and
// count are one atomic step in the store (one upsert in SQL), so
// replicas never let a tenant past a limit together and no count is
// lost. Add counts overage without a limit. Metering.Middleware counts
// a request each, answers 429 problem+json past the limit, and puts the
// tenant's usage into the request context, where package flags reads it
// for targeting as tenantUsage; it refuses, when made, a name that no
// plan limits, so a misspelt metric fails at start-up. Report gives a
// tenant's usage, limit and reset time, for its own usage page. Counts are exported as the OpenTelemetry
// counters saaskit.tenancy.usage and saaskit.tenancy.usage.refused, by
// tenant.id and saaskit.tenancy.metric. tenancytest.RunUsageStoreTests
// is the suite every UsageStore passes.
//
// # Around the request
//
// [RateLimiter] keeps a token bucket per credential, sized by its
// tenant's plan, and a smaller one per tenant and client address for
// requests without a credential, so whoever names a tenant cannot spend
// its limit; it answers 429 with Retry-After. By default its buckets
// ([MemoryLimits]), like the registry's caches, live in the process: N
// replicas allow N times a limit. Set RateLimitOptions.Shared to a
// [LimitStore] that replicas share, tenancy/sqlstore (one upsert on
// SQLite or PostgreSQL) or tenancy/redisstore (one Lua script), and
// together they allow each limit once. If the shared store fails, each
// replica limits with its own buckets meanwhile and logs a warning (it
// fails open to a per-replica limit). tenancytest.RunLimitStoreTests is
// the suite every LimitStore passes. [Transport] carries the tenant ID to services you
// call; [ContextWithBaggage] puts it in OpenTelemetry baggage; [LogHandler]
// adds tenant.id to every log record. [Templates] renders white-labelled
// emails from a tenant's own templates or the defaults.
package tenancy
