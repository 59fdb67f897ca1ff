package blobtarget_test

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/blobtarget"
	skcrypto "github.com/saaskit/saaskit/crypto"
	cryptomem "github.com/saaskit/saaskit/crypto/memstore"
)

// TestBuckets backs up to an in-memory bucket and a file bucket, then
// restores from each, and checks objects are written once.
func TestBuckets(t *testing.T) {
	ctx := context.Background()
	uri, _ := fakekms.NewKeyURI()
	root, _ := fakekms.NewAEAD(uri)
	st := cryptomem.New()
	keys, err := skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
	require.NoError(t, err)
	dir := filepath.ToSlash(t.TempDir())
	for _, u := range []string{"mem://", "file://" + (&url.URL{Path: dir}).EscapedPath() + "?no_tmp_dir=true"} {
		target, err := blobtarget.Open(ctx, u)
		require.NoError(t, err, u)
		defer target.Close()
		b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{target}, backup.Options{})
		require.NoError(t, err)
		data := bytes.Repeat([]byte("quarterly numbers "), 100_000)
		m, err := b.Run(ctx, backup.ReaderSource("numbers", func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}))
		require.NoError(t, err, u)
		var out bytes.Buffer
		require.NoError(t, b.Restore(ctx, m.ID, &out))
		assert.True(t, bytes.Equal(data, out.Bytes()), u)
		require.NoError(t, b.Verify(ctx, m.ID, backup.CheckReadAll))

		assert.ErrorIs(t, target.Put(ctx, "manifests/"+m.ID+".json", strings.NewReader("{}")), backup.ErrExists, "write once")
		_, err = target.Get(ctx, "nope")
		assert.ErrorIs(t, err, backup.ErrNotFound)
		names, err := target.List(ctx, "manifests/")
		require.NoError(t, err)
		assert.Equal(t, []string{"manifests/" + m.ID + ".json"}, names)
		require.NoError(t, target.Delete(ctx, "nope"), "deleting nothing is fine")
	}
}
