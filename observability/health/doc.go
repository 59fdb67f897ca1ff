// Package health answers the health probes of load balancers and
// orchestrators in application/health+json, the format of the IETF draft
// "Health Check Response Format for HTTP APIs"
// (draft-inadarei-api-health-check).
//
//	checker, err := health.New(health.Options{},
//		health.Check{Name: "postgres", Func: health.SQL(db), ComponentType: "datastore"},
//		health.Check{Name: "keys", Func: health.AEAD(keyring.AEAD(skcrypto.Scope{Tenant: "health"}))},
//		health.Check{Name: "webhooks:backlog", Func: health.Queue(webhookStats, 10000, time.Minute)},
//	)
//	mux.Handle("GET /livez", health.Liveness())
//	mux.Handle("GET /readyz", checker.Handler())
//
// # Liveness and readiness
//
// Liveness always answers 200 with {"status":"pass"}: it checks nothing,
// so a restart is never the answer to a database outage. Readiness
// (Checker.Handler) runs the checks and answers
//
//	{"status": "fail", "checks": {
//	  "postgres": [{"status": "fail", "componentType": "datastore",
//	    "time": "2026-01-02T15:04:05Z", "output": "ping: sql: database is closed"}],
//	  "keys": [{"status": "pass", "time": "2026-01-02T15:04:05Z"}]}}
//
// with 200 OK for pass and warn and 503 Service Unavailable for fail, so
// a warning keeps the instance in rotation. The overall status is the
// worst of the checks'. Checker.Check returns the same Report to code.
//
// # Checks
//
// A check is a CheckFunc: nil is pass, an error wrapping ErrWarn is warn
// (fmt.Errorf("%w: disk 85%% full", health.ErrWarn)), any other error is
// fail. SQL pings a database, AEAD does an encryption round trip through
// a key service, and Queue warns and then fails as a backlog grows.
//
// Checks run in parallel, each bounded by its timeout (default 2s). A
// check that ignores its context is abandoned at the deadline and fails
// with ErrTimeout; until it returns, later runs of it fail at once rather
// than pile up behind it. A check that panics fails with ErrPanic.
//
// Each result, pass or not, is reused for Options.TTL (default 5s), and
// callers arriving while a check runs wait for that run, so a burst of
// probes from many load balancers costs each dependency one call.
//
// Outputs are error texts: serve readiness where only operators and
// probes reach it.
package health
