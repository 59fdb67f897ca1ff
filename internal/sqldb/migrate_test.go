package sqldb_test

import (
	"context"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

func TestLoadMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_add_index.sql": {Data: []byte("CREATE INDEX i ON t (x);")},
		"m/0001_init.sql":      {Data: []byte("CREATE TABLE t (x INTEGER);")},
		"m/10_later.sql":       {Data: []byte("SELECT 1;")},
		"m/README.md":          {Data: []byte("not a migration")},
		"m/old/0003_x.sql":     {Data: []byte("ignored: in a subdirectory")},
	}
	ms, err := sqldb.LoadMigrations(fsys, "m")
	require.NoError(t, err)
	assert.Equal(t, []sqldb.Migration{
		{Version: 1, Name: "init", SQL: "CREATE TABLE t (x INTEGER);"},
		{Version: 2, Name: "add_index", SQL: "CREATE INDEX i ON t (x);"},
		{Version: 10, Name: "later", SQL: "SELECT 1;"},
	}, ms)
}

func TestLoadMigrationsErrors(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("SELECT 1;")}
	tests := []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"duplicate version", fstest.MapFS{"m/0001_a.sql": file, "m/1_b.sql": file}, "duplicate version 1"},
		{"no underscore", fstest.MapFS{"m/0001.sql": file}, "0001.sql: name must be NNNN_name.sql"},
		{"no version", fstest.MapFS{"m/init.sql": file}, "init.sql: name must be"},
		{"space in name", fstest.MapFS{"m/0001_my init.sql": file}, "0001_my init.sql: name must be"},
		{"empty name", fstest.MapFS{"m/0001_.sql": file}, "0001_.sql: name must be"},
		{"version zero", fstest.MapFS{"m/0000_zero.sql": file}, "0000_zero.sql: version must be a positive integer"},
		{"version overflow", fstest.MapFS{"m/99999999999999999999_big.sql": file}, "version must be a positive integer"},
		{"empty directory", fstest.MapFS{"m/README.md": file}, `directory "m" holds no NNNN_name.sql files`},
		{"missing directory", fstest.MapFS{"other/0001_a.sql": file}, "load migrations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := sqldb.LoadMigrations(tt.fsys, "m")
			require.Error(t, err)
			assert.Nil(t, ms)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

var testMigrations = []sqldb.Migration{
	{Version: 1, Name: "init", SQL: `CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
		CREATE TABLE applied (marker TEXT NOT NULL);
		INSERT INTO applied (marker) VALUES ('1');`},
	{Version: 2, Name: "add_color", SQL: `ALTER TABLE widgets ADD COLUMN color TEXT;
		INSERT INTO applied (marker) VALUES ('2');`},
}

// count runs a SELECT count(*) query.
func count(t *testing.T, db *sqldb.DB, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(db.Dialect.Rebind(query), args...).Scan(&n))
	return n
}

func TestMigrate(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		require.NoError(t, db.Migrate(ctx, "widgets", testMigrations[:1]))
		assert.Equal(t, 1, count(t, db, "SELECT count(*) FROM applied"))

		// A later build brings version 2; only it runs.
		require.NoError(t, db.Migrate(ctx, "widgets", testMigrations))
		assert.Equal(t, 2, count(t, db, "SELECT count(*) FROM applied"))
		_, err := db.Exec("INSERT INTO widgets (id, name, color) VALUES (1, 'w', 'red')")
		require.NoError(t, err)

		// Idempotent.
		require.NoError(t, db.Migrate(ctx, "widgets", testMigrations))
		assert.Equal(t, 2, count(t, db, "SELECT count(*) FROM applied"))

		rows, err := db.Query("SELECT component, version, name, applied_at FROM saaskit_migrations ORDER BY version")
		require.NoError(t, err)
		defer rows.Close()
		var names []string
		for rows.Next() {
			var component, name string
			var version int
			var at time.Time
			require.NoError(t, rows.Scan(&component, &version, &name, &at))
			assert.Equal(t, "widgets", component)
			assert.False(t, at.IsZero())
			names = append(names, name)
		}
		require.NoError(t, rows.Err())
		assert.Equal(t, []string{"init", "add_color"}, names)
	})
}

func TestMigrateComponentsAreSeparate(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		require.NoError(t, db.Migrate(ctx, "a", []sqldb.Migration{{Version: 1, Name: "a", SQL: "CREATE TABLE a (x INTEGER)"}}))
		require.NoError(t, db.Migrate(ctx, "b", []sqldb.Migration{{Version: 1, Name: "b", SQL: "CREATE TABLE b (x INTEGER)"}}))
		assert.Equal(t, 2, count(t, db, "SELECT count(*) FROM saaskit_migrations"))
		assert.Equal(t, 1, count(t, db, "SELECT count(*) FROM saaskit_migrations WHERE component = ?", "b"))
	})
}

func TestMigrateFailureRollsBack(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		ms := []sqldb.Migration{
			testMigrations[0],
			{Version: 2, Name: "broken", SQL: "CREATE TABLE ok (x INTEGER); THIS IS NOT SQL;"},
		}
		err := db.Migrate(ctx, "widgets", ms)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "widgets")
		assert.Contains(t, err.Error(), "version 2")
		assert.Contains(t, err.Error(), "0002_broken.sql")

		// Everything ran in one transaction: version 1 and even the
		// saaskit_migrations table are gone.
		for _, table := range []string{"widgets", "ok", "saaskit_migrations"} {
			_, err = db.Exec("SELECT 1 FROM " + table)
			assert.Error(t, err, "table %s was rolled back", table)
		}

		require.NoError(t, db.Migrate(ctx, "widgets", testMigrations), "a fixed build migrates")
		assert.Equal(t, 2, count(t, db, "SELECT count(*) FROM applied"))
	})
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		newer := append(append([]sqldb.Migration{}, testMigrations...),
			sqldb.Migration{Version: 3, Name: "more", SQL: "INSERT INTO applied (marker) VALUES ('3')"})
		require.NoError(t, db.Migrate(ctx, "widgets", newer))

		err := db.Migrate(ctx, "widgets", testMigrations)
		require.ErrorIs(t, err, sqldb.ErrNewerSchema)
		assert.Contains(t, err.Error(), "widgets")
		assert.Contains(t, err.Error(), "version 3")
		assert.Contains(t, err.Error(), "latest known 2")
		assert.Equal(t, 3, count(t, db, "SELECT count(*) FROM applied"))
	})
}

func TestMigrateRejectsBadInput(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		tests := []struct {
			name      string
			component string
			ms        []sqldb.Migration
			want      string
		}{
			{"empty component", "", testMigrations, "component is empty"},
			{"no migrations", "c", nil, "no migrations"},
			{"duplicate", "c", []sqldb.Migration{{Version: 1, Name: "a"}, {Version: 1, Name: "b"}}, "0001_a.sql and 0001_b.sql: duplicate version 1"},
			{"zero version", "c", []sqldb.Migration{{Version: 0, Name: "a"}}, "version must be positive"},
			{"negative version", "c", []sqldb.Migration{{Version: -1, Name: "a"}}, "version must be positive"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := db.Migrate(ctx, tt.component, tt.ms)
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.want)
			})
		}
	})
}

// Processes starting together all call Migrate; the migrations run once.
func TestMigrateConcurrent(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		const n = 4
		dbs := make([]*sqldb.DB, n)
		for i := range dbs {
			dbs[i] = sqldbtest.Reopen(t, db) // one handle per "process"
		}
		start := make(chan struct{})
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, other := range dbs {
			wg.Go(func() {
				<-start
				errs[i] = other.Migrate(context.Background(), "widgets", testMigrations)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			assert.NoError(t, err, "process %d", i)
		}
		assert.Equal(t, 2, count(t, db, "SELECT count(*) FROM applied"), "each migration ran once")
		assert.Equal(t, 2, count(t, db, "SELECT count(*) FROM saaskit_migrations WHERE component = ?", "widgets"))
	})
}
