package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/sqlstore"
	"github.com/saaskit/saaskit/webhook"
	webhookstore "github.com/saaskit/saaskit/webhook/sqlstore"
)

// TestScheduledDomainChecks: the demo's background checks turn a
// verified domain whose proof has gone failing, without anyone pressing
// Check now, and the turn reaches the tenant's webhooks and the events
// outbox as domain.failing. The clock is the test's: the check is due
// because the clock moved past the interval, not because time passed.
func TestScheduledDomainChecks(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := sqldbtest.OpenSQLite(t).DB
	store, err := sqlstore.New(db)
	require.NoError(t, err)
	require.NoError(t, store.Migrate(ctx))
	clock := testclock.New(time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC))
	zone := &devZone{path: filepath.Join(t.TempDir(), devZoneFile)}
	forward := &domainEvents{logger: logger}
	reg := tenancy.NewRegistry(store, store, tenancy.Options{Now: clock.Now,
		Domains: tenancy.DomainOptions{Resolver: zone, OnEvent: forward.send}})
	t.Cleanup(func() { _ = reg.Close() })
	require.NoError(t, seed(ctx, reg, io.Discard))

	api, err := newAPI(reg)
	require.NoError(t, err)
	hookStore, err := webhookstore.New(db)
	require.NoError(t, err)
	shared, _, err := openShared("", store, hookStore)
	require.NoError(t, err)
	keys, _, err := openKeyring(ctx, db, t.TempDir())
	require.NoError(t, err)
	h, err := newHooks(ctx, hookStore, shared, keys, api, logger)
	require.NoError(t, err)
	h.db = db
	h.bus, err = openBus(ctx, db, "", logger)
	require.NoError(t, err)
	t.Cleanup(h.bus.close)
	forward.hooks = h
	// acme listens to domain events; the worker never runs, so they stay
	// queued where the test reads them.
	_, _, err = h.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "http://127.0.0.1:9/domains", EventTypes: []string{"domain.*"}})
	require.NoError(t, err)

	// acme's app.customer.test is verified; globex's shop.globex.test
	// stays pending.
	require.NoError(t, seedDevDomains(ctx, reg, zone))
	state := func(tenant, name string) tenancy.DomainState {
		list, err := reg.Domains(ctx, tenant)
		require.NoError(t, err)
		for _, d := range list {
			if d.Name == name {
				return d.State
			}
		}
		t.Fatalf("%s has no domain %s", tenant, name)
		return ""
	}
	require.Equal(t, tenancy.DomainVerified, state("acme", "app.customer.test"))

	// The proof goes away; the next check is due an interval later.
	require.NoError(t, os.WriteFile(zone.path, nil, 0o600))
	clock.Advance(time.Hour)
	// The loop checks at once, then every domainCheckEvery.
	checks, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); checkDomains(checks, reg, logger) }()
	await.True(t, func() bool { return state("acme", "app.customer.test") == tenancy.DomainFailing },
		"a scheduled check found the proof gone")
	stop()
	<-done
	assert.Equal(t, tenancy.DomainPending, state("globex", "shop.globex.test"), "still no proof")

	msgs, err := h.d.Messages(ctx, "acme", webhook.MessageFilter{})
	require.NoError(t, err)
	var types []string
	for _, m := range msgs {
		types = append(types, m.EventType)
	}
	assert.Equal(t, []string{tenancy.EventDomainVerified, tenancy.EventDomainFailing}, types, "acme's webhook messages")
	var failing struct {
		Type string
		Data tenancy.DomainEvent
	}
	require.NoError(t, json.Unmarshal(msgs[len(msgs)-1].Payload, &failing))
	assert.Equal(t, "app.customer.test", failing.Data.Domain)
	assert.Equal(t, "acme", failing.Data.TenantID)
	assert.Contains(t, failing.Data.Reason, "no TXT record _saaskit-challenge.app.customer.test")
	globex, err := h.d.Messages(ctx, "globex", webhook.MessageFilter{})
	require.NoError(t, err)
	assert.Empty(t, globex, "globex's domain never turned")

	rows, err := db.QueryContext(ctx, `SELECT tenant_id, event_type, aggregate_key FROM events_outbox ORDER BY seq`)
	require.NoError(t, err)
	defer rows.Close()
	var outbox []string
	for rows.Next() {
		var tenant, typ, aggregate string
		require.NoError(t, rows.Scan(&tenant, &typ, &aggregate))
		outbox = append(outbox, tenant+" "+typ+" "+aggregate)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"acme domain.verified domain/app.customer.test", "acme domain.failing domain/app.customer.test"}, outbox)
}
