package sqldb_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

func TestTimestamp(t *testing.T) {
	in := time.Date(2025, 3, 30, 1, 59, 59, 123456789, time.FixedZone("CEST", 2*3600))
	got := sqldb.Timestamp(in)
	assert.Equal(t, time.UTC, got.Location())
	assert.Equal(t, 123456000, got.Nanosecond())
	assert.True(t, got.Equal(in.Truncate(time.Microsecond)))
}

func TestTimeRoundTrip(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		_, err := db.ExecContext(ctx, "CREATE TABLE ts (id INTEGER PRIMARY KEY, at "+db.Dialect.TimeType()+", maybe "+db.Dialect.TimeType()+")")
		require.NoError(t, err)

		berlin, err := time.LoadLocation("Europe/Berlin")
		if err != nil {
			berlin = time.FixedZone("CET", 3600)
		}
		times := []time.Time{
			time.Date(2024, 2, 29, 23, 59, 59, 999999000, time.UTC),
			time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC),
			time.Date(2030, 6, 15, 12, 30, 0, 1000, time.UTC),
			sqldb.Timestamp(time.Now()),
			time.Date(2025, 10, 26, 2, 30, 0, 500000000, berlin), // not UTC: still the same instant back
		}
		insert := db.Dialect.Rebind("INSERT INTO ts (id, at, maybe) VALUES (?, ?, ?)")
		for i, at := range times {
			var maybe sql.NullTime
			if i%2 == 0 {
				maybe = sql.NullTime{Time: at, Valid: true}
			}
			_, err := db.ExecContext(ctx, insert, i, at, maybe)
			require.NoError(t, err)
		}
		query := db.Dialect.Rebind("SELECT at, maybe FROM ts WHERE id = ?")
		for i, want := range times {
			var got time.Time
			var maybe sql.NullTime
			require.NoError(t, db.QueryRowContext(ctx, query, i).Scan(&got, &maybe))
			assert.True(t, want.Equal(got), "row %d: wrote %v, read %v", i, want, got)
			assert.Equal(t, i%2 == 0, maybe.Valid, "row %d", i)
			if maybe.Valid {
				assert.True(t, want.Equal(maybe.Time), "row %d: wrote %v, read %v", i, want, maybe.Time)
			}
		}
	})
}

// SQLite keeps nanoseconds; PostgreSQL keeps microseconds.
func TestTimePrecision(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		_, err := db.Exec("CREATE TABLE ts (at " + db.Dialect.TimeType() + ")")
		require.NoError(t, err)
		in := time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC)
		_, err = db.Exec(db.Dialect.Rebind("INSERT INTO ts (at) VALUES (?)"), in)
		require.NoError(t, err)
		var got time.Time
		require.NoError(t, db.QueryRow("SELECT at FROM ts").Scan(&got))
		want := in
		if db.Dialect == sqldb.Postgres {
			want = in.Truncate(time.Microsecond)
		}
		assert.True(t, want.Equal(got), "wrote %v, read %v", in, got)
		assert.True(t, sqldb.Timestamp(in).Equal(sqldb.Timestamp(got)))
	})
}

// UTC times from Timestamp order and compare correctly in SQL on both
// engines (SQLite compares them as text).
func TestTimeOrdering(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		_, err := db.ExecContext(ctx, "CREATE TABLE ev (id INTEGER PRIMARY KEY, at "+db.Dialect.TimeType()+" NOT NULL)")
		require.NoError(t, err)
		base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
		offsets := []time.Duration{ // inserted out of order, with and without fractions
			time.Second, 0, 500 * time.Millisecond, 450 * time.Millisecond, time.Microsecond, 10 * time.Hour, -time.Microsecond,
		}
		for i, d := range offsets {
			_, err := db.ExecContext(ctx, db.Dialect.Rebind("INSERT INTO ev (id, at) VALUES (?, ?)"), i, sqldb.Timestamp(base.Add(d)))
			require.NoError(t, err)
		}
		rows, err := db.QueryContext(ctx, db.Dialect.Rebind("SELECT at FROM ev WHERE at > ? ORDER BY at"), sqldb.Timestamp(base))
		require.NoError(t, err)
		defer rows.Close()
		var got []time.Duration
		for rows.Next() {
			var at time.Time
			require.NoError(t, rows.Scan(&at))
			got = append(got, at.Sub(base))
		}
		require.NoError(t, rows.Err())
		assert.Equal(t, []time.Duration{time.Microsecond, 450 * time.Millisecond, 500 * time.Millisecond, time.Second, 10 * time.Hour}, got)
	})
}
