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

	"github.com/saaskit/saaskit/flags"
	flagstore "github.com/saaskit/saaskit/flags/sqlstore"
	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/internal/problem"
	"github.com/saaskit/saaskit/tenancy"
)

// insightsFlag gates GET /api/insights. It starts on for the internal
// ring (acme) and 0% of other tenants.
const insightsFlag = "usage-insights"

// features serves the demo's flags from the database, synced live, and
// the operator endpoints that change them.
type features struct {
	store    *flagstore.Store
	ev       *flags.Evaluator
	db       *sql.DB
	operator string // bearer token of the operator endpoints
	logger   *slog.Logger
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
	f := &features{store: st, ev: flags.NewEvaluator(nil, flags.Options{}), db: db, logger: logger}
	if err := f.seed(ctx); err != nil {
		return nil, nil, err
	}
	f.operator = os.Getenv("SAASKIT_OPERATOR_TOKEN")
	if f.operator == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		f.operator = "op_" + hex.EncodeToString(b)
		fmt.Fprintf(stdout, "operator token for /admin (this run only; set SAASKIT_OPERATOR_TOKEN to fix one): %s\n", f.operator)
	}
	data, err := st.Load(ctx)
	if err != nil {
		return nil, nil, err
	}
	set, err := flags.Parse(data)
	if err != nil {
		return nil, nil, err
	}
	f.ev.Update(set)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = flags.Sync(ctx, f.ev, st, flags.SyncOptions{Logger: logger})
	}()
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

// enabled evaluates a boolean flag for the request's tenant.
func (f *features) enabled(r *http.Request, key string) (bool, flags.Detail) {
	return f.ev.Bool(key, flags.TenantContext(r.Context(), nil), false)
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
	if on, _ := f.enabled(r, insightsFlag); !on {
		problem.Write(w, problem.Details{Status: http.StatusNotFound, Detail: "usage insights are not available for this tenant yet"})
		return
	}
	t, _ := tenancy.FromContext(r.Context())
	var n int
	if err := f.db.QueryRowContext(r.Context(), rebind(f.db, "SELECT count(*) FROM demo_users WHERE tenant_id = ?"), t.ID).Scan(&n); err != nil {
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
