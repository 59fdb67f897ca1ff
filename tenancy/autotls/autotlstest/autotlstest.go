// Package autotlstest is the conformance suite of certmagic.Storage
// implementations that autotls replicas share: every adapter runs
// RunStorageTests.
package autotlstest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/certmagic"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// NewPair returns two fresh storages on one empty backing store, as two
// processes would open it (for SQL, two handles on one database). They
// must hold no cache: each call reaches the backing store.
type NewPair func(t *testing.T) (a, b certmagic.Storage)

// RunStorageTests checks what certmagic expects of a Storage: values
// round-trip, directories are implicit prefixes of keys (Stat, List,
// Exists, recursive Delete), missing keys are fs.ErrNotExist, and Lock
// excludes other holders in this process and in others until Unlock,
// honouring ctx.
func RunStorageTests(t *testing.T, newPair NewPair) {
	ctx := context.Background()

	t.Run("StoreLoad", func(t *testing.T) {
		a, b := newPair(t)
		require.NoError(t, a.Store(ctx, "certificates/ca/app.customer.test/app.customer.test.key", []byte("secret")))
		got, err := b.Load(ctx, "certificates/ca/app.customer.test/app.customer.test.key")
		require.NoError(t, err)
		assert.Equal(t, []byte("secret"), got)

		require.NoError(t, b.Store(ctx, "certificates/ca/app.customer.test/app.customer.test.key", []byte("rotated")))
		got, err = a.Load(ctx, "certificates/ca/app.customer.test/app.customer.test.key")
		require.NoError(t, err)
		assert.Equal(t, []byte("rotated"), got, "Load returns the last Store")

		require.NoError(t, a.Store(ctx, "empty", []byte{}))
		got, err = a.Load(ctx, "empty")
		require.NoError(t, err)
		assert.Empty(t, got)
	})

	t.Run("Missing", func(t *testing.T) {
		a, _ := newPair(t)
		_, err := a.Load(ctx, "nothing/here")
		assert.ErrorIs(t, err, fs.ErrNotExist)
		_, err = a.Stat(ctx, "nothing/here")
		assert.ErrorIs(t, err, fs.ErrNotExist)
		_, err = a.List(ctx, "nothing", true)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.False(t, a.Exists(ctx, "nothing"))
		assert.NoError(t, a.Delete(ctx, "nothing/here"), "deleting a missing key is no error")
	})

	t.Run("Directories", func(t *testing.T) {
		a, b := newPair(t)
		for _, k := range []string{"a/b/c.crt", "a/b/c.key", "a/d.json", "ab/e", "a0"} {
			require.NoError(t, a.Store(ctx, k, []byte(k)))
		}
		info, err := b.Stat(ctx, "a/b/c.crt")
		require.NoError(t, err)
		assert.True(t, info.IsTerminal)
		assert.Equal(t, "a/b/c.crt", info.Key)
		assert.EqualValues(t, len("a/b/c.crt"), info.Size)
		assert.False(t, info.Modified.IsZero())

		info, err = b.Stat(ctx, "a/b")
		require.NoError(t, err)
		assert.False(t, info.IsTerminal, "a/b is a directory")
		assert.True(t, b.Exists(ctx, "a"))
		assert.False(t, b.Exists(ctx, "a/b/c"), "a prefix of a key's last component is not a key")

		got, err := b.List(ctx, "a", false)
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{"a/b", "a/d.json"}, got, "a is not a prefix of ab or a0")
		got, err = b.List(ctx, "a", true)
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{"a/b", "a/b/c.crt", "a/b/c.key", "a/d.json"}, got)

		require.NoError(t, b.Delete(ctx, "a/b"))
		assert.False(t, a.Exists(ctx, "a/b/c.key"), "Delete of a directory deletes what is under it")
		assert.True(t, a.Exists(ctx, "a/d.json"))
		require.NoError(t, b.Delete(ctx, "a"))
		assert.False(t, a.Exists(ctx, "a"))
		assert.True(t, a.Exists(ctx, "ab/e"), "Delete of a spares ab")
		assert.True(t, a.Exists(ctx, "a0"))
	})

	t.Run("LockExcludes", func(t *testing.T) {
		a, b := newPair(t)
		// Holders in two processes and in one take turns; a count of
		// holders inside the critical section never exceeds one.
		var inside, most atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			st := a
			if i%2 == 1 {
				st = b
			}
			wg.Go(func() {
				if err := st.Lock(ctx, "issue_cert_app.customer.test"); err != nil {
					errs <- err
					return
				}
				n := inside.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				// Work under the lock, touching the store.
				_ = st.Store(ctx, fmt.Sprintf("work/%d", i), []byte("x"))
				inside.Add(-1)
				errs <- st.Unlock(ctx, "issue_cert_app.customer.test")
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		assert.EqualValues(t, 1, most.Load(), "one holder at a time")
	})

	t.Run("LockWaitsAndHonoursContext", func(t *testing.T) {
		a, b := newPair(t)
		require.NoError(t, a.Lock(ctx, "n"))
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- b.Lock(cctx, "n") }()
		cancel()
		err := <-done
		require.Error(t, err, "Lock of a held name returns when ctx ends")
		assert.True(t, errors.Is(err, context.Canceled), "got %v", err)

		other := make(chan error, 1)
		go func() { other <- b.Lock(ctx, "n") }()
		require.NoError(t, a.Unlock(ctx, "n"))
		require.NoError(t, <-other, "Unlock lets a waiter in")
		require.NoError(t, b.Unlock(ctx, "n"))
		require.NoError(t, a.Lock(ctx, "m"), "names are independent")
		require.NoError(t, b.Lock(ctx, "m2"))
		require.NoError(t, a.Unlock(ctx, "m"))
		require.NoError(t, b.Unlock(ctx, "m2"))
	})
}
