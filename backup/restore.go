package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/saaskit/saaskit/internal/atomicfile"
)

// Restore writes backup id's original bytes to w, from the first target
// whose copy is intact, and checks them against the manifest's hash. w
// may have received bytes when an error is returned: restore to a
// scratch file (RestoreFile) when that matters.
func (b *Backups) Restore(ctx context.Context, id string, w io.Writer) error {
	defer b.hold(id)()
	m, err := b.manifest(ctx, id)
	if err != nil {
		return err
	}
	holders, err := b.holders(ctx, id)
	if err != nil {
		return fmt.Errorf("restore %s: %w", id, err)
	}
	var errs []error
	for _, t := range holders {
		err := b.restoreFrom(ctx, t, m, w)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		if _, isSeeker := w.(io.Seeker); !isSeeker {
			break // bytes went out: another copy cannot be appended after them
		}
		if err := rewind(w); err != nil {
			break
		}
	}
	return fmt.Errorf("restore %s: %w", id, errors.Join(errs...))
}

func rewind(w io.Writer) error {
	if f, ok := w.(*os.File); ok {
		if err := f.Truncate(0); err != nil {
			return err
		}
	}
	_, err := w.(io.Seeker).Seek(0, io.SeekStart)
	return err
}

// restoreFrom reads one target's copy: stored bytes hashed, decrypted,
// decompressed and hashed again. Damage is an error wrapping
// ErrCorrupt that names the backup, the target and the stored byte at
// or after which it was met; a target that fails to read is named as
// such, and a key that does not open the data is ErrWrongKey.
func (b *Backups) restoreFrom(ctx context.Context, t Target, m *Manifest, w io.Writer) error {
	rc, err := t.Get(ctx, dataName(m.ID))
	if err != nil {
		return fmt.Errorf("backup %s: target %s: %w", m.ID, t.Name(), err)
	}
	defer rc.Close()
	stored := newCounter()
	read := &readErr{r: rc}
	damaged := func(what string, err error) error {
		if read.err != nil {
			return fmt.Errorf("backup %s: target %s: read at stored byte %d: %w", m.ID, t.Name(), stored.n, read.err)
		}
		return fmt.Errorf("%w: backup %s on %s: %s at or after stored byte %d: %w", ErrCorrupt, m.ID, t.Name(), what, stored.n, err)
	}
	plainSrc, err := b.cipher.DecryptStream(ctx, io.TeeReader(read, stored), []byte(m.ID))
	if err != nil {
		if m.KeyID != b.cipher.KeyID() {
			return fmt.Errorf("backup %s on %s: %w", m.ID, t.Name(), wrongKey(b.cipher, m, err))
		}
		return damaged("header unreadable", err)
	}
	z, err := zstd.NewReader(plainSrc, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(256<<20))
	if err != nil {
		return damaged("unreadable", err)
	}
	defer z.Close()
	plain := newCounter()
	if _, err := io.Copy(io.MultiWriter(w, plain), z); err != nil {
		return damaged("unreadable", err)
	}
	_, _ = io.Copy(io.Discard, io.TeeReader(read, stored)) // count any trailing bytes
	if stored.n != m.StoredSize || stored.sum() != m.StoredSHA256 {
		return fmt.Errorf("%w: backup %s on %s: stored %d bytes, manifest says %d, or their hash differs", ErrCorrupt, m.ID, t.Name(), stored.n, m.StoredSize)
	}
	if plain.n != m.PlainSize || plain.sum() != m.PlainSHA256 {
		return fmt.Errorf("%w: backup %s on %s: restored bytes differ from the backed-up ones", ErrCorrupt, m.ID, t.Name())
	}
	return nil
}

// RestoreFile restores backup id into path through a scratch file in
// the same directory, renamed into place only when the restore is
// verified.
func (b *Backups) RestoreFile(ctx context.Context, id, path string) error {
	return atomicfile.Replace(path, func(f *os.File) error { return b.Restore(ctx, id, f) })
}

// Level is how deeply Verify checks a backup.
type Level int

// Verification levels, each including the ones before.
const (
	// CheckManifest reads the manifest and checks its fields.
	CheckManifest Level = iota + 1
	// CheckExists checks the data object is on every target.
	CheckExists
	// CheckReadAll reads every copy, decrypts and decompresses it, and
	// compares both hashes and sizes.
	CheckReadAll
)

// String names the level as the command line and the recorded
// verifications do: manifest, exists or all.
func (l Level) String() string {
	switch l {
	case CheckManifest:
		return "manifest"
	case CheckExists:
		return "exists"
	case CheckReadAll:
		return "all"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// Verify checks backup id at level and reports the first problem,
// naming the backup, the target and where. From CheckExists on, it
// checks the copy on every target that holds the backup's manifest, and
// fails when no target does: a verification that checked no copy never
// passes. The outcome is recorded on the targets that hold the backup,
// where Verifications finds it, whichever process verified it.
func (b *Backups) Verify(ctx context.Context, id string, level Level) error {
	holders, err := b.holders(ctx, id)
	if err != nil {
		return err
	}
	err = b.check(ctx, holders, id, level)
	v := Verified{ID: id, At: b.opts.Now().UTC(), Level: level.String(), OK: err == nil}
	if err != nil {
		v.Error = err.Error()
	}
	if rerr := recordVerified(ctx, holders, v); rerr != nil {
		return errors.Join(err, fmt.Errorf("backup %s: recording its verification: %w", id, rerr))
	}
	return err
}

// check checks backup id at level on the targets that hold it.
func (b *Backups) check(ctx context.Context, holders []Target, id string, level Level) error {
	m, err := b.manifest(ctx, id)
	if err != nil {
		return err
	}
	if m.PlainSHA256 == "" || m.StoredSHA256 == "" || m.Finished.Before(m.Started) || len(m.Targets) == 0 {
		return fmt.Errorf("%w: backup %s: manifest incomplete", ErrCorrupt, id)
	}
	if level < CheckExists {
		return nil
	}
	for _, t := range holders {
		if level < CheckReadAll {
			rc, err := t.Get(ctx, dataName(id))
			if err != nil {
				return fmt.Errorf("%w: backup %s: data missing on %s: %w", ErrCorrupt, id, t.Name(), err)
			}
			rc.Close()
			continue
		}
		if err := b.restoreFrom(ctx, t, m, io.Discard); err != nil {
			return err
		}
	}
	return nil
}

// holders returns the targets that hold backup id: those with its
// manifest. What a target holds decides, not the names recorded in the
// manifest, which depend on how a target was spelled when the backup
// was made (a relative path, a copied directory). It is an error when
// none does, or when a target's manifest cannot be read.
func (b *Backups) holders(ctx context.Context, id string) ([]Target, error) {
	var holders []Target
	for _, t := range b.targets {
		_, err := b.readManifest(ctx, t, id)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return nil, err
		}
		holders = append(holders, t)
	}
	if len(holders) == 0 {
		return nil, fmt.Errorf("%w: backup %s: no target holds a copy", ErrNotFound, id)
	}
	return holders, nil
}

// VerifySubset reads all of part n (0 ≤ n < of) of the backups, chosen
// by position in the catalog, so that of runs with n = 0 … of-1 read
// everything once (restic's check --read-data-subset=n/of). It returns
// the IDs checked and the first error. A backup whose manifest is
// listed but unreadable on every target is part of the catalog here,
// and fails its part. A catalog with no backup at all is an error
// wrapping ErrNotFound: a verification that checked nothing never
// passes.
func (b *Backups) VerifySubset(ctx context.Context, n, of int) ([]string, error) {
	if of <= 0 || n < 0 || n >= of {
		return nil, fmt.Errorf("%w: subset %d/%d", ErrInvalid, n, of)
	}
	all, unreadable, err := b.catalog(ctx)
	if err != nil {
		return nil, err
	}
	ids := slices.Collect(maps.Keys(unreadable))
	for _, m := range all {
		ids = append(ids, m.ID)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no backup to verify on the targets", ErrNotFound)
	}
	slices.Sort(ids)
	var checked []string
	for i, id := range ids {
		if i%of != n {
			continue
		}
		checked = append(checked, id)
		if err := b.Verify(ctx, id, CheckReadAll); err != nil {
			return checked, err
		}
	}
	return checked, nil
}

// At returns the newest backup of source (and of the Backups' tenant)
// finished at or before t: for restoring to a point in time.
func (b *Backups) At(ctx context.Context, source string, t time.Time) (*Manifest, error) {
	all, err := b.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	var best *Manifest
	for _, m := range all {
		if m.Source != source || m.TenantID != b.opts.TenantID || m.Finished.After(t) {
			continue
		}
		if best == nil || m.Finished.After(best.Finished) {
			best = m
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: no backup of %s finished by %s", ErrNotFound, source, t.UTC().Format(time.RFC3339))
	}
	return best, nil
}
