// Package versioningtest tests versioned APIs and their stores:
// RunContract sends an application's requests at every version and
// validates each request and response against that version's OpenAPI
// document (kin-openapi); CheckChanges holds every migration to the
// schema effects it declares; RunPinStoreTests is the conformance suite
// of versioning.PinStore, which versioning/memstore and versioning/sqlstore run,
// and so can any other store.
package versioningtest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/versioning"
)

// RunPinStoreTests runs the suite; newStore returns an empty store.
func RunPinStoreTests(t *testing.T, newStore func(t *testing.T) versioning.PinStore) {
	t.Run("NoPin", func(t *testing.T) {
		_, err := newStore(t).Pin(context.Background(), "acme")
		assert.ErrorIs(t, err, versioning.ErrNoPin)
	})
	t.Run("SetAndReplace", func(t *testing.T) {
		ctx := context.Background()
		s := newStore(t)
		require.NoError(t, s.SetPin(ctx, "acme", "2024-01-01"))
		require.NoError(t, s.SetPin(ctx, "globex", "2025-01-01"))
		v, err := s.Pin(ctx, "acme")
		require.NoError(t, err)
		assert.Equal(t, "2024-01-01", v)
		require.NoError(t, s.SetPin(ctx, "acme", "2024-06-01"))
		v, err = s.Pin(ctx, "acme")
		require.NoError(t, err)
		assert.Equal(t, "2024-06-01", v, "a new pin replaces the old")
		v, err = s.Pin(ctx, "globex")
		require.NoError(t, err)
		assert.Equal(t, "2025-01-01", v, "pins are per tenant")
	})
}
