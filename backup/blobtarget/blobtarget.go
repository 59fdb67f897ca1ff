// Package blobtarget stores backups in object storage through
// gocloud.dev/blob: local files (file://), memory (mem://), Amazon S3
// (s3://bucket?region=...), Google Cloud Storage (gs://bucket) and Azure
// Blob Storage (azblob://container), with credentials from each cloud's
// usual environment. It is a module of its own so that the cloud SDKs
// stay out of builds that do not use it.
//
//	t, err := blobtarget.Open(ctx, "s3://acme-backups?region=eu-west-1")
//	b, err := backup.New(cipher, []backup.Target{local, t}, backup.Options{})
package blobtarget

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // azblob://
	_ "gocloud.dev/blob/fileblob"  // file://
	_ "gocloud.dev/blob/gcsblob"   // gs://
	_ "gocloud.dev/blob/memblob"   // mem://
	_ "gocloud.dev/blob/s3blob"    // s3://
	"gocloud.dev/gcerrors"

	"github.com/saaskit/saaskit/backup"
)

// Target is a backup.Target in a bucket.
type Target struct {
	url    string
	bucket *blob.Bucket
}

var _ backup.Target = (*Target)(nil)

// Open opens the bucket at url.
func Open(ctx context.Context, url string) (*Target, error) {
	b, err := blob.OpenBucket(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("blobtarget: open %s: %w", url, err)
	}
	return &Target{url: url, bucket: b}, nil
}

// Close closes the bucket.
func (t *Target) Close() error { return t.bucket.Close() }

// Name implements backup.Target.
func (t *Target) Name() string { return t.url }

// Put implements backup.Target. Objects are never overwritten: an
// existing name is ErrExists (checked, then written; buckets without
// conditional writes cannot close the gap between the two). A failed
// upload is abandoned, never committed.
func (t *Target) Put(ctx context.Context, name string, r io.Reader) error {
	if ok, err := t.bucket.Exists(ctx, name); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%s: %w", name, backup.ErrExists)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := t.bucket.NewWriter(ctx, name, nil)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		cancel() // abandons the upload
		_ = w.Close()
		return err
	}
	return w.Close()
}

// Get implements backup.Target.
func (t *Target) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	r, err := t.bucket.NewReader(ctx, name, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("%s: %w", name, backup.ErrNotFound)
	}
	return r, err
}

// List implements backup.Target.
func (t *Target) List(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	it := t.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if !obj.IsDir {
			out = append(out, obj.Key)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Delete implements backup.Target.
func (t *Target) Delete(ctx context.Context, name string) error {
	err := t.bucket.Delete(ctx, name)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil
	}
	return err
}
