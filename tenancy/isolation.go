package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Opener opens a database from a DSN. Services pass their driver's
// opener, for example one built on sql.Open; the tenancy package itself
// imports no driver.
type Opener func(ctx context.Context, dsn string) (*sql.DB, error)

// RouterOptions bound each dedicated tenant's connection pool. The zero
// value is a sensible default.
type RouterOptions struct {
	MaxOpenConns    int           // per dedicated pool; default 4
	MaxIdleConns    int           // per dedicated pool; default 2
	ConnMaxIdleTime time.Duration // default 5 minutes
}

// DBRouter returns the database that holds a tenant's data: the shared
// pool for shared tenants, a bounded pool of its own for dedicated ones.
// Dedicated pools are opened on first use and kept until Forget or Close.
type DBRouter struct {
	shared *sql.DB
	open   Opener
	opts   RouterOptions
	mu     sync.Mutex
	pools  map[string]*pool // by tenant ID
	closed bool
}

type pool struct {
	dsn   string
	ready chan struct{} // closed once db or err is set
	db    *sql.DB
	err   error
}

// NewDBRouter returns a router over the shared pool, opening dedicated
// databases with open.
func NewDBRouter(shared *sql.DB, open Opener, opts RouterOptions) (*DBRouter, error) {
	if shared == nil || open == nil {
		return nil, fieldErr("router", "shared database and opener must not be nil")
	}
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 4
	}
	if opts.MaxIdleConns <= 0 {
		opts.MaxIdleConns = min(2, opts.MaxOpenConns)
	}
	if opts.ConnMaxIdleTime <= 0 {
		opts.ConnMaxIdleTime = 5 * time.Minute
	}
	return &DBRouter{shared: shared, open: open, opts: opts, pools: map[string]*pool{}}, nil
}

// DB returns the database for the tenant in ctx.
func (r *DBRouter) DB(ctx context.Context) (*sql.DB, error) {
	t, err := FromContext(ctx)
	if err != nil {
		return nil, err
	}
	if t.Isolation != IsolationDedicated {
		return r.shared, nil
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, errors.New("tenancy: db router is closed")
	}
	p, ok := r.pools[t.ID]
	if ok && p.dsn != t.DSN { // the tenant moved: retire the old pool
		delete(r.pools, t.ID)
		go closePool(p)
		ok = false
	}
	if !ok {
		p = &pool{dsn: t.DSN, ready: make(chan struct{})}
		r.pools[t.ID] = p
		r.mu.Unlock()
		p.db, p.err = r.openPool(ctx, t.DSN)
		close(p.ready)
		if p.err != nil {
			r.mu.Lock()
			if r.pools[t.ID] == p {
				delete(r.pools, t.ID) // let the next request try again
			}
			r.mu.Unlock()
		}
	} else {
		r.mu.Unlock()
	}
	select {
	case <-p.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if p.err != nil {
		return nil, fmt.Errorf("open dedicated database of tenant %s: %w", t.ID, p.err)
	}
	return p.db, nil
}

func (r *DBRouter) openPool(ctx context.Context, dsn string) (*sql.DB, error) {
	db, err := r.open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(r.opts.MaxOpenConns)
	db.SetMaxIdleConns(r.opts.MaxIdleConns)
	db.SetConnMaxIdleTime(r.opts.ConnMaxIdleTime)
	return db, nil
}

func closePool(p *pool) {
	<-p.ready
	if p.db != nil {
		_ = p.db.Close()
	}
}

// Forget closes the tenant's dedicated pool, if open (after the tenant is
// deleted or moved).
func (r *DBRouter) Forget(tenantID string) {
	r.mu.Lock()
	p, ok := r.pools[tenantID]
	delete(r.pools, tenantID)
	r.mu.Unlock()
	if ok {
		closePool(p)
	}
}

// Close closes every dedicated pool (not the shared one).
func (r *DBRouter) Close() error {
	r.mu.Lock()
	pools := r.pools
	r.pools, r.closed = map[string]*pool{}, true
	r.mu.Unlock()
	var errs []error
	for _, p := range pools {
		<-p.ready
		if p.db != nil {
			errs = append(errs, p.db.Close())
		}
	}
	return errors.Join(errs...)
}

// RLSSetting is the PostgreSQL setting WithTenantTx sets to the tenant ID
// and row-level-security policies compare against.
const RLSSetting = "app.tenant_id"

// WithTenantTx runs fn in a PostgreSQL transaction in which the setting
// app.tenant_id holds the ID of the tenant in ctx, so row-level-security
// policies (see RLSPolicy) confine fn to that tenant's rows. The setting
// is transaction-local (set_config with is_local true): it ends with the
// transaction and never leaks to the next user of the pooled connection.
// fn's error or panic, or a failed commit, rolls back.
func WithTenantTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) (err error) {
	id := IDFromContext(ctx)
	if id == "" {
		return ErrNoTenant
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("tenant transaction: %w", err)
	}
	// Roll back on every way out but a commit, a panic in fn included:
	// after Commit, Rollback is a no-op (sql.ErrTxDone).
	defer func() { _ = tx.Rollback() }()
	if _, err = tx.ExecContext(ctx, "SELECT set_config('"+RLSSetting+"', $1, true)", id); err != nil {
		return fmt.Errorf("tenant transaction: set %s: %w", RLSSetting, err)
	}
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("tenant transaction: commit: %w", err)
	}
	return nil
}

// RLSPolicy returns the PostgreSQL statements that confine table to the
// rows whose column equals app.tenant_id, for the table owner too. Rows
// are invisible, and writes refused, when the setting is absent or
// empty (as it is on a connection after a transaction-local setting).
// Superusers and roles with BYPASSRLS are not confined: connect as an
// ordinary role.
func RLSPolicy(table, column string) (string, error) {
	if !validSQLName(table) || !validSQLName(column) {
		return "", fieldErr("rls", "table and column must be [a-z_][a-z0-9_]* names of at most 63 characters")
	}
	return fmt.Sprintf(`ALTER TABLE %[1]s ENABLE ROW LEVEL SECURITY;
ALTER TABLE %[1]s FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON %[1]s;
CREATE POLICY tenant_isolation ON %[1]s
  USING (%[2]s = NULLIF(current_setting('%[3]s', true), ''))
  WITH CHECK (%[2]s = NULLIF(current_setting('%[3]s', true), ''));`, table, column, RLSSetting), nil
}

func validSQLName(s string) bool {
	if s == "" || len(s) > 63 || '0' <= s[0] && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
