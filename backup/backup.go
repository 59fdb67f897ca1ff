package backup

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Cipher encrypts backups as streams. It must hold a key of its own,
// not the keys of the data being backed up: KeyringCipher uses a
// separate key namespace of the keyring.
type Cipher interface {
	// KeyID names the key, for manifests.
	KeyID() string
	EncryptStream(ctx context.Context, w io.Writer, ad []byte) (io.WriteCloser, error)
	DecryptStream(ctx context.Context, r io.Reader, ad []byte) (io.Reader, error)
}

// KeyringCipher encrypts a tenant's backups with the keyring's
// streaming AEAD (AES-256-GCM-HKDF, 1 MiB segments) under the key scope
// "backup/<tenant>", apart from the tenant's data keys: shredding a
// subject's keys still makes their data inside old backups unreadable,
// since it is stored there encrypted under those keys.
//
// k is a *crypto.Keyring; package backup names only the two methods it
// uses, so that it does not depend on package crypto. Without a keyring
// (k nil) there is no key: New and OpenRepository refuse the Cipher with
// ErrNoKey, and its methods fail with ErrNoKey.
func KeyringCipher(k StreamKeyring, tenantID string) Cipher {
	if v := reflect.ValueOf(k); k != nil && v.Kind() == reflect.Pointer && v.IsNil() {
		k = nil // a nil *crypto.Keyring
	}
	return keyringCipher{k: k, scope: "backup/" + tenantID}
}

// StreamKeyring is the streaming encryption of a crypto.Keyring, under
// a key scope of its own.
type StreamKeyring interface {
	EncryptStream(ctx context.Context, scope string, w io.Writer, ad []byte) (io.WriteCloser, error)
	DecryptStream(ctx context.Context, scope string, r io.Reader, ad []byte) (io.Reader, error)
}

type keyringCipher struct {
	k     StreamKeyring
	scope string
}

// errNoKeyring is what a KeyringCipher without a keyring fails with.
var errNoKeyring = fmt.Errorf("%w: KeyringCipher has no keyring", ErrNoKey)

func (c keyringCipher) KeyID() string { return "keyring:" + c.scope }

func (c keyringCipher) EncryptStream(ctx context.Context, w io.Writer, ad []byte) (io.WriteCloser, error) {
	if c.k == nil {
		return nil, errNoKeyring
	}
	return c.k.EncryptStream(ctx, c.scope, w, ad)
}

func (c keyringCipher) DecryptStream(ctx context.Context, r io.Reader, ad []byte) (io.Reader, error) {
	if c.k == nil {
		return nil, errNoKeyring
	}
	return c.k.DecryptStream(ctx, c.scope, r, ad)
}

// Source is what a backup reads: a database, a directory, a stream.
type Source interface {
	// Name says what is backed up ("sqlite:app.db"), for manifests and
	// retention groups.
	Name() string
	// Open starts reading a consistent copy.
	Open(ctx context.Context) (io.ReadCloser, error)
}

// Manifest describes one backup; it is written, after the data, to every
// target, and never changed. A backup without a manifest does not exist.
type Manifest struct {
	ID           string    `json:"id"`
	Source       string    `json:"source"`
	TenantID     string    `json:"tenant_id,omitempty"`
	Started      time.Time `json:"started"`
	Finished     time.Time `json:"finished"`
	PlainSize    int64     `json:"plain_size"`
	PlainSHA256  string    `json:"plain_sha256"`
	StoredSize   int64     `json:"stored_size"`
	StoredSHA256 string    `json:"stored_sha256"`
	Compression  string    `json:"compression"`
	KeyID        string    `json:"key_id"`
	Targets      []string  `json:"targets"`
	Parent       string    `json:"parent,omitempty"`
	Tags         []string  `json:"tags,omitempty"`
}

func dataName(id string) string     { return "data/" + id }
func manifestName(id string) string { return "manifests/" + id + ".json" }

// Errors.
var (
	ErrNoKey   = errors.New("backup: no backup key: refusing to write an unencrypted backup")
	ErrCorrupt = errors.New("backup: corrupt")
	ErrInvalid = errors.New("backup: invalid")
	// ErrWrongKey: the Cipher holds a key, but not the one the backup
	// was made with (another keyring, tenant or key scope): its
	// manifest's seal, and so its data, does not open. Neither ErrNoKey
	// (there is a key) nor ErrCorrupt (the bytes may well be intact).
	ErrWrongKey = errors.New("backup: wrong key")
)

// Options configure Backups.
type Options struct {
	// TenantID is recorded in manifests. Default: none (platform backups).
	TenantID string
	// Now is the clock of manifests. Default time.Now.
	Now func() time.Time
	// Level is the zstd level. Default zstd.SpeedDefault.
	Level zstd.EncoderLevel
	// UnsealedBefore accepts, unauthenticated, the manifests without a
	// seal of backups started before it (as their ID says): those
	// written before manifests were sealed. Set it to when this version
	// was deployed, while such backups remain. Default zero: a manifest
	// without a seal is refused with ErrCorrupt, so that removing a
	// seal cannot pass an edited manifest off as an old one.
	UnsealedBefore time.Time
}

// Backups writes, lists, verifies and restores backups on targets.
type Backups struct {
	cipher  Cipher
	targets []Target
	opts    Options

	holdsMu sync.Mutex
	holds   map[string]int // backups being restored: retention keeps them
}

// New returns Backups writing to every target. It fails closed: without
// a cipher there are no backups.
func New(cipher Cipher, targets []Target, opts Options) (*Backups, error) {
	if err := checkRepository(cipher, targets); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Level == 0 {
		opts.Level = zstd.SpeedDefault
	}
	return &Backups{cipher: cipher, targets: targets, opts: opts}, nil
}

// checkRepository checks that there is a cipher (backups fail closed
// without one) and at least one target, each named apart.
func checkRepository(cipher Cipher, targets []Target) error {
	if cipher == nil {
		return ErrNoKey
	}
	if kc, ok := cipher.(keyringCipher); ok && kc.k == nil {
		return errNoKeyring
	}
	if len(targets) == 0 {
		return fmt.Errorf("%w: at least one target", ErrInvalid)
	}
	names := map[string]bool{}
	for _, t := range targets {
		if names[t.Name()] {
			return fmt.Errorf("%w: two targets named %q", ErrInvalid, t.Name())
		}
		names[t.Name()] = true
	}
	return nil
}

func newID(t time.Time) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// counter counts and hashes what passes.
type counter struct {
	n int64
	h hash.Hash
}

func newCounter() *counter { return &counter{h: sha256.New()} }

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

func (c *counter) sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

// Run backs src up: its bytes are compressed (zstd), encrypted, hashed
// before and after, and written to every target at once, with memory
// bounded whatever the size; then the manifest is written. If anything
// fails, no manifest is written and no target keeps the data; that
// holds when the Source or the Cipher panics too: the writes to the
// targets are stopped and taken back before the panic goes on.
func (b *Backups) Run(ctx context.Context, src Source, tags ...string) (*Manifest, error) {
	m := &Manifest{Source: src.Name(), TenantID: b.opts.TenantID, Started: b.opts.Now().UTC(), Compression: "zstd",
		KeyID: b.cipher.KeyID(), Tags: tags}
	m.ID = newID(m.Started)
	for _, t := range b.targets {
		m.Targets = append(m.Targets, t.Name())
	}
	fan := newFanout(ctx, b.targets, dataName(m.ID))
	defer func() {
		if r := recover(); r != nil {
			fan.abort(fmt.Errorf("backup %s of %s: panic: %v", m.ID, src.Name(), r))
			b.discard(ctx, m.ID)
			panic(r)
		}
	}()
	stored := newCounter()
	enc, err := b.cipher.EncryptStream(ctx, io.MultiWriter(fan, stored), []byte(m.ID))
	if err != nil {
		fan.abort(err)
		b.removeData(m.ID)
		if werr := fan.writeErr(); werr != nil {
			// The key was there: the header met a target that had failed.
			return nil, fmt.Errorf("backup %s of %s: store: %w", m.ID, src.Name(), werr)
		}
		return nil, fmt.Errorf("%w: backup %s of %s: encrypt: %w", ErrNoKey, m.ID, src.Name(), err)
	}
	err = b.copyCompressed(ctx, src, enc, m)
	if err == nil {
		if err = enc.Close(); err != nil {
			err = fmt.Errorf("encrypt: %w", err)
		}
	}
	if err != nil {
		fan.abort(err)
		b.removeData(m.ID)
		if werr := fan.writeErr(); werr != nil {
			err = fmt.Errorf("store: %w", werr) // what failed after it followed from it
		}
		return nil, fmt.Errorf("backup %s of %s: %w", m.ID, src.Name(), err)
	}
	if err := fan.close(); err != nil {
		b.removeData(m.ID)
		return nil, fmt.Errorf("backup %s of %s: store: %w", m.ID, src.Name(), err)
	}
	m.StoredSize, m.StoredSHA256, m.Finished = stored.n, stored.sum(), b.opts.Now().UTC()
	if err := b.writeManifest(ctx, m); err != nil {
		b.discard(ctx, m.ID)
		return nil, err
	}
	return m, nil
}

// copyCompressed reads src through zstd into w, filling the plaintext
// size and hash.
func (b *Backups) copyCompressed(ctx context.Context, src Source, w io.Writer, m *Manifest) error {
	in, err := src.Open(ctx)
	if err != nil {
		return fmt.Errorf("open source: %w", err)
	}
	defer in.Close()
	z, err := zstd.NewWriter(w, zstd.WithEncoderLevel(b.opts.Level), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	plain := newCounter()
	read := &readErr{r: contextReader{ctx, in}}
	if _, err := io.Copy(io.MultiWriter(z, plain), read); err != nil {
		z.Close()
		if read.err != nil {
			return fmt.Errorf("read source: %w", read.err)
		}
		return fmt.Errorf("compress and encrypt: %w", err)
	}
	if err := z.Close(); err != nil {
		return fmt.Errorf("compress and encrypt: %w", err)
	}
	m.PlainSize, m.PlainSHA256 = plain.n, plain.sum()
	return nil
}

// readErr remembers the error of its reader other than EOF, so that a
// failed copy tells a source that failed from a write that did.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// contextReader stops a copy when ctx ends.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// discard takes back what a failed run wrote, manifest first: a backup
// is all or nothing.
func (b *Backups) discard(ctx context.Context, id string) {
	for _, t := range b.targets {
		_ = t.Delete(context.WithoutCancel(ctx), manifestName(id))
	}
	b.removeData(id)
}

// removeData deletes a failed backup's data from the targets that have it.
func (b *Backups) removeData(id string) {
	for _, t := range b.targets {
		_ = t.Delete(context.Background(), dataName(id))
	}
}

// fanout writes one stream to several targets at once, each through a
// pipe read by its own Put.
type fanout struct {
	pipes   []*io.PipeWriter
	targets []Target
	wg      sync.WaitGroup
	mu      sync.Mutex
	errs    []error
	failed  error // the first write a target refused, naming the target
}

func newFanout(ctx context.Context, targets []Target, name string) *fanout {
	f := &fanout{targets: targets}
	for _, t := range targets {
		pr, pw := io.Pipe()
		f.pipes = append(f.pipes, pw)
		f.wg.Go(func() {
			err := put(ctx, t, name, pr)
			if err != nil {
				f.mu.Lock()
				f.errs = append(f.errs, fmt.Errorf("target %s: %w", t.Name(), err))
				f.mu.Unlock()
			}
			pr.CloseWithError(err) // unblock the writer if Put stopped early
		})
	}
	return f
}

// put is t.Put with a panic of the adapter turned into an error: it
// runs on a goroutine of its own, where a panic would end the process.
func put(ctx context.Context, t Target, name string, r io.Reader) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("put %s panicked: %v", name, p)
		}
	}()
	return t.Put(ctx, name, r)
}

// Write sends p to every target; the first failing target fails it,
// with the error its Put stopped with, naming it.
func (f *fanout) Write(p []byte) (int, error) {
	for i, pw := range f.pipes {
		if _, err := pw.Write(p); err != nil {
			err = fmt.Errorf("target %s: %w", f.targets[i].Name(), err)
			f.mu.Lock()
			if f.failed == nil {
				f.failed = err
			}
			f.mu.Unlock()
			return 0, err
		}
	}
	return len(p), nil
}

// writeErr is the first write a target refused, or nil.
func (f *fanout) writeErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func (f *fanout) close() error {
	for _, pw := range f.pipes {
		_ = pw.Close()
	}
	f.wg.Wait()
	return errors.Join(f.errs...)
}

func (f *fanout) abort(err error) {
	for _, pw := range f.pipes {
		_ = pw.CloseWithError(err)
	}
	f.wg.Wait()
}

// Manifests lists every backup found on any target, oldest first: the
// catalog, rebuilt from the targets alone. A target that cannot be read
// (offsite and unreachable, say) or a damaged manifest copy does not
// hide what the other targets hold; only when no target can be listed,
// or when the targets list manifests of which none can be read, is the
// result an error: a catalog is never empty while the targets hold
// backups.
func (b *Backups) Manifests(ctx context.Context) ([]*Manifest, error) {
	all, unreadable, err := b.catalog(ctx)
	if err == nil && len(all) == 0 && len(unreadable) > 0 {
		err = fmt.Errorf("backup: catalog: %d manifests listed, none readable: %w", len(unreadable), errors.Join(slices.Collect(maps.Values(unreadable))...))
	}
	if err != nil {
		return nil, err
	}
	return all, nil
}

// catalog reads every manifest the targets list: the readable ones,
// oldest first, and the error of each backup whose manifest is listed
// but could be read from no target.
func (b *Backups) catalog(ctx context.Context) ([]*Manifest, map[string]error, error) {
	byID := map[string]*Manifest{}
	unreadable := map[string]error{}
	var errs []error
	listed := 0
	for _, t := range b.targets {
		names, err := t.List(ctx, "manifests/")
		if err != nil {
			errs = append(errs, fmt.Errorf("target %s: %w", t.Name(), err))
			continue
		}
		listed++
		for _, n := range names {
			id := strings.TrimSuffix(strings.TrimPrefix(n, "manifests/"), ".json")
			if _, ok := byID[id]; ok {
				continue
			}
			m, err := b.readManifest(ctx, t, id)
			if err != nil {
				unreadable[id] = errors.Join(unreadable[id], err)
				continue
			}
			byID[id] = m
			delete(unreadable, id)
		}
	}
	if listed == 0 {
		return nil, nil, errors.Join(errs...)
	}
	out := make([]*Manifest, 0, len(byID))
	for _, m := range byID {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *Manifest) int { return strings.Compare(a.ID, b.ID) })
	return out, unreadable, nil
}

// manifest finds a backup's manifest on the first target that has it.
func (b *Backups) manifest(ctx context.Context, id string) (*Manifest, error) {
	var errs []error
	for _, t := range b.targets {
		m, err := b.readManifest(ctx, t, id)
		if err == nil {
			return m, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}
