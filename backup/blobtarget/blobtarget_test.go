package blobtarget_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/blobtarget"
	"github.com/saaskit/saaskit/backup/retention"
	skcrypto "github.com/saaskit/saaskit/crypto"
	cryptomem "github.com/saaskit/saaskit/crypto/memstore"
)

func testCipher(t *testing.T) backup.Cipher {
	t.Helper()
	uri, err := fakekms.NewKeyURI()
	require.NoError(t, err)
	root, err := fakekms.NewAEAD(uri)
	require.NoError(t, err)
	st := cryptomem.New()
	keys, err := skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
	require.NoError(t, err)
	return backup.KeyringCipher(keys, "acme")
}

// awsEnv gives the S3 client fixed credentials and keeps it away from
// the machine's own AWS configuration.
func awsEnv(t *testing.T) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_ACCESS_KEY_ID", "test-access-key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// s3URL is the s3:// URL of bucket on the S3-compatible server at
// endpoint.
func s3URL(bucket, endpoint string) string {
	q := url.Values{"region": {"us-east-1"}, "endpoint": {endpoint}, "use_path_style": {"true"}}
	return "s3://" + bucket + "?" + q.Encode()
}

// fakeS3 starts an in-process S3-compatible server (gofakes3 on
// memory) with one bucket and returns its s3:// URL.
func fakeS3(t *testing.T) string {
	t.Helper()
	awsEnv(t)
	mem := s3mem.New()
	require.NoError(t, mem.CreateBucket("backups"))
	srv := httptest.NewServer(gofakes3.New(mem).Server())
	t.Cleanup(srv.Close)
	return s3URL("backups", srv.URL)
}

// fileURL is a file:// URL of a new directory.
func fileURL(t *testing.T) string {
	dir := filepath.ToSlash(t.TempDir())
	return "file://" + (&url.URL{Path: dir}).EscapedPath() + "?no_tmp_dir=true"
}

// kinds are the buckets every test runs on. Each call of url gives a
// new bucket; a mem:// bucket is reachable only through the Target
// that opened it.
var kinds = []struct {
	name string
	url  func(t *testing.T) string
	// shared: a second Target on the same URL sees the same objects.
	shared bool
	// atomic: of two concurrent writers of a name, only one can win.
	atomic bool
}{
	{"mem", func(*testing.T) string { return "mem://" }, false, true},
	// gocloud's file:// checks, then renames.
	{"file", fileURL, true, false},
	{"s3", fakeS3, true, true},
}

func open(t *testing.T, u string, opts blobtarget.Options) *blobtarget.Target {
	t.Helper()
	target, err := blobtarget.OpenWith(context.Background(), u, opts)
	require.NoError(t, err, u)
	t.Cleanup(func() { _ = target.Close() })
	return target
}

func read(t *testing.T, target backup.Target, name string) []byte {
	t.Helper()
	rc, err := target.Get(context.Background(), name)
	require.NoError(t, err, name)
	defer rc.Close()
	data, err := io.ReadAll(rc)
	require.NoError(t, err, name)
	return data
}

// TestBuckets backs up to each kind of bucket, restores and verifies,
// and checks objects are written once.
func TestBuckets(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			ctx := context.Background()
			target := open(t, k.url(t), blobtarget.Options{})
			b, err := backup.New(testCipher(t), []backup.Target{target}, backup.Options{})
			require.NoError(t, err)
			// Past the S3 client's multipart threshold (16 MiB).
			data := make([]byte, 17<<20)
			_, _ = rand.Read(data)
			m, err := b.Run(ctx, backup.ReaderSource("numbers", func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(bytes.NewReader(data)), nil
			}))
			require.NoError(t, err)
			var out bytes.Buffer
			require.NoError(t, b.Restore(ctx, m.ID, &out))
			assert.True(t, bytes.Equal(data, out.Bytes()), "restored as backed up")
			require.NoError(t, b.Verify(ctx, m.ID, backup.CheckReadAll))
			vs, err := b.Verifications(ctx)
			require.NoError(t, err)
			require.Len(t, vs, 1)
			assert.True(t, vs[0].OK)

			manifest := "manifests/" + m.ID + ".json"
			before := read(t, target, manifest)
			err = target.Put(ctx, manifest, strings.NewReader("{}"))
			assert.ErrorIs(t, err, backup.ErrExists, "write once")
			assert.Contains(t, err.Error(), manifest)
			assert.Equal(t, before, read(t, target, manifest), "the first content stays")

			_, err = target.Get(ctx, "nope")
			assert.ErrorIs(t, err, backup.ErrNotFound)
			names, err := target.List(ctx, "manifests/")
			require.NoError(t, err)
			assert.Equal(t, []string{manifest}, names)
			require.NoError(t, target.Delete(ctx, "nope"), "deleting nothing is fine")
		})
	}
}

// TestConcurrentPut races writers for one name: exactly one wins, the
// others get ErrExists, and the winner's content is what stays. On
// buckets two Targets can share, the writers use separate Targets, as
// separate processes would.
func TestConcurrentPut(t *testing.T) {
	const writers = 8
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			if !k.atomic {
				t.Skipf("%s:// checks that the name is free, then renames: writers racing for a name can both succeed", k.name)
			}
			ctx := context.Background()
			u := k.url(t)
			first := open(t, u, blobtarget.Options{})
			for round := range 5 {
				name := fmt.Sprintf("data/race-%d", round)
				errs := make([]error, writers)
				var start, done sync.WaitGroup
				start.Add(1)
				for i := range writers {
					target := first
					if k.shared {
						target = open(t, u, blobtarget.Options{})
					}
					done.Go(func() {
						start.Wait()
						errs[i] = target.Put(ctx, name, strings.NewReader(fmt.Sprintf("writer %d", i)))
					})
				}
				start.Done()
				done.Wait()
				winner := -1
				for i, err := range errs {
					if err == nil {
						assert.Equal(t, -1, winner, "round %d: writers %d and %d both won", round, winner, i)
						winner = i
						continue
					}
					assert.ErrorIs(t, err, backup.ErrExists, "round %d: writer %d", round, i)
				}
				require.NotEqual(t, -1, winner, "round %d: nobody won", round)
				assert.Equal(t, fmt.Sprintf("writer %d", winner), string(read(t, first, name)), "round %d", round)
			}
		})
	}
}

// s3Stub is the least of an S3 server that refuses every write with
// 412 Precondition Failed, as a store that holds the name already
// does. gofakes3 ignores If-None-Match on CompleteMultipartUpload, so
// large objects are checked against this instead. It records whether
// each committing request (PutObject, CompleteMultipartUpload) asked
// for If-None-Match: *.
type s3Stub struct {
	errorCode string // the code of the XML error document, or "" for no body

	mu         sync.Mutex
	committing []string // "PUT If-None-Match=*", ...
}

func (s *s3Stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	q := r.URL.Query()
	refuse := func() {
		s.mu.Lock()
		s.committing = append(s.committing, r.Method+" If-None-Match="+r.Header.Get("If-None-Match"))
		s.mu.Unlock()
		if s.errorCode == "" {
			w.WriteHeader(http.StatusPreconditionFailed)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusPreconditionFailed)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>`+s.errorCode+`</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-None-Match</Condition></Error>`)
	}
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"): // CreateMultipartUpload
		w.Header().Set("Content-Type", "application/xml")
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult><Bucket>backups</Bucket><Key>k</Key><UploadId>up-1</UploadId></InitiateMultipartUploadResult>`)
	case r.Method == http.MethodPut && q.Has("uploadId"): // UploadPart
		w.Header().Set("ETag", `"`+q.Get("partNumber")+`"`)
	case r.Method == http.MethodPost && q.Has("uploadId"): // CompleteMultipartUpload
		refuse()
	case r.Method == http.MethodDelete && q.Has("uploadId"): // AbortMultipartUpload
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPut: // PutObject
		refuse()
	default:
		http.Error(w, "not in the stub", http.StatusNotImplemented)
	}
}

// TestPutPreconditionFailed checks that a 412 from an S3 store, to a
// small object's PutObject or a large one's CompleteMultipartUpload,
// whatever its error document, is ErrExists, and that each committing
// request asked for If-None-Match: *.
func TestPutPreconditionFailed(t *testing.T) {
	awsEnv(t)
	for _, tc := range []struct {
		name      string
		size      int
		errorCode string
		request   string
	}{
		{"PutObject", 1 << 10, "PreconditionFailed", "PUT"},
		{"PutObject without error document", 1 << 10, "", "PUT"},
		{"PutObject with another code", 1 << 10, "ObjectAlreadyExists", "PUT"},
		{"CompleteMultipartUpload", 17 << 20, "PreconditionFailed", "POST"},
		{"CompleteMultipartUpload without error document", 17 << 20, "", "POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stub := &s3Stub{errorCode: tc.errorCode}
			srv := httptest.NewServer(stub)
			defer srv.Close()
			target := open(t, s3URL("backups", srv.URL), blobtarget.Options{})
			err := target.Put(context.Background(), "data/x", bytes.NewReader(make([]byte, tc.size)))
			assert.ErrorIs(t, err, backup.ErrExists)
			stub.mu.Lock()
			defer stub.mu.Unlock()
			assert.Equal(t, []string{tc.request + " If-None-Match=*"}, stub.committing)
		})
	}
}

// TestImmutable checks the two roles on one bucket: through the
// writer's immutable Target, backups are made and verified but Delete,
// Prune, Forget and Repository.Prune fail naming the target and delete
// nothing; the pruning role's Target on the same bucket prunes.
func TestImmutable(t *testing.T) {
	for _, k := range kinds {
		if !k.shared {
			continue // the pruning role needs the same bucket
		}
		t.Run(k.name, func(t *testing.T) {
			ctx := context.Background()
			u := k.url(t)
			writer := open(t, u, blobtarget.Options{Immutable: true})
			pruner := open(t, u, blobtarget.Options{})
			cipher := testCipher(t)
			now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			run := 0
			src := backup.ReaderSource("ledger", func(context.Context) (io.ReadCloser, error) {
				run++ // new content each time, so each snapshot writes a pack and an index
				return io.NopCloser(strings.NewReader(fmt.Sprintf("invoice %d paid\n", run))), nil
			})

			// The writer role backs up and verifies.
			bw, err := backup.New(cipher, []backup.Target{writer}, backup.Options{Now: clock})
			require.NoError(t, err)
			old, err := bw.Run(ctx, src)
			require.NoError(t, err)
			now = now.Add(time.Hour)
			latest, err := bw.Run(ctx, src)
			require.NoError(t, err)
			require.NoError(t, bw.Verify(ctx, old.ID, backup.CheckReadAll), "verification records are bookkeeping")
			require.NoError(t, bw.Verify(ctx, old.ID, backup.CheckReadAll), "and replaced on each verification")

			// It cannot delete.
			err = writer.Delete(ctx, "manifests/"+old.ID+".json")
			assert.ErrorIs(t, err, backup.ErrImmutable)
			everything := func() []string {
				names, err := pruner.List(ctx, "")
				require.NoError(t, err)
				return names
			}
			before := everything()
			plan, err := bw.Prune(ctx, retention.Policy{Last: 1}, retention.Options{})
			require.Len(t, plan.Forget(), 1)
			assert.ErrorIs(t, err, backup.ErrImmutable)
			assert.ErrorContains(t, err, "target "+writer.Name()+": delete "+old.ID)
			assert.Equal(t, before, everything(), "a refused prune deletes nothing")

			// Snapshots work through it (locks are bookkeeping), Forget
			// and Repository.Prune fail.
			repoW, err := backup.OpenRepository(ctx, cipher, []backup.Target{writer}, backup.RepositoryOptions{Now: clock, CacheDir: t.TempDir()})
			require.NoError(t, err)
			_, err = repoW.Snapshot(ctx, src)
			require.NoError(t, err)
			now = now.Add(time.Hour)
			_, err = repoW.Snapshot(ctx, src)
			require.NoError(t, err)
			locks, err := writer.List(ctx, "snapshots/locks/")
			require.NoError(t, err)
			assert.Empty(t, locks, "each snapshot took its lock away")
			before = everything()
			_, err = repoW.Forget(ctx, retention.Policy{Last: 1}, retention.Options{})
			assert.ErrorIs(t, err, backup.ErrImmutable)
			assert.ErrorContains(t, err, "target "+writer.Name()+": forget ")
			assert.Equal(t, before, everything(), "a refused forget deletes nothing")
			_, err = repoW.Prune(ctx, backup.PruneOptions{})
			assert.ErrorIs(t, err, backup.ErrImmutable)
			assert.ErrorContains(t, err, "target "+writer.Name())
			snaps, err := repoW.Snapshots(ctx)
			require.NoError(t, err)
			assert.Len(t, snaps, 2)

			// The pruning role prunes both.
			bp, err := backup.New(cipher, []backup.Target{pruner}, backup.Options{Now: clock})
			require.NoError(t, err)
			_, err = bp.Prune(ctx, retention.Policy{Last: 1}, retention.Options{})
			require.NoError(t, err)
			ms, err := bw.Manifests(ctx)
			require.NoError(t, err)
			require.Len(t, ms, 1)
			assert.Equal(t, latest.ID, ms[0].ID)
			_, err = writer.Get(ctx, "data/"+old.ID)
			assert.ErrorIs(t, err, backup.ErrNotFound)

			repoP, err := backup.OpenRepository(ctx, cipher, []backup.Target{pruner}, backup.RepositoryOptions{Now: clock, CacheDir: t.TempDir()})
			require.NoError(t, err)
			_, err = repoP.Forget(ctx, retention.Policy{Last: 1}, retention.Options{})
			require.NoError(t, err)
			_, err = repoP.Prune(ctx, backup.PruneOptions{})
			require.NoError(t, err, "no lock left behind by the writer's refused prune")
			snaps, err = repoW.Snapshots(ctx)
			require.NoError(t, err)
			assert.Len(t, snaps, 1)
		})
	}
}

// TestImmutableBookkeeping checks what an immutable target still
// deletes: verification records and repository locks, nothing else.
func TestImmutableBookkeeping(t *testing.T) {
	ctx := context.Background()
	target := open(t, "mem://", blobtarget.Options{Immutable: true})
	for name, deletes := range map[string]bool{
		"verified/20261127T090000Z-aa.json":     true,
		"snapshots/locks/20261127T090000Z-aa":   true,
		"manifests/20261127T090000Z-aa.json":    false,
		"data/20261127T090000Z-aa":              false,
		"snapshots/snaps/20261127T090000Z-aa":   false,
		"snapshots/index/20261127T090000Z-aa":   false,
		"snapshots/packs/ab/abcdef":             false,
		"snapshots/config":                      false,
		"replica/app.db/ltx/0/0000000000000001": false,
	} {
		require.NoError(t, target.Put(ctx, name, strings.NewReader("x")))
		err := target.Delete(ctx, name)
		if deletes {
			require.NoError(t, err, name)
			_, err = target.Get(ctx, name)
			assert.ErrorIs(t, err, backup.ErrNotFound, name)
			continue
		}
		assert.ErrorIs(t, err, backup.ErrImmutable, name)
		assert.ErrorContains(t, err, name)
		assert.Equal(t, "x", string(read(t, target, name)), name)
	}
	assert.False(t, errors.Is(target.Delete(ctx, "verified/none.json"), backup.ErrImmutable))
}
