package gdprtest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr"
)

// SourceFixture is a gdpr.Source under test, and a way to give a
// subject records in it as the application would.
type SourceFixture struct {
	Source gdpr.Source
	// Add stores records about subject in the tenant.
	Add func(t *testing.T, tenantID string, subject gdpr.Subject)
}

// RunSourceTests is the conformance suite of a gdpr.Source that exports
// what it erases: an export finds the subject's records; after an
// erasure, an export finds none; a second erasure is harmless; other
// subjects and other tenants keep theirs. newFixture returns an empty
// source.
func RunSourceTests(t *testing.T, newFixture func(t *testing.T) SourceFixture) {
	ctx := context.Background()
	ada, bob := Subject("usr_ada"), Subject("usr_bob")
	export := func(t *testing.T, f SourceFixture, tenant string, s gdpr.Subject) int {
		t.Helper()
		n := 0
		require.NoError(t, f.Source.Export(ctx, tenant, s, func(any) error { n++; return nil }))
		return n
	}
	t.Run("ExportFindsTheSubject", func(t *testing.T) {
		f := newFixture(t)
		assert.Zero(t, export(t, f, "acme", ada), "a subject without records")
		f.Add(t, "acme", ada)
		assert.Positive(t, export(t, f, "acme", ada))
	})
	t.Run("ErasedSubjectExportsNothing", func(t *testing.T) {
		f := newFixture(t)
		f.Add(t, "acme", ada)
		erased, err := f.Source.Erase(ctx, "acme", ada)
		require.NoError(t, err)
		assert.Positive(t, erased.Records, "the erasure counts what it erased")
		assert.Zero(t, export(t, f, "acme", ada))
	})
	t.Run("ErasingTwiceIsHarmless", func(t *testing.T) {
		f := newFixture(t)
		f.Add(t, "acme", ada)
		_, err := f.Source.Erase(ctx, "acme", ada)
		require.NoError(t, err)
		again, err := f.Source.Erase(ctx, "acme", ada)
		require.NoError(t, err)
		assert.Zero(t, again.Records)
	})
	t.Run("OthersKeepTheirs", func(t *testing.T) {
		f := newFixture(t)
		f.Add(t, "acme", ada)
		f.Add(t, "acme", bob)
		f.Add(t, "globex", ada)
		before := export(t, f, "globex", ada)
		_, err := f.Source.Erase(ctx, "acme", ada)
		require.NoError(t, err)
		assert.Positive(t, export(t, f, "acme", bob), "another subject of the tenant")
		assert.Equal(t, before, export(t, f, "globex", ada), "the same subject key in another tenant")
	})
	t.Run("UnknownIdentitiesFindNothing", func(t *testing.T) {
		f := newFixture(t)
		f.Add(t, "acme", ada)
		for _, s := range []gdpr.Subject{{}, {Identities: []gdpr.Identity{{Kind: "email", Value: "ada@example.com"}}}, Subject("usr_nobody")} {
			assert.Zero(t, export(t, f, "acme", s), "%v", s)
			erased, err := f.Source.Erase(ctx, "acme", s)
			require.NoError(t, err)
			assert.Zero(t, erased.Records, "%v", s)
		}
		assert.Positive(t, export(t, f, "acme", ada))
	})
}

// Subject is the subject known by the user ID id (gdpr.SubjectKey).
func Subject(id string) gdpr.Subject {
	return gdpr.Subject{Identities: []gdpr.Identity{{Kind: gdpr.SubjectKey, Value: id}}}
}

// SubmitVerified submits a request of kind about s for tenant acme and
// verifies it.
func SubmitVerified(t testing.TB, e *gdpr.Engine, kind gdpr.Kind, s gdpr.Subject) *gdpr.Request {
	t.Helper()
	r, err := e.Submit(context.Background(), "acme", kind, gdpr.GDPR, s, "api")
	require.NoError(t, err)
	r, err = e.Verify(context.Background(), "acme", r.ID)
	require.NoError(t, err)
	return r
}
