package tenancy_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/tenancy"
)

// isoOpener opens SQLite databases and counts its calls. fail, when set,
// is returned instead by the next calls while it is set.
type isoOpener struct {
	calls atomic.Int32
	mu    sync.Mutex
	fail  error
}

func (o *isoOpener) open(ctx context.Context, dsn string) (*sql.DB, error) {
	o.calls.Add(1)
	o.mu.Lock()
	err := o.fail
	o.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return sql.Open("sqlite", dsn)
}

func (o *isoOpener) setFail(err error) {
	o.mu.Lock()
	o.fail = err
	o.mu.Unlock()
}

type isoFixture struct {
	dir    string
	shared *sql.DB
	opener *isoOpener
	router *tenancy.DBRouter
}

func newIsoFixture(t *testing.T, opts tenancy.RouterOptions) *isoFixture {
	t.Helper()
	dir := t.TempDir()
	shared, err := sql.Open("sqlite", filepath.Join(dir, "shared.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = shared.Close() })
	f := &isoFixture{dir: dir, shared: shared, opener: &isoOpener{}}
	f.router, err = tenancy.NewDBRouter(shared, f.opener.open, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.router.Close() })
	return f
}

// dedicated returns a context carrying a dedicated tenant whose database
// is the file <dir>/<file>.
func (f *isoFixture) dedicated(id, file string) context.Context {
	return tenancy.WithTenant(context.Background(), &tenancy.Tenant{
		ID: id, Slug: id, Isolation: tenancy.IsolationDedicated, DSN: filepath.Join(f.dir, file),
	})
}

func isoCount(t *testing.T, db *sql.DB) int {
	t.Helper()
	ctx := context.Background()
	_, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS notes (body TEXT)")
	require.NoError(t, err)
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM notes").Scan(&n))
	return n
}

func TestDBRouterSharedTenant(t *testing.T) {
	f := newIsoFixture(t, tenancy.RouterOptions{})
	for _, iso := range []tenancy.Isolation{tenancy.IsolationShared, ""} {
		ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "s1", Isolation: iso})
		db, err := f.router.DB(ctx)
		require.NoError(t, err)
		assert.Same(t, f.shared, db)
	}
	assert.Zero(t, f.opener.calls.Load(), "shared tenants open nothing")
	assert.Zero(t, f.shared.Stats().MaxOpenConnections, "the shared pool's bounds are left alone")
}

func TestDBRouterDedicatedTenantsAreSeparate(t *testing.T) {
	f := newIsoFixture(t, tenancy.RouterOptions{})
	ctxA, ctxB := f.dedicated("a", "a.db"), f.dedicated("b", "b.db")
	dbA, err := f.router.DB(ctxA)
	require.NoError(t, err)
	dbB, err := f.router.DB(ctxB)
	require.NoError(t, err)
	require.NotSame(t, f.shared, dbA)
	require.NotSame(t, f.shared, dbB)
	require.NotSame(t, dbA, dbB)

	require.Zero(t, isoCount(t, dbA))
	_, err = dbA.ExecContext(ctxA, "INSERT INTO notes (body) VALUES ('only a')")
	require.NoError(t, err)

	assert.Equal(t, 1, isoCount(t, dbA))
	assert.Zero(t, isoCount(t, f.shared))
	assert.Zero(t, isoCount(t, dbB))
	assert.EqualValues(t, 2, f.opener.calls.Load())

	// The row is in a's file on disk.
	direct, err := sql.Open("sqlite", filepath.Join(f.dir, "a.db"))
	require.NoError(t, err)
	defer func() { _ = direct.Close() }()
	assert.Equal(t, 1, isoCount(t, direct))
}

func TestDBRouterReusesPoolOnce(t *testing.T) {
	f := newIsoFixture(t, tenancy.RouterOptions{})
	ctx := f.dedicated("a", "a.db")

	const n = 20
	dbs := make([]*sql.DB, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			db, err := f.router.DB(ctx)
			assert.NoError(t, err)
			dbs[i] = db
		})
	}
	close(start)
	wg.Wait()

	require.NotNil(t, dbs[0])
	for i, db := range dbs {
		assert.Same(t, dbs[0], db, "goroutine %d", i)
	}
	again, err := f.router.DB(ctx)
	require.NoError(t, err)
	assert.Same(t, dbs[0], again)
	assert.EqualValues(t, 1, f.opener.calls.Load(), "opened once")
}

func TestDBRouterPoolBounds(t *testing.T) {
	tests := []struct {
		name     string
		opts     tenancy.RouterOptions
		wantOpen int
	}{
		{"default", tenancy.RouterOptions{}, 4},
		{"set", tenancy.RouterOptions{MaxOpenConns: 7, MaxIdleConns: 3, ConnMaxIdleTime: time.Minute}, 7},
		{"negative means default", tenancy.RouterOptions{MaxOpenConns: -1}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newIsoFixture(t, tt.opts)
			db, err := f.router.DB(f.dedicated("a", "a.db"))
			require.NoError(t, err)
			assert.Equal(t, tt.wantOpen, db.Stats().MaxOpenConnections)
		})
	}
}

func TestDBRouterOpenErrorIsRetried(t *testing.T) {
	f := newIsoFixture(t, tenancy.RouterOptions{})
	ctx := f.dedicated("tenant-x1", "x.db")
	boom := errors.New("boom")

	f.opener.setFail(boom)
	db, err := f.router.DB(ctx)
	require.ErrorIs(t, err, boom)
	assert.Nil(t, db)
	assert.Contains(t, err.Error(), "tenant-x1")
	assert.EqualValues(t, 1, f.opener.calls.Load())

	f.opener.setFail(nil)
	db, err = f.router.DB(ctx)
	require.NoError(t, err, "the failure is not cached")
	assert.NotNil(t, db)
	assert.EqualValues(t, 2, f.opener.calls.Load())
	require.NoError(t, db.PingContext(ctx))
}

func TestDBRouterWaiterHonoursContext(t *testing.T) {
	dir := t.TempDir()
	shared, err := sql.Open("sqlite", filepath.Join(dir, "shared.db"))
	require.NoError(t, err)
	defer func() { _ = shared.Close() }()
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	router, err := tenancy.NewDBRouter(shared, func(ctx context.Context, dsn string) (*sql.DB, error) {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
		return sql.Open("sqlite", dsn)
	}, tenancy.RouterOptions{})
	require.NoError(t, err)
	defer func() { _ = router.Close() }()
	tn := &tenancy.Tenant{ID: "a", Isolation: tenancy.IsolationDedicated, DSN: filepath.Join(dir, "a.db")}

	first := make(chan *sql.DB, 1)
	go func() {
		db, err := router.DB(tenancy.WithTenant(context.Background(), tn))
		assert.NoError(t, err)
		first <- db
	}()
	<-entered // the first caller is opening the pool

	cctx, cancel := context.WithCancel(tenancy.WithTenant(context.Background(), tn))
	cancel()
	_, err = router.DB(cctx)
	require.ErrorIs(t, err, context.Canceled, "a waiter gives up with its context")

	close(release)
	db := <-first
	require.NotNil(t, db)
	again, err := router.DB(tenancy.WithTenant(context.Background(), tn))
	require.NoError(t, err)
	assert.Same(t, db, again)
	assert.EqualValues(t, 1, calls.Load())
}

func TestDBRouterDSNChangeOpensNewPool(t *testing.T) {
	f := newIsoFixture(t, tenancy.RouterOptions{})
	oldDB, err := f.router.DB(f.dedicated("a", "a-old.db"))
	require.NoError(t, err)
	require.NoError(t, oldDB.Ping())

	newDB, err := f.router.DB(f.dedicated("a", "a-new.db"))
	require.NoError(t, err)
	assert.NotSame(t, oldDB, newDB)
	assert.EqualValues(t, 2, f.opener.calls.Load())
	require.NoError(t, newDB.Ping())

	again, err := f.router.DB(f.dedicated("a", "a-new.db"))
	require.NoError(t, err)
	assert.Same(t, newDB, again)

	// The retired pool is closed in the background.
	await.True(t, func() bool { return oldDB.Ping() != nil },
		"the old pool is closed")
}

func TestDBRouterForget(t *testing.T) {
	f := newIsoFixture(t, tenancy.RouterOptions{})
	ctxA, ctxB := f.dedicated("a", "a.db"), f.dedicated("b", "b.db")
	dbA, err := f.router.DB(ctxA)
	require.NoError(t, err)
	dbB, err := f.router.DB(ctxB)
	require.NoError(t, err)
	require.NoError(t, dbA.Ping())

	f.router.Forget("a")
	assert.Error(t, dbA.Ping(), "a forgotten pool is closed")
	assert.Error(t, dbA.QueryRow("SELECT 1").Scan(new(int)))
	assert.NoError(t, dbB.Ping(), "other tenants' pools stay open")

	f.router.Forget("a")       // twice: no-op
	f.router.Forget("unknown") // never opened: no-op

	reopened, err := f.router.DB(ctxA)
	require.NoError(t, err)
	assert.NotSame(t, dbA, reopened)
	assert.NoError(t, reopened.Ping())
	assert.EqualValues(t, 3, f.opener.calls.Load())
}

func TestDBRouterClose(t *testing.T) {
	f := newIsoFixture(t, tenancy.RouterOptions{})
	ctxA, ctxB := f.dedicated("a", "a.db"), f.dedicated("b", "b.db")
	dbA, err := f.router.DB(ctxA)
	require.NoError(t, err)
	dbB, err := f.router.DB(ctxB)
	require.NoError(t, err)

	require.NoError(t, f.router.Close())
	assert.Error(t, dbA.Ping())
	assert.Error(t, dbB.Ping())
	assert.NoError(t, f.shared.Ping(), "the shared pool is the caller's to close")

	for _, ctx := range []context.Context{ctxA, f.dedicated("c", "c.db")} {
		db, err := f.router.DB(ctx)
		assert.Error(t, err, "a closed router opens nothing")
		assert.Nil(t, db)
	}
	assert.EqualValues(t, 2, f.opener.calls.Load())
}

func TestDBRouterNoTenant(t *testing.T) {
	f := newIsoFixture(t, tenancy.RouterOptions{})
	db, err := f.router.DB(context.Background())
	require.ErrorIs(t, err, tenancy.ErrNoTenant)
	assert.Nil(t, db)
}

func TestNewDBRouterInvalid(t *testing.T) {
	shared, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "shared.db"))
	require.NoError(t, err)
	defer func() { _ = shared.Close() }()
	open := func(ctx context.Context, dsn string) (*sql.DB, error) { return sql.Open("sqlite", dsn) }

	r, err := tenancy.NewDBRouter(nil, open, tenancy.RouterOptions{})
	require.ErrorIs(t, err, tenancy.ErrInvalid)
	assert.Nil(t, r)

	r, err = tenancy.NewDBRouter(shared, nil, tenancy.RouterOptions{})
	require.ErrorIs(t, err, tenancy.ErrInvalid)
	assert.Nil(t, r)
}

func TestRLSPolicy(t *testing.T) {
	valid := []struct{ table, column string }{
		{"notes", "tenant_id"},
		{"_t1", "c_2"},
		{strings.Repeat("a", 63), strings.Repeat("b", 63)},
	}
	for _, v := range valid {
		t.Run("valid "+v.table+"."+v.column, func(t *testing.T) {
			stmt, err := tenancy.RLSPolicy(v.table, v.column)
			require.NoError(t, err)
			assert.Contains(t, stmt, "ALTER TABLE "+v.table+" ENABLE ROW LEVEL SECURITY")
			assert.Contains(t, stmt, "ALTER TABLE "+v.table+" FORCE ROW LEVEL SECURITY")
			assert.Contains(t, stmt, "current_setting('app.tenant_id', true)")
			assert.Contains(t, stmt, "USING ("+v.column+" = ")
			assert.Contains(t, stmt, "WITH CHECK ("+v.column+" = ")
		})
	}
	invalid := []struct{ table, column string }{
		{"x; drop", "tenant_id"},
		{"Upper", "tenant_id"},
		{"1abc", "tenant_id"},
		{strings.Repeat("a", 64), "tenant_id"},
		{"", "tenant_id"},
		{"a.b", "tenant_id"},
		{"a-b", "tenant_id"},
		{`"quoted"`, "tenant_id"},
		{"notes", "x; drop"},
		{"notes", "Tenant"},
		{"notes", "1c"},
		{"notes", strings.Repeat("c", 64)},
		{"notes", ""},
		{"notes", "tenant_id) OR (true"},
	}
	for _, v := range invalid {
		t.Run(fmt.Sprintf("invalid %q %q", v.table, v.column), func(t *testing.T) {
			stmt, err := tenancy.RLSPolicy(v.table, v.column)
			require.ErrorIs(t, err, tenancy.ErrInvalid)
			assert.Empty(t, stmt)
		})
	}
}

func TestWithTenantTxNoTenant(t *testing.T) {
	called := false
	err := tenancy.WithTenantTx(context.Background(), nil, func(*sql.Tx) error {
		called = true
		return nil
	})
	require.ErrorIs(t, err, tenancy.ErrNoTenant)
	assert.False(t, called)
}

func isoRandHex(t *testing.T) string {
	t.Helper()
	var b [8]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return hex.EncodeToString(b[:])
}

// TestWithTenantTxPostgres proves row-level security with a real
// PostgreSQL: the app connects as an ordinary role (superusers bypass
// RLS) over a single pooled connection, so a leaked setting would show.
func TestWithTenantTxPostgres(t *testing.T) {
	dsn := os.Getenv("SAASKIT_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("SAASKIT_TEST_POSTGRES_DSN is unset: skipping PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a pinned connection must not hang the run
	defer cancel()
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	require.NoError(t, admin.PingContext(ctx), "SAASKIT_TEST_POSTGRES_DSN is set but the database is unreachable")

	suffix := isoRandHex(t)
	schema, role := "saaskit_rls_"+suffix, "saaskit_app_"+suffix
	notes := schema + ".notes"

	_, err = admin.ExecContext(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := admin.ExecContext(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		assert.NoError(t, err)
	})
	_, err = admin.ExecContext(ctx, "CREATE ROLE "+role+" LOGIN NOSUPERUSER NOBYPASSRLS")
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx := context.Background()
		_, err := admin.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
		assert.NoError(t, err)
		_, err = admin.ExecContext(ctx, "DROP OWNED BY "+role+"; DROP ROLE IF EXISTS "+role)
		assert.NoError(t, err)
	})
	_, err = admin.ExecContext(ctx, fmt.Sprintf(
		"CREATE TABLE %[1]s (tenant_id text, body text); GRANT USAGE ON SCHEMA %[2]s TO %[3]s; GRANT SELECT, INSERT ON %[1]s TO %[3]s",
		notes, schema, role))
	require.NoError(t, err)

	policy, err := tenancy.RLSPolicy("notes", "tenant_id")
	require.NoError(t, err)
	tx, err := admin.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, "SET LOCAL search_path TO "+schema)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, policy)
	require.NoError(t, err)
	require.NoError(t, tx.Commit())

	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.User = url.User(role)
	app, err := sql.Open("pgx", u.String())
	require.NoError(t, err)
	app.SetMaxOpenConns(1) // one connection, reused by every call below
	t.Cleanup(func() { _ = app.Close() })

	var pid int
	var super, bypass bool
	require.NoError(t, app.QueryRowContext(ctx,
		"SELECT pg_backend_pid(), rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").Scan(&pid, &super, &bypass))
	require.False(t, super)
	require.False(t, bypass)

	ctxA := tenancy.WithTenant(ctx, &tenancy.Tenant{ID: "a"})
	ctxB := tenancy.WithTenant(ctx, &tenancy.Tenant{ID: "b"})
	bodies := func(t *testing.T, ctx context.Context, q interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}) []string {
		t.Helper()
		rows, err := q.QueryContext(ctx, "SELECT body FROM "+notes+" ORDER BY body")
		require.NoError(t, err)
		defer func() { _ = rows.Close() }()
		out := []string{}
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			out = append(out, s)
		}
		require.NoError(t, rows.Err())
		return out
	}
	// setting returns app.tenant_id outside any transaction and checks
	// that the single connection is the one the transactions used.
	setting := func(t *testing.T) sql.NullString {
		t.Helper()
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second) // a pinned connection would block
		defer cancel()
		var s sql.NullString
		var p int
		require.NoError(t, app.QueryRowContext(qctx,
			"SELECT current_setting('app.tenant_id', true), pg_backend_pid()").Scan(&s, &p))
		require.Equal(t, pid, p, "the same pooled connection")
		return s
	}
	assertNoLeak := func(t *testing.T, msg string) {
		t.Helper()
		s := setting(t)
		assert.True(t, !s.Valid || s.String == "", "%s: app.tenant_id leaked: %q", msg, s.String)
	}
	assertRLSViolation := func(t *testing.T, err error) {
		t.Helper()
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr)
		assert.Equal(t, "42501", pgErr.Code, pgErr.Message) // new row violates row-level security policy
	}

	t.Run("a row of another tenant is refused", func(t *testing.T) {
		err := tenancy.WithTenantTx(ctxA, app, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctxA, "INSERT INTO "+notes+" VALUES ('b', 'forged')")
			return err
		})
		assertRLSViolation(t, err)
		assertNoLeak(t, "after a refused insert")
	})

	t.Run("each tenant sees only its rows", func(t *testing.T) {
		require.NoError(t, tenancy.WithTenantTx(ctxA, app, func(tx *sql.Tx) error {
			var s string
			var p int
			require.NoError(t, tx.QueryRowContext(ctxA, "SELECT current_setting('app.tenant_id'), pg_backend_pid()").Scan(&s, &p))
			assert.Equal(t, "a", s)
			assert.Equal(t, pid, p)
			_, err := tx.ExecContext(ctxA, "INSERT INTO "+notes+" VALUES ('a', 'a1'), ('a', 'a2')")
			require.NoError(t, err)
			assert.Equal(t, []string{"a1", "a2"}, bodies(t, ctxA, tx))
			return nil
		}))
		assertNoLeak(t, "after a's transaction")

		require.NoError(t, tenancy.WithTenantTx(ctxB, app, func(tx *sql.Tx) error {
			assert.Empty(t, bodies(t, ctxB, tx), "a's rows are invisible to b")
			_, err := tx.ExecContext(ctxB, "INSERT INTO "+notes+" VALUES ('b', 'b1')")
			require.NoError(t, err)
			assert.Equal(t, []string{"b1"}, bodies(t, ctxB, tx))
			return nil
		}))
		require.NoError(t, tenancy.WithTenantTx(ctxA, app, func(tx *sql.Tx) error {
			assert.Equal(t, []string{"a1", "a2"}, bodies(t, ctxA, tx), "committed, and b's row invisible")
			return nil
		}))

		assert.Empty(t, bodies(t, ctx, app), "outside a tenant transaction no row is visible")
		assert.Equal(t, []string{"a1", "a2", "b1"}, bodies(t, ctx, admin), "the rows exist")
		assertNoLeak(t, "after b's transaction")
	})

	t.Run("fn's error rolls back", func(t *testing.T) {
		errFn := errors.New("fn failed")
		err := tenancy.WithTenantTx(ctxA, app, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctxA, "INSERT INTO "+notes+" VALUES ('a', 'discarded')")
			require.NoError(t, err)
			return errFn
		})
		require.ErrorIs(t, err, errFn)
		assertNoLeak(t, "after a failed transaction")
		require.NoError(t, tenancy.WithTenantTx(ctxA, app, func(tx *sql.Tx) error {
			assert.Equal(t, []string{"a1", "a2"}, bodies(t, ctxA, tx), "the insert was rolled back")
			return nil
		}))
	})

	t.Run("a panic in fn rolls back and frees the connection", func(t *testing.T) {
		assert.PanicsWithValue(t, "fn panicked", func() {
			_ = tenancy.WithTenantTx(ctxA, app, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctxA, "INSERT INTO "+notes+" VALUES ('a', 'panicked')")
				require.NoError(t, err)
				panic("fn panicked")
			})
		})
		assertNoLeak(t, "after a panicking transaction")
		require.NoError(t, tenancy.WithTenantTx(ctxA, app, func(tx *sql.Tx) error {
			assert.Equal(t, []string{"a1", "a2"}, bodies(t, ctxA, tx), "the insert was rolled back")
			return nil
		}))
	})

	t.Run("writes are refused without a tenant", func(t *testing.T) {
		// This connection has run tenant transactions, so the setting
		// exists with an empty value: it must still count as absent.
		for _, v := range []string{"''", "NULL"} {
			_, err := app.ExecContext(ctx, "INSERT INTO "+notes+" VALUES ("+v+", 'no tenant')")
			assertRLSViolation(t, err)
		}
		assert.Equal(t, []string{"a1", "a2", "b1"}, bodies(t, ctx, admin))
	})

	t.Run("no tenant", func(t *testing.T) {
		called := false
		err := tenancy.WithTenantTx(ctx, app, func(*sql.Tx) error { called = true; return nil })
		require.ErrorIs(t, err, tenancy.ErrNoTenant)
		assert.False(t, called)
	})
}
