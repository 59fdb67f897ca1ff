package gdpr_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/memstore"
	"github.com/saaskit/saaskit/gdpr/sqlsource"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

// BenchmarkErasure8x100k erases one subject (10 rows in each table)
// from 8 SQLite tables of 100,000 rows each, indexed by user, through 8
// table sources: half delete rows, half mask columns.
//
//	go test -run '^$' -bench Erasure8x100k -benchtime 20x ./gdpr/
func BenchmarkErasure8x100k(b *testing.B) {
	ctx := context.Background()
	db := sqldbtest.OpenSQLite(b)
	const tables, rows, mine = 8, 100_000, 10
	var sources []gdpr.Source
	for i := range tables {
		name := fmt.Sprint("t", i)
		if _, err := db.Exec(fmt.Sprintf(`CREATE TABLE %s (id INTEGER PRIMARY KEY, tenant_id TEXT, user_id TEXT, email TEXT, note TEXT);
			CREATE INDEX %s_user ON %s (tenant_id, user_id)`, name, name, name)); err != nil {
			b.Fatal(err)
		}
		tx, _ := db.Begin()
		ins, _ := tx.Prepare(fmt.Sprintf("INSERT INTO %s (tenant_id, user_id, email, note) VALUES ('acme', ?, ?, 'some text')", name))
		for r := range rows {
			if _, err := ins.Exec(fmt.Sprint("usr_", r%(rows/mine)), fmt.Sprint("u", r, "@example.com")); err != nil {
				b.Fatal(err)
			}
		}
		ins.Close()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		t := sqlsource.Table{Table: name, IdentityColumn: "user_id", IdentityKind: "user_id"}
		if i%2 == 1 {
			t.Erase = map[string]sqlsource.Strategy{"email": sqlsource.Fixed("[erased]"), "note": sqlsource.Null()}
		}
		src, err := sqlsource.New(db.DB, t)
		if err != nil {
			b.Fatal(err)
		}
		sources = append(sources, src)
	}
	e, err := gdpr.New(memstore.New(), gdpr.Options{}, sources...)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		subject := gdpr.Subject{Identities: []gdpr.Identity{{Kind: "user_id", Value: fmt.Sprint("usr_", i%(rows/mine))}}}
		r, err := e.Submit(ctx, "acme", gdpr.Erasure, gdpr.GDPR, subject, "bench")
		if err == nil {
			_, err = e.Verify(ctx, "acme", r.ID)
		}
		if err == nil {
			r, err = e.Process(ctx, "acme", r.ID)
		}
		if err != nil || r.State != gdpr.Completed {
			b.Fatal(err, r.State)
		}
	}
}
