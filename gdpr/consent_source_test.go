package gdpr_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/consent"
	consentmem "github.com/saaskit/saaskit/gdpr/consent/memstore"
	consentsql "github.com/saaskit/saaskit/gdpr/consent/sqlstore"
	"github.com/saaskit/saaskit/gdpr/gdprtest"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

// TestConsentSourceConformance runs the gdpr.Source suite on the consent
// ledger, in memory and on both engines: after an erasure the subject
// has no consent records (the history stays under a pseudonym).
func TestConsentSourceConformance(t *testing.T) {
	fixture := func(t *testing.T, store consent.Store) gdprtest.SourceFixture {
		ctx := context.Background()
		ledger, err := consent.New(store, consent.Options{})
		require.NoError(t, err)
		notices := map[string]*consent.Notice{}
		return gdprtest.SourceFixture{Source: gdpr.ConsentSource(ledger), Add: func(t *testing.T, tenant string, s gdpr.Subject) {
			n, ok := notices[tenant]
			if !ok {
				_, err := ledger.DefinePurpose(ctx, tenant, consent.Purpose{Key: "newsletter", Description: "monthly newsletter"})
				require.NoError(t, err)
				n, err = ledger.PublishNotice(ctx, tenant, consent.Notice{Purpose: "newsletter", Language: "en", Text: "May we email you?"})
				require.NoError(t, err)
				notices[tenant] = n
			}
			_, err := ledger.Grant(ctx, tenant, s.Value(gdpr.SubjectKey), "newsletter", consent.Grant{
				NoticeVersion: n.Version, NoticeHash: n.SHA256, Source: "signup-form"})
			require.NoError(t, err)
		}}
	}
	t.Run("memory", func(t *testing.T) {
		gdprtest.RunSourceTests(t, func(t *testing.T) gdprtest.SourceFixture { return fixture(t, consentmem.New()) })
	})
	sqldbtest.EachEngine(t, func(t *testing.T, open func(testing.TB) *sqldb.DB) {
		gdprtest.RunSourceTests(t, func(t *testing.T) gdprtest.SourceFixture {
			st, err := consentsql.New(open(t).DB)
			require.NoError(t, err)
			require.NoError(t, st.Migrate(context.Background()))
			return fixture(t, st)
		})
	})
}
