// Package saaskit is the Go SDK for multi-tenant SaaS backends: the
// cross-cutting parts every such service needs, as independent packages
// that share small interfaces, with in-memory adapters for tests and SQL
// adapters (SQLite embedded, PostgreSQL at scale) for production.
//
// The packages:
//
//	tenancy        whose request is this: tenant model, context, resolution
//	               middleware, API keys, isolation, rate limits, templates
//	flags          feature flags: flagd definitions evaluated in
//	               process, OpenFeature provider, rings, rollouts,
//	               kill switch, live sources
//	webhook        Standard Webhooks signing, verification, receiver
//	               middleware, and durable delivery with an outbox
//	crypto         per-tenant envelope encryption on Tink: rotation,
//	               data-key caching, blind indexes, streaming,
//	               crypto-shredding, TLS
//	gdpr           data-subject requests: export, erasure cascade,
//	               deadlines, retention, consent, audit trail
//	versioning     dated API versions with request and response
//	               migrations, tenant pins, deprecation and sunset
//	observability  OpenTelemetry setup, tenant-aware logs and spans,
//	               error-keeping sampling, health checks, SLO alerts
//	backup         encrypted, verified backups on several targets,
//	               restic-exact retention, restore drills, scheduler
//
// Each package follows the shape of database/sql: a concrete type you
// call, over a small interface that adapters implement (memstore,
// sqlstore), with an exported conformance suite (tenancytest) that every
// adapter passes. The package at the root of each folder imports no
// database driver, message broker or cloud SDK; adapters in subpackages do.
//
// examples/saas wires the packages into one runnable service:
//
//	go run ./examples/saas
package saaskit
