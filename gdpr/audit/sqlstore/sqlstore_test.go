package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr/audit"
	"github.com/saaskit/saaskit/gdpr/audit/audittest"
	"github.com/saaskit/saaskit/gdpr/audit/sqlstore"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

var engines = sqldbtest.Engines

// newStore returns a migrated Store over db.
func newStore(t *testing.T, db *sqldb.DB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(db.DB)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	require.NoError(t, s.Migrate(context.Background()), "Migrate is idempotent")
	return s
}

func TestConformance(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			audittest.RunStoreTests(t, func(t *testing.T) audit.Store { return newStore(t, e.Open(t)) })
		})
	}
}

func TestTampering(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			audittest.RunTamperTests(t, func(t *testing.T) (audit.Store, audittest.Tamperer) {
				db := e.Open(t)
				return newStore(t, db), sqlTamperer{db}
			})
		})
	}
}

// sqlTamperer changes gdpr_audit with plain SQL, as anyone with write
// access to the database could.
type sqlTamperer struct{ db *sqldb.DB }

func (s sqlTamperer) exec(t testing.TB, query string, args ...any) {
	t.Helper()
	res, err := s.db.Exec(s.db.Dialect.Rebind(query), args...)
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "%s %v", query, args)
}

func (s sqlTamperer) SetAction(t testing.TB, tenantID string, seq uint64, action string) {
	s.exec(t, "UPDATE gdpr_audit SET action = ? WHERE tenant_id = ? AND seq = ?", action, tenantID, seq)
}

func (s sqlTamperer) SetHash(t testing.TB, tenantID string, seq uint64, hash string) {
	s.exec(t, "UPDATE gdpr_audit SET hash = ? WHERE tenant_id = ? AND seq = ?", hash, tenantID, seq)
}

func (s sqlTamperer) Delete(t testing.TB, tenantID string, seq uint64) {
	s.exec(t, "DELETE FROM gdpr_audit WHERE tenant_id = ? AND seq = ?", tenantID, seq)
}

func (s sqlTamperer) Renumber(t testing.TB, tenantID string, from, to uint64) {
	s.exec(t, "UPDATE gdpr_audit SET seq = ? WHERE tenant_id = ? AND seq = ?", to, tenantID, from)
}

// Appenders in several processes, each with its own connections, share
// one chain.
func TestAppendersInSeveralProcesses(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			ctx := context.Background()
			db := e.Open(t)
			newStore(t, db)
			const procs, each = 4, 25
			var wg sync.WaitGroup
			for p := range procs {
				st, err := sqlstore.New(sqldbtest.Reopen(t, db).DB)
				require.NoError(t, err)
				tr, err := audit.New(st, audit.Options{})
				require.NoError(t, err)
				wg.Go(func() {
					for i := range each {
						_, err := tr.Append(ctx, "acme", audit.Record{Actor: fmt.Sprintf("proc.%d", p), Action: fmt.Sprintf("op.%d", i)})
						if !assert.NoError(t, err) {
							return
						}
					}
				})
			}
			wg.Wait()
			tr, err := audit.New(newStore(t, db), audit.Options{PageSize: 16})
			require.NoError(t, err)
			rep, err := tr.Verify(ctx, "acme")
			require.NoError(t, err)
			assert.True(t, rep.OK, rep.Reason)
			assert.EqualValues(t, procs*each, rep.Records)
		})
	}
}

func TestNewRefusesOtherDrivers(t *testing.T) {
	_, err := sqlstore.New(nil)
	assert.ErrorIs(t, err, sqldb.ErrUnsupported)
}
