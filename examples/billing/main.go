// Command billing is a second product beside the demo service
// (examples/saas): it keeps a billing account per user of each tenant,
// learning of users from the demo's events on NATS JetStream rather
// than from the demo's database.
//
//	go run ./examples/saas -nats nats://127.0.0.1:4222   # the demo, publishing its events
//	go run ./examples/billing                            # this product
//
// A durable consumer (events/jetstream) takes user.created and
// user.erased from the demo's stream, EVENTS. Each event runs its
// handler once, through the SQL inbox of package events: the handler's
// writes and the record that the event was handled commit in one
// transaction, so a redelivered event changes nothing. user.created
// opens an account (plan free) holding the user's email address;
// user.erased deletes the account and keeps only a tombstone of the
// user's ID, so that a user.created arriving after the erasure (the
// two are published independently) opens nothing.
//
// Its own database: <data>/billing.db, or PostgreSQL with -db
// postgres://... (BILLING_DATABASE_URL). Flags: -nats
// (SAASKIT_NATS_URL, default nats://127.0.0.1:4222), -data
// (BILLING_DATA_DIR, default ./billing-data), -addr (BILLING_ADDR,
// default 127.0.0.1:8090), -consumer (the durable consumer's name,
// default billing).
//
// Accounts, read-only, one of two ways:
//
//   - With -tenancy-db (BILLING_TENANCY_DATABASE_URL) naming the demo's
//     database (sqlite:data/saas.db, or its postgres:// URL), billing
//     shares the demo's tenants and API keys (package tenancy): GET
//     /api/accounts with a tenant's key lists that tenant's accounts,
//     and no other's. Billing writes there only a key's last use.
//   - Without it billing holds no keys and authenticates no one: GET
//     /tenants/{tenant}/accounts lists any tenant's, on a loopback
//     address only (an operator's port); billing refuses to listen
//     elsewhere.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/saaskit/saaskit/events"
	ejs "github.com/saaskit/saaskit/events/jetstream"
	eventstore "github.com/saaskit/saaskit/events/sqlstore"
	"github.com/saaskit/saaskit/observability/otelsetup"
	"github.com/saaskit/saaskit/sqlopen"
	"github.com/saaskit/saaskit/tenancy"
	tenancystore "github.com/saaskit/saaskit/tenancy/sqlstore"
)

// stream is the demo's events stream (examples/saas EventStream).
const stream = "EVENTS"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "billing:", err)
		os.Exit(1)
	}
}

type config struct {
	nats, dataDir, db, addr, consumer string
	// tenancyDB is the demo's database, whose tenants and keys
	// authenticate callers; empty: the loopback operator endpoint.
	tenancyDB string
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("billing", flag.ContinueOnError)
	var c config
	fs.StringVar(&c.nats, "nats", envOr("SAASKIT_NATS_URL", nats.DefaultURL), "the nats:// URL of NATS with JetStream, where the demo publishes its events")
	fs.StringVar(&c.dataDir, "data", envOr("BILLING_DATA_DIR", "billing-data"), "directory of the SQLite database")
	fs.StringVar(&c.db, "db", envOr("BILLING_DATABASE_URL", ""), "a postgres:// URL to use PostgreSQL instead of <data>/billing.db")
	fs.StringVar(&c.addr, "addr", envOr("BILLING_ADDR", "127.0.0.1:8090"), "loopback address of the read-only operator endpoint")
	fs.StringVar(&c.consumer, "consumer", "billing", "name of the durable consumer")
	fs.StringVar(&c.tenancyDB, "tenancy-db", envOr("BILLING_TENANCY_DATABASE_URL", ""),
		"the demo's database (sqlite:<path> or postgres://...), whose tenant API keys then authenticate GET /api/accounts")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.tenancyDB != "" {
		return c, nil
	}
	host, _, err := net.SplitHostPort(c.addr)
	if err != nil {
		return c, fmt.Errorf("-addr %q: %w", c.addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return c, fmt.Errorf("-addr %q: must be a loopback address: without -tenancy-db the endpoint authenticates no one", c.addr)
	}
	return c, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// run consumes events and serves the accounts until ctx ends.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	shutdownTelemetry, err := otelsetup.Setup(ctx, otelsetup.Options{ServiceName: "saaskit-billing", ServiceVersion: "dev", Writer: stdout})
	if err != nil {
		return err
	}
	defer func() { _ = shutdownTelemetry(context.WithoutCancel(ctx)) }()
	logger := slog.New(slog.NewJSONHandler(stdout, nil))

	dsn := cfg.db
	if dsn == "" {
		if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		dsn = "sqlite:" + filepath.Join(cfg.dataDir, "billing.db")
	}
	db, err := sqlopen.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	b, err := newBilling(ctx, db)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(cfg.nats, nats.Name("saaskit-billing"))
	if err != nil {
		return fmt.Errorf("nats %s: %w", cfg.nats, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	// The demo makes the stream too; whichever starts first does.
	if _, err := ejs.EnsureStream(ctx, js, stream, ejs.StreamOptions{}); err != nil {
		return err
	}
	cons, err := ejs.NewConsumer(ctx, js, stream, cfg.consumer, b.inbox, b.handle, ejs.ConsumerOptions{
		// user.created and user.erased among the user events; one filter,
		// which every nats-server with JetStream takes.
		Subjects: []string{"events.*.*.user.*"},
		Logger:   logger,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	route := "/tenants/{tenant}/accounts"
	if cfg.tenancyDB == "" {
		mux.HandleFunc("GET "+route, func(w http.ResponseWriter, r *http.Request) { b.accounts(w, r, r.PathValue("tenant")) })
	} else {
		route = "/api/accounts"
		authed, closeTenancy, err := tenantAuth(ctx, cfg.tenancyDB, logger)
		if err != nil {
			return err
		}
		defer closeTenancy()
		mux.Handle("GET "+route, authed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t, _ := tenancy.FromContext(r.Context())
			b.accounts(w, r, t.ID)
		})))
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "billing: consuming %s as %s; accounts at http://%s%s\n", stream, cfg.consumer, ln.Addr(), route)

	consumed := make(chan error, 1)
	consumeCtx, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()
	go func() { consumed <- cons.Run(consumeCtx) }()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err = <-served:
	case <-ctx.Done():
		err = srv.Shutdown(context.WithoutCancel(ctx))
	}
	stopConsuming()
	<-consumed
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// billing keeps the accounts in its own database.
type billing struct {
	db    *sql.DB
	inbox *eventstore.Store
	q     func(string) string // the query with the engine's placeholders
}

// schema: an account per user; the IDs of erased users, whose late
// user.created must open nothing; and the history of what each event
// did, which shows every event applied once.
const schema = `CREATE TABLE IF NOT EXISTS billing_accounts (
	tenant_id  TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	plan       TEXT NOT NULL,
	email      TEXT NOT NULL,
	opened_at  TEXT NOT NULL,
	PRIMARY KEY (tenant_id, user_id)
);
CREATE TABLE IF NOT EXISTS billing_erased (
	tenant_id TEXT NOT NULL,
	user_id   TEXT NOT NULL,
	PRIMARY KEY (tenant_id, user_id)
);
CREATE TABLE IF NOT EXISTS billing_history (
	tenant_id  TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	event_type TEXT NOT NULL,
	event_id   TEXT NOT NULL
)`

func newBilling(ctx context.Context, db *sql.DB) (*billing, error) {
	d, err := sqlopen.DialectOf(db)
	if err != nil {
		return nil, err
	}
	inbox, err := eventstore.New(db)
	if err != nil {
		return nil, err
	}
	if err := inbox.Migrate(ctx); err != nil {
		return nil, err
	}
	for stmt := range strings.SplitSeq(schema, ";\n") {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("billing tables: %w", err)
		}
	}
	return &billing{db: db, inbox: inbox, q: d.Rebind}, nil
}

// userEvent is the payload of the demo's user events:
// {"type": "user.created", "data": <the user>}.
type userEvent struct {
	Type string `json:"type"`
	Data struct {
		ID    string `json:"id"`
		Email string `json:"email_address"`
	} `json:"data"`
}

// handle applies one event in events.Tx(ctx), the inbox's transaction.
func (b *billing) handle(ctx context.Context, e *events.Event) error {
	var ev userEvent
	if err := json.Unmarshal(e.Payload, &ev); err != nil {
		return fmt.Errorf("event %s: payload: %w", e.ID, err)
	}
	if ev.Data.ID == "" {
		return fmt.Errorf("event %s: payload has no data.id", e.ID)
	}
	tx := events.Tx(ctx)
	switch e.Type {
	case "user.created":
		if _, err := tx.ExecContext(ctx, b.q(`INSERT INTO billing_accounts (tenant_id, user_id, plan, email, opened_at)
			SELECT ?, ?, 'free', ?, ? WHERE NOT EXISTS (SELECT 1 FROM billing_erased WHERE tenant_id = ? AND user_id = ?)
			ON CONFLICT (tenant_id, user_id) DO NOTHING`),
			e.TenantID, ev.Data.ID, ev.Data.Email, e.OccurredAt.UTC().Format(time.RFC3339), e.TenantID, ev.Data.ID); err != nil {
			return err
		}
	case "user.erased":
		if _, err := tx.ExecContext(ctx, b.q(`DELETE FROM billing_accounts WHERE tenant_id = ? AND user_id = ?`), e.TenantID, ev.Data.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, b.q(`INSERT INTO billing_erased (tenant_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING`), e.TenantID, ev.Data.ID); err != nil {
			return err
		}
	default:
		return nil
	}
	_, err := tx.ExecContext(ctx, b.q(`INSERT INTO billing_history (tenant_id, user_id, event_type, event_id) VALUES (?, ?, ?, ?)`),
		e.TenantID, ev.Data.ID, e.Type, e.ID)
	return err
}

// account is one row of GET /tenants/{tenant}/accounts.
type account struct {
	UserID   string `json:"user_id"`
	Plan     string `json:"plan"`
	Email    string `json:"email_address"`
	OpenedAt string `json:"opened_at"`
}

// tenantAuth returns middleware that lets through only requests with an
// API key of a tenant in the demo's database dsn, with that tenant in
// their context.
func tenantAuth(ctx context.Context, dsn string, logger *slog.Logger) (func(http.Handler) http.Handler, func(), error) {
	db, err := sqlopen.Open(ctx, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("-tenancy-db: %w", err)
	}
	store, err := tenancystore.New(db)
	if err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("-tenancy-db: %w", err)
	}
	reg := tenancy.NewRegistry(store, store, tenancy.Options{})
	// Optional: a request without a key reaches RequireAuth, which
	// answers 401, not 400 for naming no tenant.
	resolve := tenancy.Middleware(tenancy.MiddlewareOptions{Authenticate: []tenancy.Authenticator{tenancy.APIKeyAuth(reg)}, Optional: true, Logger: logger})
	return func(h http.Handler) http.Handler { return resolve(tenancy.RequireAuth()(h)) },
		func() { reg.Close(); _ = db.Close() }, nil
}

// accounts answers the tenant's accounts, and no other tenant's.
func (b *billing) accounts(w http.ResponseWriter, r *http.Request, tenantID string) {
	rows, err := b.db.QueryContext(r.Context(), b.q(`SELECT user_id, plan, email, opened_at FROM billing_accounts WHERE tenant_id = ? ORDER BY user_id`), tenantID)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer rows.Close()
	out := []account{}
	for rows.Next() {
		var a account
		if err := rows.Scan(&a.UserID, &a.Plan, &a.Email, &a.OpenedAt); err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		out = append(out, a)
	}
	if rows.Err() != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"tenant": tenantID, "accounts": out})
}
