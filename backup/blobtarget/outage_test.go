package blobtarget_test

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/blobtarget"
)

// TestStoreDownIsNotAKeyFailure: a bucket that fails before reading a
// byte (an S3 endpoint that refuses connections, a file:// directory
// whose data/ cannot be made) fails a run with an error naming the
// store stage and the bucket, not ErrNoKey (which the Scheduler would
// not retry), and the other target keeps nothing.
func TestStoreDownIsNotAKeyFailure(t *testing.T) {
	awsEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	endpoint := "http://" + l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now
	blocked := fileURL(t)
	u, err := url.Parse(blocked)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(filepath.FromSlash(u.Path), "data"), nil, 0o600))

	for _, tc := range []struct{ name, url, why string }{
		{"s3", s3URL("backups", endpoint), "connection refused"},
		{"file", blocked, "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			down := open(t, tc.url, blobtarget.Options{})
			ok := open(t, "mem://", blobtarget.Options{})
			ctx := context.Background()
			b, err := backup.New(testCipher(t), []backup.Target{ok, down}, backup.Options{})
			require.NoError(t, err)
			_, err = b.Run(ctx, backup.ReaderSource("ledger", readerOf(strings.Repeat("ledger ", 100_000))))
			require.Error(t, err)
			assert.NotErrorIs(t, err, backup.ErrNoKey)
			assert.NotContains(t, err.Error(), "no backup key")
			assert.Contains(t, err.Error(), "store: target "+down.Name()+": ")
			assert.Contains(t, err.Error(), tc.why)
			names, err := ok.List(ctx, "")
			require.NoError(t, err)
			assert.Empty(t, names)
		})
	}
}
