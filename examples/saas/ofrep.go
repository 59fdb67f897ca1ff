package main

import (
	"context"
	"net/http"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/flags/ofrep"
	"github.com/saaskit/saaskit/tenancy"
)

// frontendSet is the flag set the tenants' browsers evaluate over OFREP
// (the OpenFeature web SDK's OFREP provider); the server's own flags
// are the document's top-level flags, which OFREP does not show.
const frontendSet = "frontend"

// frontendFlags seeds the frontend set: a boolean on for the internal
// tenant, and a string by plan.
var frontendFlags = flags.Definitions{Flags: map[string]flags.Flag{
	"new-nav": {State: flags.Enabled, Variants: map[string]any{"on": true, "off": false}, DefaultVariant: "off",
		Targeting: map[string]any{"if": []any{map[string]any{"in": []any{map[string]any{"var": flags.TenantAttribute}, []any{"acme"}}}, "on"}}},
	"welcome-banner": {State: flags.Enabled, Variants: map[string]any{"standard": "Welcome!", "pro": "Welcome back, pro team!"},
		DefaultVariant: "standard",
		Targeting:      map[string]any{"if": []any{map[string]any{"==": []any{map[string]any{"var": "tenantPlan"}, "pro"}}, "pro"}}},
}}

// ofrepHandler seeds the frontend set on first start and returns the
// OFREP endpoints serving it, from an Evaluator synced from the flag
// store until ctx ends, and a channel closed when that sync has stopped.
func (f *features) ofrepHandler(ctx context.Context) (http.Handler, <-chan struct{}, error) {
	err := f.store.Edit(ctx, "seed", "seed_frontend", func(d *flags.Definitions) error {
		if _, ok := d.Sets[frontendSet]; !ok {
			if d.Sets == nil {
				d.Sets = map[string]flags.Definitions{}
			}
			d.Sets[frontendSet] = frontendFlags
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	ev := flags.NewEvaluator(nil, flags.Options{Sets: []string{frontendSet}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = flags.Sync(ctx, ev, f.store, flags.SyncOptions{Logger: f.logger})
	}()
	return ofrep.NewHandler(ev, ofrep.Options{Sets: []string{frontendSet}, Logger: f.logger}), done, nil
}

// ofrepRoutes mounts the OFREP endpoints behind the tenant's API key, as
// every route of tenant data; the handler puts the tenant into the
// evaluation context.
func (a *app) ofrepRoutes(mux *http.ServeMux) {
	guarded := a.resolve(a.limit.Middleware(tenancy.RequireAuth()(a.ofrep)))
	mux.Handle("POST "+ofrep.EvaluateFlagsPath, guarded)
	mux.Handle("POST "+ofrep.EvaluateFlagPath, guarded)
}
