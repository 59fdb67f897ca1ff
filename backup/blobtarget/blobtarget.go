// Package blobtarget stores backups in object storage through
// gocloud.dev/blob: local files (file://), memory (mem://), Amazon S3
// and S3-compatible stores (s3://bucket?region=...), Google Cloud
// Storage (gs://bucket) and Azure Blob Storage (azblob://container),
// with credentials from each cloud's usual environment. It is a module
// of its own so that the cloud SDKs stay out of builds that do not use
// it.
//
//	t, err := blobtarget.Open(ctx, "s3://acme-backups?region=eu-west-1")
//	b, err := backup.New(cipher, []backup.Target{local, t}, backup.Options{})
//
// An S3-compatible server (MinIO, Ceph, R2, ...) takes the endpoint in
// the URL:
//
//	s3://backups?region=us-east-1&endpoint=https://minio.internal:9000&use_path_style=true
//
// # Written once
//
// Put writes with a conditional request (If-None-Match: * on S3, its
// equivalents on GCS and Azure), so of two processes writing the same
// name exactly one succeeds and the other gets backup.ErrExists; the
// object first written is never replaced. Every driver registered here
// supports conditional writes, so there is no check-then-write
// fallback. Two caveats: file:// checks that the name is free, then
// renames, so two writers racing for one name can both succeed and the
// later replaces the earlier (for a local directory use
// backup.DirTarget, which links, and the file system refuses a second
// link of a name); and an S3-compatible server must honour
// If-None-Match on PutObject and on CompleteMultipartUpload (objects of
// 16 MiB and more), as AWS S3 does, or it replaces the object instead.
//
// # Immutable targets
//
// A backup that the credentials of the machine being backed up can
// delete is not safe from whoever takes that machine over. OpenWith
// with Options.Immutable gives a Target whose Delete refuses, wrapping
// backup.ErrImmutable, so a Prune or Forget through it fails loudly
// naming the target instead of pretending to have pruned. Only
// backup.Bookkeeping objects (verification records, repository locks)
// are still deleted, so Verify and snapshots keep working.
//
// The refusal is only as strong as the credentials behind it. Give the
// service two roles:
//
//   - the writer role, used by the service and its Scheduler, opens the
//     bucket with Immutable and may put, get and list, abort its own
//     unfinished uploads, and delete only bookkeeping objects;
//   - the pruning role, used only by the scheduled prune job (run
//     somewhere else, with credentials the service never sees), opens
//     the same bucket without Immutable and runs Prune, Forget and
//     Repository.Prune.
//
// The writer role's policy on S3 (an identity policy attached to the
// role; the pruning role's adds s3:DeleteObject on the whole bucket).
// s3:AbortMultipartUpload lets a failed large upload be abandoned; it
// cannot remove a finished object.
//
//	{
//	  "Version": "2012-10-17",
//	  "Statement": [
//	    {"Sid": "WriteReadList", "Effect": "Allow",
//	     "Action": ["s3:PutObject", "s3:GetObject", "s3:ListBucket",
//	                "s3:AbortMultipartUpload"],
//	     "Resource": ["arn:aws:s3:::acme-backups", "arn:aws:s3:::acme-backups/*"]},
//	    {"Sid": "Bookkeeping", "Effect": "Allow",
//	     "Action": "s3:DeleteObject",
//	     "Resource": ["arn:aws:s3:::acme-backups/verified/*",
//	                  "arn:aws:s3:::acme-backups/snapshots/locks/*"]}
//	  ]
//	}
//
// Anything that can change the bucket policy, or the pruning role
// itself, can still delete. For the strongest guarantee turn on S3
// Object Lock on the bucket (it needs versioning) with a default
// retention: compliance mode, which nobody, not even the account's
// root, can shorten or lift; or governance mode, which principals with
// s3:BypassGovernanceRetention can. Choose a period longer than the
// longest a backup must survive an attacker unnoticed. Under Object
// Lock a delete only adds a delete marker: the pruning role's Prune
// hides what it forgets, and a lifecycle rule expiring noncurrent
// versions frees the space once their retention ends (add one that
// aborts incomplete multipart uploads too). GCS (bucket lock
// with a retention policy) and Azure (immutable storage with a
// time-based retention policy) offer the same.
//
// What an immutable target keeps: a Run that fails after writing its
// manifest there leaves that backup (complete and listed) instead of
// taking it back; data of failed runs stays until the store's own
// retention removes it; a Repository.Prune through it writes the merged
// index before it is refused deleting the old ones, so each attempt
// leaves one more index object; and package replicate's compaction
// cannot drop the LTX files it has merged, so they pile up until the
// pruning role removes them.
package blobtarget

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"path/filepath"
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

// Options configure a Target. The zero value is a target that deletes.
type Options struct {
	// Immutable makes Delete refuse every object but
	// backup.Bookkeeping ones, with an error wrapping
	// backup.ErrImmutable. Default false.
	Immutable bool
}

// Target is a backup.Target in a bucket.
type Target struct {
	url    string
	bucket *blob.Bucket
	opts   Options
}

var _ backup.Target = (*Target)(nil)

// Open opens the bucket at url, with the zero Options.
func Open(ctx context.Context, url string) (*Target, error) {
	return OpenWith(ctx, url, Options{})
}

// OpenWith opens the bucket at url with opts.
// A file:// directory is opened with its symbolic links resolved, so
// that a directory reached through a link is listed whole (the file
// driver does not descend into a linked root); its Name is still url.
func OpenWith(ctx context.Context, url string, opts Options) (*Target, error) {
	b, err := blob.OpenBucket(ctx, resolveFileURL(url))
	if err != nil {
		return nil, fmt.Errorf("blobtarget: open %s: %w", url, err)
	}
	return &Target{url: url, bucket: b, opts: opts}, nil
}

// resolveFileURL returns a file:// URL with its directory's symbolic
// links resolved; any other URL, or one whose directory does not exist
// yet, as it is.
func resolveFileURL(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil || u.Scheme != "file" {
		return raw
	}
	dir, err := filepath.EvalSymlinks(filepath.FromSlash(u.Path))
	if err != nil {
		return raw
	}
	u.Path, u.RawPath = filepath.ToSlash(dir), ""
	return u.String()
}

// Close closes the bucket.
func (t *Target) Close() error { return t.bucket.Close() }

// Name implements backup.Target. It is the URL, whatever the Options,
// so the writer and the pruning role name the same bucket alike.
func (t *Target) Name() string { return t.url }

// Put implements backup.Target. The write is conditional on the name
// being free, so an existing object is never replaced and of two Puts
// of one name exactly one succeeds; the other returns ErrExists. A
// failed upload is abandoned, never committed.
func (t *Target) Put(ctx context.Context, name string, r io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := t.bucket.NewWriter(ctx, name, &blob.WriterOptions{IfNotExist: true})
	if err != nil {
		return putError(name, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		cancel() // abandons the upload
		_ = w.Close()
		return putError(name, err)
	}
	return putError(name, w.Close())
}

// putError turns a failed write precondition into ErrExists. The
// drivers report it as FailedPrecondition (the S3 one for a 412 with
// the error code PreconditionFailed, or with no error document); a 412
// from an S3-compatible server that names another code is known by its
// status.
func putError(name string, err error) error {
	if err == nil {
		return nil
	}
	var status interface{ HTTPStatusCode() int }
	if gcerrors.Code(err) == gcerrors.FailedPrecondition ||
		errors.As(err, &status) && status.HTTPStatusCode() == http.StatusPreconditionFailed {
		return fmt.Errorf("%s: %w", name, backup.ErrExists)
	}
	return err
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

// Delete implements backup.Target. An immutable target refuses, with an
// error wrapping backup.ErrImmutable, unless name is
// backup.Bookkeeping.
func (t *Target) Delete(ctx context.Context, name string) error {
	if t.opts.Immutable && !backup.Bookkeeping(name) {
		return fmt.Errorf("%s: %w", name, backup.ErrImmutable)
	}
	err := t.bucket.Delete(ctx, name)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil
	}
	return err
}
