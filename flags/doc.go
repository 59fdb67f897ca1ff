// Package flags is feature flags for multi-tenant services: flagd's
// flag-definition format, evaluated in process without allocating,
// behind an OpenFeature provider, with SaaS rollouts on top.
//
// # Definitions
//
// Flags are written in flagd's JSON format (state, variants,
// defaultVariant, JsonLogic targeting, $evaluators with $ref, metadata)
// with flagd's operators: fractional (the current algorithm, MurmurHash3
// over flag key and targeting key, or over a given expression; an empty
// or missing targeting key buckets nobody, so the default variant
// applies), sem_ver, starts_with and ends_with. Every definition
// evaluates as in flagd: the flagd-testbed evaluator suite and its
// in-process provider suite run in this package's tests. A rule that
// returns a name that is not a variant serves the caller's default with
// error code GENERAL; fractional, like any rule that picks a variant,
// reports TARGETING_MATCH. The context may hold Go slices, arrays and
// maps with string keys: var reads them as JSON arrays and objects, as
// flagd does once it has marshalled the context to JSON. Parse and
// Compile check each flag and name the flag and the JSON Pointer of what
// is wrong; targeting compiles once into Go closures, so an evaluation
// walks no JSON and, over a context of JSON's own types, allocates
// nothing.
//
//	set, err := flags.Parse(data)
//	ev := flags.NewEvaluator(set, flags.Options{})
//	on, detail := ev.Bool("new-invoices", map[string]any{"targetingKey": "user-1"}, false)
//
// Evaluate serves a flag of any type (a remote-evaluation endpoint does
// not know the type the caller wants) and EvaluateAll every flag
// served, against one version of the definitions; neither allocates.
//
// # Flag sets
//
// As in flagd, flags can be grouped in named flag sets ("frontend",
// "backend"), served to different audiences from one document: the
// document's "sets" object holds each set's own flags, $evaluators and
// metadata (Definitions.Sets), beside the top-level flags, which are
// the set named "". Options.Sets chooses what an Evaluator serves
// (default: everything). The same key may be in several sets, so each
// audience names its flags freely, but two sets served together must
// not share a key: Set.Select, Evaluator.Replace and Sync refuse such a
// document with ErrDuplicateKey naming the key and both sets, and the
// last good definitions stay served. A flag of a named set carries its
// set as metadata flagSetId and in Detail.FlagSet. Sets travel with the
// document through every Source, flags/sqlstore included; edit a set's
// flags through Definitions.Sets in Edit.
//
// # Rollouts
//
// On top of flagd, and written as ordinary flagd definitions so any
// flagd provider agrees: rings (ordered cohorts of tenants, internal
// then beta: Definitions.SetRing), percentages bucketed by tenant so a
// tenant's users stay together and raising a percentage only adds
// tenants (RolloutFlag), progressive rollouts that step the percentage
// at given times on the Evaluator's clock, and the kill switch (state
// DISABLED: the caller's default with reason DISABLED, flipped
// atomically by SetState). Prerequisites (flag B only while flag A is
// on) are a field flagd ignores. TenantContext puts the tenant of a
// request (package tenancy) into the evaluation context, and its usage
// in the current period (tenancy.Metering) as tenantUsage, so a rule
// such as {">": [{"var": "tenantUsage.api_calls"}, 800]} targets the
// tenants that used more than 800 API calls this month.
//
// # Guarded rollouts
//
// A Guardian raises a rollout flag through GuardedSteps (10%, then 50%,
// then 100%, each held for a time) only while its Guards hold, as
// LaunchDarkly's guarded rollouts and Argo Rollouts' analysis do. A
// guard reads a metric of the "on" variant since the step began (an
// error ratio or a latency from Outcomes; any OpenTelemetry counter or
// histogram recorded with the flag's key and variant as attributes,
// through OTelMetric; an SLO's burn rate, as ExampleGuard_sloBurnRate
// shows: anything behind Guard.Read) and fails over an absolute Max or when
// worse than the "off" variant by more than MaxIncrease. A failing guard
// rolls the flag back to the last percentage that held (or pauses it,
// GuardPause) at once, and the rollout waits for an operator's Resume.
// Too few samples, or a metric that cannot be read, holds the rollout
// where it is and says so: a guard that cannot see does not pass. The
// progress (status, step, its start, the last good percentage, the
// reason) is kept in the flag's metadata, so it is stored, audited and
// shared with the definitions: through flags/sqlstore every change is an
// audit entry under the Guardian's name, replicas see the same state, a
// restart resumes it, and two replicas' Guardians never both act on one
// state. Each change reaches OpenFeature clients as a
// configuration-changed event. Outcomes are per process. The kill switch
// and an operator win: a Guardian leaves a disabled flag alone, and one
// whose percentage was set by hand off its step, until Resume hands the
// rollout back.
//
// # Stale flags
//
// Usage counts each flag's evaluations per variant and day (as an
// OpenFeature hook, or Record beside an Evaluator) and flushes them to a
// UsageStore (flags/sqlstore: every replica adds to the same rows).
// StaleFlags reads them: flags not evaluated for a period (unused, or
// never evaluated) and flags that served one variant to every
// evaluation for the period (fully rolled out, or killed), as GrowthBook
// reports them; `saaskit flags stale` prints it. With less usage
// recorded than the period it reports nothing rather than everything.
//
// # Live updates
//
// Sync keeps an Evaluator serving a Source: FileSource (watched),
// HTTPSource (polled with ETags) or the SQL store in flags/sqlstore
// (PostgreSQL pushes changes with LISTEN/NOTIFY). A document that fails
// to load or compile never replaces the definitions being served; a
// snapshot file serves a cold start when the source is down. Admin
// operations (kill, set a percentage, add a tenant to a ring) are
// Definitions methods applied with Evaluator.Edit in memory, or through
// the SQL store, which audits who changed what and when.
//
// # OpenFeature
//
// Provider implements OpenFeature's provider interface: all five types,
// reasons, variants, metadata, error codes, Init and Shutdown, events
// (configuration changes with the changed keys, stale and error while the
// last good definitions are served) and Track. flags/ofrep serves an
// Evaluator over the OpenFeature Remote Evaluation Protocol (OFREP), for
// OFREP providers in browsers and other languages. Exposures records each
// subject's first sight of a variant for experiments; OTelHook emits
// OpenTelemetry evaluation events.
//
// # State across replicas
//
// The definitions are shared through their Source: every replica that
// syncs from the same flags/sqlstore database (or file, or URL) serves
// the same flags, a change reaching each within its Sync's delay. Per
// process: each Evaluator's copy of the definitions, and Exposures'
// record of which subjects have seen which variant, so with N replicas
// a subject's first exposure may be reported up to N times (dedupe
// downstream, by subject and variant, where exact counts matter).
package flags
