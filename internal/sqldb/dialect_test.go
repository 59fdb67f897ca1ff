package sqldb_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

func TestDialectString(t *testing.T) {
	assert.Equal(t, "sqlite", sqldb.SQLite.String())
	assert.Equal(t, "postgres", sqldb.Postgres.String())
	assert.Equal(t, "Dialect(0)", sqldb.Dialect(0).String())
}

func TestDialectTypes(t *testing.T) {
	tests := []struct {
		d                      sqldb.Dialect
		json, time, skipLocked string
	}{
		{sqldb.SQLite, "TEXT", "TIMESTAMP", ""},
		{sqldb.Postgres, "JSONB", "TIMESTAMPTZ", " FOR UPDATE SKIP LOCKED"},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			assert.Equal(t, tt.json, tt.d.JSONType())
			assert.Equal(t, tt.time, tt.d.TimeType())
			assert.Equal(t, tt.skipLocked, tt.d.SkipLocked())
		})
	}
}

func TestRebind(t *testing.T) {
	tests := []struct {
		name, in, postgres string
	}{
		{"none", "SELECT 1", "SELECT 1"},
		{"empty", "", ""},
		{"one", "SELECT * FROM t WHERE id = ?", "SELECT * FROM t WHERE id = $1"},
		{"several", "INSERT INTO t (a, b, c) VALUES (?, ?, ?)", "INSERT INTO t (a, b, c) VALUES ($1, $2, $3)"},
		{"adjacent", "??", "$1$2"},
		{"ten", strings.Repeat("?,", 10), "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,"},
		{"quoted", "SELECT '?' , ?", "SELECT '?' , $1"},
		{"doubled quote", "SELECT 'it''s ?', ? WHERE x = 'a?b'", "SELECT 'it''s ?', $1 WHERE x = 'a?b'"},
		{"empty literal", "SELECT '', ?", "SELECT '', $1"},
		{"unterminated literal", "SELECT ?, 'oops ?", "SELECT $1, 'oops ?"},
		{"utf8", "SELECT 'é?', ?, 'ü'", "SELECT 'é?', $1, 'ü'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.postgres, sqldb.Postgres.Rebind(tt.in))
			assert.Equal(t, tt.in, sqldb.SQLite.Rebind(tt.in))
		})
	}
}

// unquotedMarks counts the '?' outside single-quoted literals.
func unquotedMarks(s string) int {
	n, quoted := 0, false
	for _, c := range []byte(s) {
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
		}
	}
	return n
}

func FuzzRebind(f *testing.F) {
	for _, s := range []string{"", "?", "'?'", "SELECT ? FROM t WHERE a = '?' AND b = ?", "'it''s' ?", "'", "$1 ?"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		out := sqldb.Postgres.Rebind(q)
		want := unquotedMarks(q)
		// Rebind only adds $n where q had '?', so count the $n it wrote by
		// subtracting the '$' already in q.
		got := strings.Count(out, "$") - strings.Count(q, "$")
		if got != want {
			t.Fatalf("Rebind(%q) = %q: %d placeholders, want %d", q, out, got, want)
		}
		if strings.Count(out, "?") != strings.Count(q, "?")-want {
			t.Fatalf("Rebind(%q) = %q left an unquoted '?'", q, out)
		}
		for i := 1; i <= want; i++ {
			if !strings.Contains(out, "$"+strconv.Itoa(i)) {
				t.Fatalf("Rebind(%q) = %q lacks $%d", q, out, i)
			}
		}
		if sqldb.SQLite.Rebind(q) != q {
			t.Fatalf("SQLite.Rebind changed %q", q)
		}
	})
}

func TestUpsertSQL(t *testing.T) {
	tests := []struct {
		name           string
		conflict, cols []string
		sqlite         string
		postgres       string
	}{
		{
			name: "update", conflict: []string{"id"}, cols: []string{"id", "a", "b"},
			sqlite:   "INSERT INTO t (id, a, b) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET a = excluded.a, b = excluded.b",
			postgres: "INSERT INTO t (id, a, b) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET a = excluded.a, b = excluded.b",
		},
		{
			name: "composite key", conflict: []string{"tenant", "id"}, cols: []string{"tenant", "id", "a"},
			sqlite:   "INSERT INTO t (tenant, id, a) VALUES (?, ?, ?) ON CONFLICT (tenant, id) DO UPDATE SET a = excluded.a",
			postgres: "INSERT INTO t (tenant, id, a) VALUES ($1, $2, $3) ON CONFLICT (tenant, id) DO UPDATE SET a = excluded.a",
		},
		{
			name: "only keys", conflict: []string{"id"}, cols: []string{"id"},
			sqlite:   "INSERT INTO t (id) VALUES (?) ON CONFLICT (id) DO NOTHING",
			postgres: "INSERT INTO t (id) VALUES ($1) ON CONFLICT (id) DO NOTHING",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.sqlite, sqldb.SQLite.Upsert("t", tt.conflict, tt.cols))
			assert.Equal(t, tt.postgres, sqldb.Postgres.Upsert("t", tt.conflict, tt.cols))
		})
	}
}

func TestUpsert(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		_, err := db.ExecContext(ctx, "CREATE TABLE kv (tenant TEXT, k TEXT, v TEXT, n INTEGER, PRIMARY KEY (tenant, k))")
		require.NoError(t, err)
		upsert := db.Dialect.Upsert("kv", []string{"tenant", "k"}, []string{"tenant", "k", "v", "n"})
		for _, row := range [][]any{
			{"t1", "a", "first", 1},
			{"t1", "b", "other", 2},
			{"t2", "a", "tenant two", 3},
			{"t1", "a", "second", 4}, // updates the first row
		} {
			_, err := db.ExecContext(ctx, upsert, row...)
			require.NoError(t, err)
		}
		rows, err := db.QueryContext(ctx, "SELECT tenant, k, v, n FROM kv ORDER BY tenant, k")
		require.NoError(t, err)
		defer rows.Close()
		var got []string
		for rows.Next() {
			var tenant, k, v string
			var n int
			require.NoError(t, rows.Scan(&tenant, &k, &v, &n))
			got = append(got, tenant+"/"+k+"="+v+"/"+strconv.Itoa(n))
		}
		require.NoError(t, rows.Err())
		assert.Equal(t, []string{"t1/a=second/4", "t1/b=other/2", "t2/a=tenant two/3"}, got)
	})
}

func TestDialectOf(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		d, err := sqldb.DialectOf(db.DB)
		require.NoError(t, err)
		assert.Equal(t, db.Dialect, d)
		assert.Equal(t, t.Name()[strings.LastIndex(t.Name(), "/")+1:], d.String())
	})
}

type fakeDriver struct{}

func (fakeDriver) Open(string) (driver.Conn, error) { return nil, errors.New("fake") }

type fakeConnector struct{}

func (fakeConnector) Connect(context.Context) (driver.Conn, error) { return nil, errors.New("fake") }
func (fakeConnector) Driver() driver.Driver                        { return fakeDriver{} }

func TestDialectOfUnknownDriver(t *testing.T) {
	db := sql.OpenDB(fakeConnector{})
	defer db.Close()
	_, err := sqldb.DialectOf(db)
	require.ErrorIs(t, err, sqldb.ErrUnsupported)
	assert.Contains(t, err.Error(), "sqldb_test.fakeDriver")

	_, err = sqldb.DialectOf(nil)
	require.ErrorIs(t, err, sqldb.ErrUnsupported)
}

func TestSkipLocked(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		_, err := db.ExecContext(ctx, "CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT NOT NULL)")
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, "INSERT INTO jobs (id, state) VALUES (1, 'ready'), (2, 'ready'), (3, 'done')")
		require.NoError(t, err)
		claim := db.Dialect.Rebind("SELECT id FROM jobs WHERE state = ? ORDER BY id LIMIT 1" + db.Dialect.SkipLocked())

		tx1, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer tx1.Rollback()
		var first int
		require.NoError(t, tx1.QueryRowContext(ctx, claim, "ready").Scan(&first))
		assert.Equal(t, 1, first)

		if db.Dialect != sqldb.Postgres {
			return // SQLite admits one writer at a time; the claim query only has to run
		}
		tx2, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer tx2.Rollback()
		var second int
		require.NoError(t, tx2.QueryRowContext(ctx, claim, "ready").Scan(&second))
		assert.Equal(t, 2, second, "the second transaction skips the row the first holds")

		var none int
		err = tx2.QueryRowContext(ctx, db.Dialect.Rebind("SELECT id FROM jobs WHERE id = ?"+db.Dialect.SkipLocked()), 1).Scan(&none)
		assert.ErrorIs(t, err, sql.ErrNoRows)
	})
}

func TestJSONColumn(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		_, err := db.ExecContext(ctx, "CREATE TABLE docs (id INTEGER PRIMARY KEY, body "+db.Dialect.JSONType()+" NOT NULL)")
		require.NoError(t, err)
		doc := `{"name": "ünïcode ?", "tags": ["a", "b"], "n": 1.5, "nested": {"ok": true, "nil": null}}`
		insert := db.Dialect.Rebind("INSERT INTO docs (id, body) VALUES (?, ?)")
		_, err = db.ExecContext(ctx, insert, 1, doc)
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, insert, 2, []byte(doc))
		require.NoError(t, err)

		for _, id := range []int{1, 2} {
			var s string
			require.NoError(t, db.QueryRowContext(ctx, db.Dialect.Rebind("SELECT body FROM docs WHERE id = ?"), id).Scan(&s))
			assert.JSONEq(t, doc, s)
			var b []byte
			require.NoError(t, db.QueryRowContext(ctx, db.Dialect.Rebind("SELECT body FROM docs WHERE id = ?"), id).Scan(&b))
			assert.JSONEq(t, doc, string(b))
		}
	})
}
