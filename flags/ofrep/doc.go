// Package ofrep serves flags over the OpenFeature Remote Evaluation
// Protocol (OFREP, github.com/open-feature/protocol, service/openapi.yaml
// v0.3.0), so any OFREP provider (the web SDK's, Go's, Java's) evaluates
// a service's flags remotely:
//
//	ev := flags.NewEvaluator(nil, flags.Options{Sets: []string{"frontend"}})
//	go flags.Sync(ctx, ev, store, flags.SyncOptions{})
//	mux.Handle("/ofrep/", tenancy.RequireAuth()(ofrep.NewHandler(ev, ofrep.Options{})))
//
// # Endpoints
//
// POST /ofrep/v1/evaluate/flags/{key} evaluates one flag (server-side
// providers); POST /ofrep/v1/evaluate/flags evaluates every flag in
// scope (client-side providers). Both read {"context": {...}}, the
// evaluation context, whose targetingKey, when present, must be a
// string; as in flagd it may be absent (then fractional targeting
// buckets nobody and the default variant applies).
//
// A success carries key, value, reason (OpenFeature's: STATIC,
// TARGETING_MATCH, DEFAULT, DISABLED), variant and metadata; a
// disabled flag, or one without a default variant whose targeting gave
// nothing, has no value: the provider uses the code default (OFREP's
// codeDefaultFlag). Metadata holds the flag's booleans, strings and
// numbers, which is what OFREP allows.
//
// # Errors
//
// As the specification gives them: 404 FLAG_NOT_FOUND for a key that is
// not served, or not in the handler's Sets; 400 with errorCode
// PARSE_ERROR for a body that is not a JSON object or is larger than
// Options.MaxBody, INVALID_CONTEXT for a missing or malformed context,
// and, for a flag that cannot be evaluated, the flag's error code
// (PARSE_ERROR for an invalid definition, GENERAL for targeting that
// names no variant); 401 without a credential and 403 with another
// tenant's (unless Options.Public); 429 with Retry-After (seconds) when
// Options.Limit refuses; 500 {"errorDetails"} only for a fault of the
// server. The bulk endpoint reports a flag that cannot be evaluated as
// an item with errorCode, and a bad request as {"errorCode",
// "errorDetails"}.
//
// # Tenants and caching
//
// The tenant of the request (package tenancy) enters the evaluation
// context through flags.TenantContext, replacing any tenantId,
// tenantPlan, tenantRegion or tenantUsage the client sent: a client
// cannot target as another tenant, or as one that used more or less. A bulk response carries an ETag, a digest of the
// response itself, so it changes when the flags or their values for
// this context change; a request whose If-None-Match names it gets 304
// Not Modified without a body, which is how OFREP providers poll. Both
// carry Cache-Control: private, no-cache: the values are the caller's,
// so no shared cache keeps them, and a client revalidates before reuse.
package ofrep
