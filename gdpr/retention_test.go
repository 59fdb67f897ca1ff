package gdpr_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/gdprtest"
	"github.com/saaskit/saaskit/gdpr/memstore"
	"github.com/saaskit/saaskit/gdpr/sqlsource"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/internal/testclock"
)

// sessions is a table of dated rows: ada's from 400 and 10 days ago,
// bob's and carol's from 400 days ago.
func sessionsSource(t *testing.T, db *sqldb.DB, now time.Time) gdpr.Source {
	t.Helper()
	_, err := db.Exec(`CREATE TABLE sessions (id TEXT PRIMARY KEY, tenant_id TEXT, user_id TEXT, ip TEXT, created_at TIMESTAMP, restricted BOOLEAN DEFAULT FALSE)`)
	require.NoError(t, err)
	for _, row := range [][]any{
		{"s1", "acme", "usr_ada", "10.0.0.1", now.AddDate(0, 0, -400)},
		{"s2", "acme", "usr_ada", "10.0.0.2", now.AddDate(0, 0, -10)},
		{"s3", "acme", "usr_bob", "10.0.0.3", now.AddDate(0, 0, -400)},
		{"s4", "acme", "usr_carol", "10.0.0.4", now.AddDate(0, 0, -400)},
	} {
		_, err := db.Exec(db.Dialect.Rebind("INSERT INTO sessions (id, tenant_id, user_id, ip, created_at) VALUES (?, ?, ?, ?, ?)"), row...)
		require.NoError(t, err)
	}
	src, err := sqlsource.New(db.DB, sqlsource.Table{Table: "sessions", IdentityColumn: "user_id", IdentityKind: "user_id",
		Categories: []string{"usage"}, TimeColumn: "created_at", RestrictColumn: "restricted",
		Erase: map[string]sqlsource.Strategy{"ip": sqlsource.Null()}})
	require.NoError(t, err)
	return src
}

// sessionIP is the ip column of session id.
func sessionIP(t *testing.T, db *sqldb.DB, id string) sql.NullString {
	t.Helper()
	var v sql.NullString
	require.NoError(t, db.QueryRow(db.Dialect.Rebind("SELECT ip FROM sessions WHERE id = ?"), id).Scan(&v))
	return v
}

func TestRetentionSweepWithHolds(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		holds := memstore.New()
		e, err := gdpr.New(memstore.New(), gdpr.Options{Now: testclock.New(now).Now, Holds: holds}, sessionsSource(t, db, now))
		require.NoError(t, err)
		_, err = e.PlaceHold(ctx, "acme", "usr_carol", "litigation 2026-17")
		require.NoError(t, err)

		res, err := e.Sweep(ctx, "acme", []gdpr.RetentionPolicy{{Category: "usage", MaxAge: 365 * 24 * time.Hour}})
		require.NoError(t, err)
		require.Len(t, res, 1)
		assert.Equal(t, 2, res[0].Expired, "ada's and bob's old sessions")
		ip := func(id string) sql.NullString { return sessionIP(t, db, id) }
		assert.False(t, ip("s1").Valid, "expired: anonymized")
		assert.True(t, ip("s2").Valid, "recent: kept")
		assert.False(t, ip("s3").Valid)
		assert.True(t, ip("s4").Valid, "held: kept")

		_, err = e.PlaceHold(ctx, "acme", "", "regulator inquiry")
		require.NoError(t, err)
		_, err = e.Sweep(ctx, "acme", []gdpr.RetentionPolicy{{Category: "usage", MaxAge: time.Hour}})
		assert.ErrorIs(t, err, gdpr.ErrHeld)
		_, err = e.Sweep(ctx, "globex", []gdpr.RetentionPolicy{{Category: "usage"}})
		assert.ErrorIs(t, err, gdpr.ErrInvalid, "a policy needs an age")
	})
}

// TestRetentionExpiresRowsWithoutSubject: storage limitation covers
// every old row, also those that name no subject (a visitor's session,
// known by its IP address only), whether the table masks or deletes.
func TestRetentionExpiresRowsWithoutSubject(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		masked := sessionsSource(t, db, now)
		_, err := db.Exec(`CREATE TABLE visits (id TEXT PRIMARY KEY, tenant_id TEXT, user_id TEXT, ip TEXT, created_at TIMESTAMP)`)
		require.NoError(t, err)
		for _, row := range [][]any{
			{"s5", "acme", nil, "10.0.0.5", now.AddDate(0, 0, -400)},
			{"s6", "acme", nil, "10.0.0.6", now.AddDate(0, 0, -10)},
			{"s7", "globex", nil, "10.0.0.7", now.AddDate(0, 0, -400)},
		} {
			for _, table := range []string{"sessions", "visits"} {
				_, err := db.Exec(db.Dialect.Rebind("INSERT INTO "+table+" (id, tenant_id, user_id, ip, created_at) VALUES (?, ?, ?, ?, ?)"), row...)
				require.NoError(t, err)
			}
		}
		deleted, err := sqlsource.New(db.DB, sqlsource.Table{Table: "visits", IdentityColumn: "user_id", IdentityKind: "user_id",
			Categories: []string{"usage"}, TimeColumn: "created_at"})
		require.NoError(t, err)
		holds := memstore.New()
		e, err := gdpr.New(memstore.New(), gdpr.Options{Now: testclock.New(now).Now, Holds: holds}, masked, deleted)
		require.NoError(t, err)
		_, err = e.PlaceHold(ctx, "acme", "usr_carol", "litigation 2026-17")
		require.NoError(t, err)

		res, err := e.Sweep(ctx, "acme", []gdpr.RetentionPolicy{{Category: "usage", MaxAge: 365 * 24 * time.Hour}})
		require.NoError(t, err)
		expired := map[string]int{}
		for _, r := range res {
			expired[r.Source] = r.Expired
		}
		assert.Equal(t, map[string]int{"sessions": 3, "visits": 1}, expired, "ada's, bob's and the visitor's old sessions; the old visit")
		ip := func(id string) sql.NullString { return sessionIP(t, db, id) }
		assert.False(t, ip("s5").Valid, "an old row without a subject is anonymized")
		assert.True(t, ip("s6").Valid, "a recent one is kept")
		assert.True(t, ip("s7").Valid, "another tenant's is not this sweep's")
		assert.True(t, ip("s4").Valid, "a held subject's row is kept")
		var left []string
		rows, err := db.Query("SELECT id FROM visits ORDER BY id")
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var id string
			require.NoError(t, rows.Scan(&id))
			left = append(left, id)
		}
		require.NoError(t, rows.Err())
		assert.Equal(t, []string{"s6", "s7"}, left, "the old visit without a subject is deleted")
	})
}

func TestHeldSubjectIsNotErased(t *testing.T) {
	db := sqldbtest.OpenSQLite(t)
	holds := memstore.New()
	e, err := gdpr.New(memstore.New(), gdpr.Options{Holds: holds}, sessionsSource(t, db, time.Now()))
	require.NoError(t, err)
	_, err = e.PlaceHold(context.Background(), "acme", "usr_ada", "litigation")
	require.NoError(t, err)
	r := gdprtest.SubmitVerified(t, e, gdpr.Erasure, ada)
	_, err = e.Process(context.Background(), "acme", r.ID)
	assert.ErrorIs(t, err, gdpr.ErrHeld)
	require.NoError(t, e.ReleaseHold(context.Background(), "acme", "usr_ada"))
	r, err = e.Process(context.Background(), "acme", r.ID)
	require.NoError(t, err)
	assert.Equal(t, gdpr.Completed, r.State)
}

func TestRestriction(t *testing.T) {
	db := sqldbtest.OpenSQLite(t)
	e, err := gdpr.New(memstore.New(), gdpr.Options{}, sessionsSource(t, db, time.Now()))
	require.NoError(t, err)
	restricted := func() int {
		var n int
		require.NoError(t, db.QueryRow("SELECT count(*) FROM sessions WHERE restricted").Scan(&n))
		return n
	}
	r := gdprtest.SubmitVerified(t, e, gdpr.Restriction, ada)
	r, err = e.Process(context.Background(), "acme", r.ID)
	require.NoError(t, err)
	assert.Equal(t, gdpr.Completed, r.State)
	assert.Equal(t, 2, restricted(), "ada's rows are marked, not deleted")
	_, err = e.LiftRestriction(context.Background(), "acme", r.ID)
	require.NoError(t, err)
	assert.Zero(t, restricted())
}

// TestHoldsCannotBeDodgedByIdentity: an erasure naming only an email is
// refused while subjects of the tenant are held, and retention needs
// the subject key.
func TestHoldsCannotBeDodgedByIdentity(t *testing.T) {
	holds := memstore.New()
	var log []string
	e, err := gdpr.New(memstore.New(), gdpr.Options{Holds: holds}, newFake("crm", &log))
	require.NoError(t, err)
	_, err = e.PlaceHold(context.Background(), "acme", "usr_ada", "litigation")
	require.NoError(t, err)
	byEmail := gdpr.Subject{Identities: []gdpr.Identity{{Kind: "email", Value: "ada@example.com"}}}
	r := gdprtest.SubmitVerified(t, e, gdpr.Erasure, byEmail)
	_, err = e.Process(context.Background(), "acme", r.ID)
	assert.ErrorIs(t, err, gdpr.ErrHeld)

	_, err = sqlsource.New(sqldbtest.OpenSQLite(t).DB, sqlsource.Table{Table: "newsletter", IdentityColumn: "email", IdentityKind: "email", TimeColumn: "created_at"})
	assert.ErrorIs(t, err, gdpr.ErrInvalid)
}
