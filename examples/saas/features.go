package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/saaskit/saaskit/flags"
	flagstore "github.com/saaskit/saaskit/flags/sqlstore"
	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/problem"
	"github.com/saaskit/saaskit/tenancy"
)

// insightsFlag gates GET /api/insights. It starts on for the internal
// ring (acme) and 0% of other tenants.
const insightsFlag = "usage-insights"

// features serves the demo's flags from the database, synced live, and
// the operator endpoints that change them. usage-insights is a guarded
// rollout: it goes from 0% of other tenants to 10%, 50% and 100%, a day
// at each, while the insights API's error ratio with the feature on
// stays under 5%, and rolls back on its own otherwise.
type features struct {
	store    *flagstore.Store
	ev       *flags.Evaluator
	db       *sql.DB
	operator string // bearer token of the operator endpoints
	logger   *slog.Logger
	usage    *flags.Usage    // evaluations per flag and variant, for the stale-flag report
	outcomes *flags.Outcomes // the insights API's errors and latency, for its guard
	guardian *flags.Guardian
}

// insightsRollout is usage-insights' guarded rollout.
func insightsRollout(outcomes *flags.Outcomes) flags.GuardedRollout {
	return flags.GuardedRollout{
		Flag: insightsFlag,
		Steps: []flags.GuardedStep{
			{Percent: 0, Hold: time.Hour}, {Percent: 10, Hold: 24 * time.Hour},
			{Percent: 50, Hold: 24 * time.Hour}, {Percent: 100, Hold: 24 * time.Hour},
		},
		Guards: []flags.Guard{{Name: "insights-error-ratio", Read: outcomes.ErrorRatio, Max: 0.05, MinSamples: 50}},
	}
}

// newFeatures migrates and seeds the flag tables, prints the operator
// token, and starts syncing; the sync stops when ctx ends.
func newFeatures(ctx context.Context, db *sql.DB, stdout io.Writer, logger *slog.Logger) (*features, <-chan struct{}, error) {
	st, err := flagstore.New(db, flagstore.Options{})
	if err != nil {
		return nil, nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		return nil, nil, err
	}
	f := &features{store: st, ev: flags.NewEvaluator(nil, flags.Options{Sets: []string{""}}), db: db, logger: logger,
		usage: flags.NewUsage(st, nil), outcomes: flags.NewOutcomes(48*time.Hour, nil)}
	if err := f.seed(ctx); err != nil {
		return nil, nil, err
	}
	if f.guardian, err = flags.NewGuardian(f.ev.Current, st, flags.GuardianOptions{Logger: logger}, insightsRollout(f.outcomes)); err != nil {
		return nil, nil, err
	}
	f.operator = os.Getenv("SAASKIT_OPERATOR_TOKEN")
	if f.operator == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		f.operator = "op_" + hex.EncodeToString(b)
		fmt.Fprintf(stdout, "operator token for /admin (this run only; set SAASKIT_OPERATOR_TOKEN to fix one): %s\n", f.operator)
	}
	// The guardian starts the rollout before the first request (a
	// replica that finds it started goes on from where it stands), then
	// judges it every minute; usage is written every minute and at
	// shutdown.
	for range 2 {
		data, err := st.Load(ctx)
		if err != nil {
			return nil, nil, err
		}
		set, err := flags.Parse(data)
		if err != nil {
			return nil, nil, err
		}
		f.ev.Update(set)
		if f.ev.Current().Definitions().Flags[insightsFlag].Metadata[flags.RolloutStatusKey] != nil {
			break
		}
		f.guardian.Check(ctx)
	}
	var background sync.WaitGroup
	background.Go(func() { _ = flags.Sync(ctx, f.ev, st, flags.SyncOptions{Logger: logger}) })
	background.Go(func() { _ = f.guardian.Run(ctx, time.Minute) })
	background.Go(func() {
		if err := f.usage.Run(ctx, time.Minute); err != nil {
			logger.Warn("flag usage", slog.String("error", err.Error()))
		}
	})
	done := make(chan struct{})
	go func() { background.Wait(); close(done) }()
	return f, done, nil
}

// seed creates the ring and the flag on first start.
func (f *features) seed(ctx context.Context) error {
	data, err := f.store.Load(ctx)
	if err != nil {
		return err
	}
	var d flags.Definitions
	if err := json.Unmarshal(data, &d); err != nil {
		return err
	}
	if _, ok := d.Flags[insightsFlag]; ok {
		return nil
	}
	if err := f.store.SetRing(ctx, "seed", "internal", "", "acme"); err != nil {
		return err
	}
	flag, err := flags.RolloutFlag(flags.Rollout{Ring: "internal", Percent: 0})
	if err != nil {
		return err
	}
	return f.store.PutFlag(ctx, "seed", insightsFlag, flag)
}

// enabled evaluates a boolean flag for the request's tenant, and counts
// the evaluation for the stale-flag report.
func (f *features) enabled(r *http.Request, key string) (bool, flags.Detail) {
	on, d := f.ev.Bool(key, flags.TenantContext(r.Context(), nil), false)
	f.usage.Record(key, d.Variant)
	return on, d
}

// list handles GET /api/features: every flag for the tenant.
func (f *features) list(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{}
	for _, key := range f.ev.Current().Keys() {
		on, d := f.enabled(r, key)
		out[key] = map[string]any{"enabled": on, "reason": d.Reason.String(), "variant": d.Variant}
	}
	writeJSON(w, http.StatusOK, out)
}

// insights handles GET /api/insights, the gated feature: the tenant's
// user count, for tenants the rollout has reached.
func (f *features) insights(w http.ResponseWriter, r *http.Request) {
	on, d := f.enabled(r, insightsFlag)
	if !on {
		problem.Write(w, problem.Details{Status: http.StatusNotFound, Detail: "usage insights are not available for this tenant yet"})
		return
	}
	t, _ := tenancy.FromContext(r.Context())
	var n int
	start := time.Now()
	err := f.db.QueryRowContext(r.Context(), rebind(f.db, "SELECT count(*) FROM demo_users WHERE tenant_id = ?"), t.ID).Scan(&n)
	f.outcomes.Record(insightsFlag, d.Variant, err != nil, time.Since(start)) // what the rollout's guard reads
	if err != nil {
		f.logger.ErrorContext(r.Context(), "insights", slog.String("error", err.Error()))
		problem.Write(w, problem.Details{Status: http.StatusInternalServerError, Detail: "internal error"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant": t.ID, "users": n})
}

// admin wraps an operator endpoint: it needs the operator token.
func (f *features) admin(h func(w http.ResponseWriter, r *http.Request, key string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(token), []byte(f.operator)) != 1 {
			problem.Write(w, problem.Details{Status: http.StatusUnauthorized, Detail: "needs the operator token"})
			return
		}
		err := h(w, r, r.PathValue("key"))
		switch {
		case err == nil:
		case errors.Is(err, flags.ErrNotFound), errors.Is(err, gdpr.ErrNotFound):
			problem.Write(w, problem.Details{Status: http.StatusNotFound, Detail: err.Error()})
		case errors.Is(err, flags.ErrInvalidDefinitions), errors.Is(err, errBadBody), errors.Is(err, gdpr.ErrInvalid):
			problem.Write(w, problem.Details{Status: http.StatusBadRequest, Detail: err.Error()})
		default:
			f.logger.ErrorContext(r.Context(), "flag admin", slog.String("error", err.Error()))
			problem.Write(w, problem.Details{Status: http.StatusInternalServerError, Detail: "internal error"})
		}
	}
}

var errBadBody = errors.New("bad request body")

// operatorName is the actor recorded in the audit trail.
const operatorName = "operator"

// setState handles POST /admin/flags/{key}/kill and /revive.
func (f *features) setState(state flags.State) http.HandlerFunc {
	return f.admin(func(w http.ResponseWriter, r *http.Request, key string) error {
		if err := f.store.SetState(r.Context(), operatorName, key, state); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// setPercent handles PUT /admin/flags/{key}/percent {"percent": n}.
func (f *features) setPercent(w http.ResponseWriter, r *http.Request, key string) error {
	var body struct {
		Percent *int `json:"percent"`
	}
	if !readJSON(w, r, 1<<10, &body, "{percent}") {
		return nil
	}
	if body.Percent == nil {
		return fmt.Errorf("%w: want JSON {percent}", errBadBody)
	}
	if err := f.store.SetPercent(r.Context(), operatorName, key, *body.Percent); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// addToRing handles POST /admin/rings/{key}/tenants {"tenant": id}.
func (f *features) addToRing(w http.ResponseWriter, r *http.Request, ring string) error {
	var body struct {
		Tenant string `json:"tenant"`
	}
	if !readJSON(w, r, 1<<10, &body, "{tenant}") {
		return nil
	}
	if body.Tenant == "" {
		return fmt.Errorf("%w: want JSON {tenant}", errBadBody)
	}
	if err := f.store.AddToRing(r.Context(), operatorName, ring, body.Tenant); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// audit handles GET /admin/flags/{key}/audit.
func (f *features) audit(w http.ResponseWriter, r *http.Request, key string) error {
	trail, err := f.store.Audit(r.Context(), "flag", key, 50)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, trail)
	return nil
}
