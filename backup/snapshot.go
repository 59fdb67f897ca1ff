package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/restic/chunker"
)

// ErrLocked: another process holds the repository in a way that
// excludes this operation (a prune while snapshots run, or the reverse).
var ErrLocked = errors.New("backup: repository locked")

// RepositoryOptions configure a Repository. The chunking fields apply
// when the repository is created; after that its config decides, so
// every snapshot chunks alike.
type RepositoryOptions struct {
	// TenantID is recorded in snapshots, and groups them for retention.
	// Default: none (platform snapshots).
	TenantID string
	// Now is the clock of snapshots and locks. Default time.Now.
	Now func() time.Time
	// Level is the zstd level of chunks. Default zstd.SpeedDefault.
	Level zstd.EncoderLevel
	// PackSize is the size at which a pack is closed and written.
	// Default 16 MiB.
	PackSize int
	// Workers hash, compress and encrypt chunks in parallel. Default
	// runtime.GOMAXPROCS(0).
	Workers int
	// ChunkMin and ChunkMax bound chunk sizes, and ChunkAverageBits
	// sets the average size beyond ChunkMin to 2^bits bytes, when the
	// repository is created. Defaults 128 KiB, 2 MiB and 18 (an average
	// chunk of about 384 KiB): small enough that a change of 1% of a
	// database dump stores little more than 1%.
	ChunkMin, ChunkMax, ChunkAverageBits int
	// CacheDir is the local directory of chunk caches: for each stream
	// source (per repository and tenant), the chunks of its last
	// snapshot, with which the next snapshot of that stream recognises
	// unchanged chunks by a keyed BLAKE3 digest of their bytes instead
	// of chunking, hashing, compressing and storing them again. Files
	// are sealed under a key derived from the repository's secret; one
	// missing, damaged or foreign costs time only (the stream is
	// chunked in full), never a wrong snapshot. Files unused for 30 days
	// are removed. Default: saaskit/backup under os.UserCacheDir, or no
	// cache when the system names no cache directory (no $HOME).
	CacheDir string
	// NoCache turns the chunk cache off: every stream snapshot chunks
	// all of the stream. Default false.
	NoCache bool
	// FullReadEvery bounds the trust in a ChangeSource's change lists:
	// after this many snapshots in a row taken by change list, the next
	// reads the whole stream (with the chunk cache), so a change the
	// list missed is in a snapshot at most this many snapshots later.
	// Each snapshot by change list also reads and hashes a few of the
	// parent's chunks it takes (4, at random) and reads the whole
	// stream when one differs. Default 24; negative: never.
	FullReadEvery int
	// StaleLock is the age after which a lock left by a process that
	// died no longer counts; running snapshots renew theirs well before.
	// Default 1 hour.
	StaleLock time.Duration
}

// Repository holds incremental, deduplicated, encrypted snapshots on
// one or more targets, beside the Backups' own objects (under
// "snapshots/"). Sources are cut into content-defined chunks; a chunk
// already stored is never stored again. See the package documentation.
// A Repository is safe for concurrent use, and so are several
// processes sharing its targets.
type Repository struct {
	cipher  Cipher
	targets []Target
	opts    RepositoryOptions
	cfg     repoConfig
	zenc    *zstd.Encoder
	zdec    *zstd.Decoder
	bufs    sync.Pool // chunks being hashed, compressed and encrypted
	zbufs   sync.Pool // compressed chunks

	cacheDir  string // chunk caches; "" for none
	cacheKeys chunkCacheKeys
	digesters sync.Pool // keyed BLAKE3 hashers
	windows   sync.Pool // splitters' windows

	mu      sync.Mutex
	indexes map[string]*indexFile // index objects read, by name: they never change
}

// repoConfig is the repository's secret configuration, stored
// encrypted: every run chunks with its polynomial and names chunks with
// its key.
type repoConfig struct {
	Version     int         `json:"version"`
	ID          string      `json:"id"`
	Polynomial  chunker.Pol `json:"polynomial"`
	IDKey       []byte      `json:"id_key"`
	ChunkMin    int         `json:"chunk_min"`
	ChunkMax    int         `json:"chunk_max"`
	AverageBits int         `json:"average_bits"`
}

func parseConfig(data []byte) (repoConfig, error) {
	var c repoConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("%w: repository config: %w", ErrCorrupt, err)
	}
	switch {
	case c.Version != 1:
		return c, fmt.Errorf("%w: repository config: version %d, want 1", ErrCorrupt, c.Version)
	case c.Polynomial.Deg() != 53 || !c.Polynomial.Irreducible():
		return c, fmt.Errorf("%w: repository config: polynomial is not irreducible of degree 53", ErrCorrupt)
	case len(c.IDKey) != 32:
		return c, fmt.Errorf("%w: repository config: id key is %d bytes, want 32", ErrCorrupt, len(c.IDKey))
	case c.ChunkMin < 64 || c.ChunkMax < c.ChunkMin || c.ChunkMax > 64<<20 || c.AverageBits < 8 || c.AverageBits > 28:
		return c, fmt.Errorf("%w: repository config: chunk sizes %d..%d, average bits %d out of range", ErrCorrupt, c.ChunkMin, c.ChunkMax, c.AverageBits)
	}
	return c, nil
}

// OpenRepository opens the repository on targets, creating it (a random
// chunking polynomial and id key, stored encrypted) when no target holds
// one, and copying its config to targets added since. Every target must
// be reachable, and all must hold the same repository.
func OpenRepository(ctx context.Context, cipher Cipher, targets []Target, opts RepositoryOptions) (*Repository, error) {
	if err := checkRepository(cipher, targets); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Level == 0 {
		opts.Level = zstd.SpeedDefault
	}
	if opts.PackSize <= 0 {
		opts.PackSize = 16 << 20
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.StaleLock <= 0 {
		opts.StaleLock = time.Hour
	}
	if opts.FullReadEvery == 0 {
		opts.FullReadEvery = 24
	}
	r := &Repository{cipher: cipher, targets: targets, opts: opts, indexes: map[string]*indexFile{}}
	if err := r.loadConfig(ctx); err != nil {
		return nil, err
	}
	var err error
	if r.zenc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(opts.Level), zstd.WithEncoderConcurrency(opts.Workers)); err != nil {
		return nil, err
	}
	if r.zdec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(opts.Workers), zstd.WithDecoderMaxMemory(uint64(r.cfg.ChunkMax)+1)); err != nil {
		return nil, err
	}
	if !opts.NoCache {
		r.cacheDir = opts.CacheDir
		if r.cacheDir == "" {
			r.cacheDir = defaultCacheDir()
		}
	}
	if r.cacheKeys, err = deriveChunkCacheKeys(r.cfg.IDKey); err != nil {
		return nil, err
	}
	r.digesters.New = func() any { return newDigester(r.cacheKeys.digest) }
	r.windows.New = func() any { b := make([]byte, windowSize(r.cfg)); return &b }
	maxChunk := r.cfg.ChunkMax
	r.bufs.New = func() any { b := make([]byte, maxChunk); return &b }
	r.zbufs.New = func() any { b := make([]byte, 0, maxChunk+maxChunk/64+64); return &b }
	return r, nil
}

// Repository opens the snapshot repository on the Backups' targets,
// under its cipher, tenant and clock (OpenRepository).
func (b *Backups) Repository(ctx context.Context) (*Repository, error) {
	return OpenRepository(ctx, b.cipher, b.targets, RepositoryOptions{TenantID: b.opts.TenantID, Now: b.opts.Now, Level: b.opts.Level})
}

func (r *Repository) loadConfig(ctx context.Context) error {
	var stored []byte // the config object as stored, to copy to targets without it
	var missing []Target
	for _, t := range r.targets {
		raw, err := getObject(ctx, t, configName)
		if errors.Is(err, ErrNotFound) {
			missing = append(missing, t)
			continue
		}
		if err != nil {
			return fmt.Errorf("snapshot repository: target %s: %w", t.Name(), err)
		}
		cfg, err := r.decodeConfig(ctx, t, raw)
		if err != nil {
			return err
		}
		if stored != nil && cfg.ID != r.cfg.ID {
			return fmt.Errorf("%w: targets hold different snapshot repositories (%s on %s, %s before)", ErrInvalid, cfg.ID, t.Name(), r.cfg.ID)
		}
		stored, r.cfg = raw, cfg
	}
	if len(missing) == 0 {
		return nil
	}
	if stored == nil {
		cfg, err := r.newConfig()
		if err != nil {
			return err
		}
		if stored, err = r.seal(ctx, configName, cfg); err != nil {
			return err
		}
		r.cfg = cfg
	}
	for _, t := range missing {
		if err := t.Put(ctx, configName, bytes.NewReader(stored)); errors.Is(err, ErrExists) {
			// Another process created it first: use theirs.
			return r.loadConfig(ctx)
		} else if err != nil {
			return fmt.Errorf("snapshot repository: target %s: %w", t.Name(), err)
		}
	}
	return nil
}

func (r *Repository) decodeConfig(ctx context.Context, t Target, raw []byte) (repoConfig, error) {
	plain, err := r.unseal(ctx, configName, raw)
	if err != nil {
		return repoConfig{}, fmt.Errorf("snapshot repository: target %s: %w", t.Name(), err)
	}
	cfg, err := parseConfig(plain)
	if err != nil {
		return cfg, fmt.Errorf("snapshot repository: target %s: %w", t.Name(), err)
	}
	return cfg, nil
}

func (r *Repository) newConfig() (repoConfig, error) {
	pol, err := chunker.RandomPolynomial()
	if err != nil {
		return repoConfig{}, err
	}
	cfg := repoConfig{Version: 1, Polynomial: pol, IDKey: make([]byte, 32),
		ChunkMin: orDefault(r.opts.ChunkMin, 128<<10), ChunkMax: orDefault(r.opts.ChunkMax, 2<<20), AverageBits: orDefault(r.opts.ChunkAverageBits, 18)}
	_, _ = rand.Read(cfg.IDKey)
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	cfg.ID = hex.EncodeToString(id)
	if _, err := parseConfig(mustJSON(cfg)); err != nil {
		return cfg, fmt.Errorf("%w: RepositoryOptions: %w", ErrInvalid, errors.Unwrap(err))
	}
	return cfg, nil
}

// orDefault is v, or def when v is zero.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only types of this package, which always marshal
	}
	return data
}

// seal encrypts v's JSON bound to the object's name.
func (r *Repository) seal(ctx context.Context, name string, v any) ([]byte, error) {
	var out bytes.Buffer
	if err := encryptTo(ctx, r.cipher, &out, mustJSON(v), []byte(name)); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// encryptTo appends plain, encrypted by c bound to ad, to out. A
// Cipher that cannot start a stream has no key: ErrNoKey.
func encryptTo(ctx context.Context, c Cipher, out *bytes.Buffer, plain, ad []byte) error {
	w, err := c.EncryptStream(ctx, out, ad)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoKey, err)
	}
	if _, err := w.Write(plain); err != nil {
		return err
	}
	return w.Close()
}

// unseal decrypts an object stored under name.
func (r *Repository) unseal(ctx context.Context, name string, raw []byte) ([]byte, error) {
	dr, err := r.cipher.DecryptStream(ctx, bytes.NewReader(raw), []byte(name))
	if err == nil {
		var plain []byte
		if plain, err = io.ReadAll(dr); err == nil {
			return plain, nil
		}
	}
	return nil, fmt.Errorf("%w: %s does not decrypt: %w", ErrCorrupt, name, err)
}

// getObject reads a whole object, up to maxObjectSize.
func getObject(ctx context.Context, t Target, name string) ([]byte, error) {
	rc, err := t.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxObjectSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxObjectSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrCorrupt, name, maxObjectSize)
	}
	return data, nil
}

// readObject reads and decrypts an object from t.
func (r *Repository) readObject(ctx context.Context, t Target, name string) ([]byte, error) {
	raw, err := getObject(ctx, t, name)
	if err != nil {
		return nil, err
	}
	return r.unseal(ctx, name, raw)
}

// writeObject encrypts v and writes it to every target, once.
func (r *Repository) writeObject(ctx context.Context, name string, v any) error {
	data, err := r.seal(ctx, name, v)
	if err != nil {
		return err
	}
	return putAll(ctx, r.targets, name, data, false)
}

// SnapshotInfo describes a snapshot.
type SnapshotInfo struct {
	ID       string    `json:"id"`
	Source   string    `json:"source"`
	TenantID string    `json:"tenant_id,omitempty"`
	Kind     string    `json:"kind"` // "stream" or "tree"
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Tags     []string  `json:"tags,omitempty"`
	// Parent is the previous snapshot of the same source, whose files'
	// chunk lists a tree snapshot reused when size and time matched.
	Parent string `json:"parent,omitempty"`
	// Size is the plaintext size: the stream's, or the files' total.
	Size int64 `json:"size"`
	// Files counts a tree's regular files.
	Files int `json:"files,omitempty"`
	// Chunks counts chunk references; NewChunks those this snapshot
	// stored, and AddedBytes what it wrote to each target (packs and
	// index): the cost of an incremental snapshot.
	Chunks     int   `json:"chunks"`
	NewChunks  int   `json:"new_chunks"`
	AddedBytes int64 `json:"added_bytes"`
	// CachedBytes counts the bytes of a stream that the chunk cache
	// (RepositoryOptions.CacheDir) recognised as chunks of the last
	// snapshot, by their digest, so that they were not chunked again.
	CachedBytes int64 `json:"cached_bytes,omitempty"`
	// ReadBytes counts the bytes of a ChangeSource read: all of it, or,
	// by its change list, around the changes only (the rest is in
	// CachedBytes, taken from the parent unread).
	ReadBytes int64 `json:"read_bytes,omitempty"`
	// Mark names the state of a ChangeSource this snapshot read, and
	// Trusted counts the snapshots in a row, this one included, taken
	// by change list since one read the whole stream
	// (RepositoryOptions.FullReadEvery).
	Mark    string `json:"mark,omitempty"`
	Trusted int    `json:"trusted,omitempty"`
	KeyID   string `json:"key_id"`
}

// snapshotFile is a snapshot object: its info and what it holds.
type snapshotFile struct {
	Version int `json:"version"`
	SnapshotInfo
	Stream []chunkID   `json:"stream,omitempty"`
	Tree   []treeEntry `json:"tree,omitempty"`
}

// treeEntry is a file, directory or symbolic link of a tree snapshot.
type treeEntry struct {
	Path   string      `json:"path"` // slash-separated, relative
	Type   string      `json:"type"` // file, dir or symlink
	Mode   os.FileMode `json:"mode"` // permission bits
	MTime  time.Time   `json:"mtime"`
	Size   int64       `json:"size,omitempty"`
	Link   string      `json:"link,omitempty"`
	Chunks []chunkID   `json:"chunks,omitempty"`
}

func snapName(id string) string { return snapPrefix + id }

// validSnapID accepts the ids newID makes, and nothing that could
// leave its directory.
func validSnapID(id string) bool {
	if id == "" || len(id) > 100 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}

// parseSnapshot decodes and checks a snapshot object's plaintext.
func parseSnapshot(id string, data []byte) (*snapshotFile, error) {
	var s snapshotFile
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%w: snapshot %s: %w", ErrCorrupt, id, err)
	}
	bad := func(format string, args ...any) (*snapshotFile, error) {
		return nil, fmt.Errorf("%w: snapshot %s: %s", ErrCorrupt, id, fmt.Sprintf(format, args...))
	}
	switch {
	case s.Version != 1:
		return bad("version %d, want 1", s.Version)
	case s.ID != id:
		return bad("names itself %.80q", s.ID)
	case s.Size < 0 || s.Files < 0 || s.Chunks < 0 || s.NewChunks < 0 || s.AddedBytes < 0 || s.CachedBytes < 0 || s.ReadBytes < 0 || s.Trusted < 0:
		return bad("negative counts")
	case s.CachedBytes > s.Size:
		return bad("%d bytes cached of %d", s.CachedBytes, s.Size)
	}
	switch s.Kind {
	case "stream":
		if len(s.Tree) > 0 || len(s.Stream) != s.Chunks {
			return bad("stream of %d chunks, %d counted, with %d tree entries", len(s.Stream), s.Chunks, len(s.Tree))
		}
	case "tree":
		if len(s.Stream) > 0 {
			return bad("tree with a stream")
		}
		seen := map[string]bool{}
		files, chunks := 0, 0
		for _, e := range s.Tree {
			if !validTreePath(e.Path) || seen[e.Path] {
				return bad("path %.200q invalid or repeated", e.Path)
			}
			seen[e.Path] = true
			switch {
			case e.Size < 0 || e.Mode&^os.ModePerm != 0:
				return bad("%q: size %d, mode %o", e.Path, e.Size, uint32(e.Mode))
			case e.Type == "file":
				files++
				chunks += len(e.Chunks)
			case e.Type == "dir" || e.Type == "symlink":
				if len(e.Chunks) > 0 || e.Size != 0 || (e.Type == "dir") != (e.Link == "") {
					return bad("%s %q with content", e.Type, e.Path)
				}
			default:
				return bad("%q: type %.20q", e.Path, e.Type)
			}
		}
		if files != s.Files || chunks != s.Chunks {
			return bad("%d files and %d chunks, %d and %d counted", files, chunks, s.Files, s.Chunks)
		}
	default:
		return bad("kind %.20q", s.Kind)
	}
	return &s, nil
}

// validTreePath accepts clean, relative, slash-separated paths that
// stay inside the directory they are restored to.
func validTreePath(p string) bool {
	if p == "" || p == "." || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.ContainsRune(p, 0) {
		return false
	}
	for part := range strings.SplitSeq(p, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return true
}

// Snapshots lists the snapshots found on any target, oldest first. Like
// Manifests, a damaged copy or an unreachable target does not hide what
// the others hold; VerifySnapshots reports damage.
func (r *Repository) Snapshots(ctx context.Context) ([]SnapshotInfo, error) {
	all, err := r.loadSnapshots(ctx, false)
	if err != nil {
		return nil, err
	}
	out := make([]SnapshotInfo, len(all))
	for i, s := range all {
		out[i] = s.SnapshotInfo
	}
	return out, nil
}

// loadSnapshots reads every snapshot, oldest first. When strict, any
// target that cannot be listed and any copy that cannot be read is an
// error: a prune must know every snapshot.
func (r *Repository) loadSnapshots(ctx context.Context, strict bool) ([]*snapshotFile, error) {
	byID := map[string]*snapshotFile{}
	var errs []error
	listed := 0
	for _, t := range r.targets {
		names, err := t.List(ctx, snapPrefix)
		if err != nil {
			errs = append(errs, fmt.Errorf("target %s: %w", t.Name(), err))
			continue
		}
		listed++
		for _, n := range names {
			id := strings.TrimPrefix(n, snapPrefix)
			if _, ok := byID[id]; ok {
				continue
			}
			s, err := r.readSnapshot(ctx, t, id)
			if err != nil {
				errs = append(errs, fmt.Errorf("target %s: %w", t.Name(), err))
				continue
			}
			byID[id] = s
		}
	}
	if listed == 0 || (strict && len(errs) > 0) {
		return nil, errors.Join(errs...)
	}
	out := make([]*snapshotFile, 0, len(byID))
	for _, s := range byID {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *snapshotFile) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

func (r *Repository) readSnapshot(ctx context.Context, t Target, id string) (*snapshotFile, error) {
	if !validSnapID(id) {
		return nil, fmt.Errorf("%w: snapshot id %.80q", ErrInvalid, id)
	}
	plain, err := r.readObject(ctx, t, snapName(id))
	if err != nil {
		return nil, err
	}
	return parseSnapshot(id, plain)
}

// snapshot finds snapshot id on the first target that has an intact
// copy.
func (r *Repository) snapshot(ctx context.Context, id string) (*snapshotFile, error) {
	var errs []error
	for _, t := range r.targets {
		s, err := r.readSnapshot(ctx, t, id)
		if err == nil {
			return s, nil
		}
		errs = append(errs, fmt.Errorf("target %s: %w", t.Name(), err))
	}
	if len(errs) > 0 && !slices.ContainsFunc(errs, func(e error) bool { return !errors.Is(e, ErrNotFound) }) {
		return nil, fmt.Errorf("%w: snapshot %s", ErrNotFound, id)
	}
	return nil, fmt.Errorf("snapshot %s: %w", id, errors.Join(errs...))
}

// loadIndex reads the index objects (new ones only: they never change)
// and merges them. When strict, an unreadable index is an error;
// otherwise it is left out, and so are its packs, which are then
// written again by the next run that needs their chunks.
func (r *Repository) loadIndex(ctx context.Context, strict bool) (*repoIndex, error) {
	names := map[string]Target{}
	var errs []error
	listed := 0
	for _, t := range r.targets {
		ns, err := t.List(ctx, indexPrefix)
		if err != nil {
			errs = append(errs, fmt.Errorf("target %s: %w", t.Name(), err))
			continue
		}
		listed++
		for _, n := range ns {
			if _, ok := names[n]; !ok {
				names[n] = t
			}
		}
	}
	if listed == 0 || (strict && len(errs) > 0) {
		return nil, errors.Join(errs...)
	}
	idx := newRepoIndex()
	for _, n := range slices.Sorted(maps.Keys(names)) {
		r.mu.Lock()
		f := r.indexes[n]
		r.mu.Unlock()
		if f == nil {
			var err error
			if f, err = r.readIndex(ctx, n); err != nil {
				if strict {
					return nil, err
				}
				continue
			}
			r.mu.Lock()
			r.indexes[n] = f
			r.mu.Unlock()
		}
		idx.add(n, f)
	}
	return idx, nil
}

// readIndex reads index object name from the first target with an
// intact copy.
func (r *Repository) readIndex(ctx context.Context, name string) (*indexFile, error) {
	var errs []error
	for _, t := range r.targets {
		plain, err := r.readObject(ctx, t, name)
		if err == nil {
			var f *indexFile
			if f, err = parseIndex(plain); err == nil {
				return f, nil
			}
		}
		if !errors.Is(err, ErrNotFound) {
			errs = append(errs, fmt.Errorf("target %s: %s: %w", t.Name(), name, err))
		}
	}
	return nil, errors.Join(errs...)
}

// packsOn lists the packs on t.
func packsOn(ctx context.Context, t Target) (map[packID]bool, error) {
	names, err := t.List(ctx, packPrefix)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", t.Name(), err)
	}
	out := make(map[packID]bool, len(names))
	for _, n := range names {
		if id, ok := packOfName(n); ok {
			out[id] = true
		}
	}
	return out, nil
}

// Snapshot takes a snapshot of src: a stream cut into chunks, of which
// only those the repository lacks are stored. With the chunk cache
// (RepositoryOptions.CacheDir), the chunks of the source's last
// snapshot (by this process or another sharing the cache directory)
// whose bytes did not change are recognised by their digest and not
// chunked again; the chunk list is the same either way. A DirSource is
// taken as a tree (SnapshotDir). If it fails, no snapshot exists; packs
// it wrote stay, unreferenced, until Prune.
func (r *Repository) Snapshot(ctx context.Context, src Source, tags ...string) (*SnapshotInfo, error) {
	if d, ok := src.(dirSource); ok {
		return r.SnapshotDir(ctx, d.dir, tags...)
	}
	source := src.Name()
	cache := r.loadChunkCache(source)
	record := r.cacheDir != ""
	var chunks []cachedChunk
	info, err := r.take(ctx, source, "stream", tags, func(ctx context.Context, run *snapRun, s *snapshotFile) error {
		if cs, ok := src.(ChangeSource); ok {
			var err error
			chunks, err = r.snapshotChanges(ctx, run, s, cs, cache, record)
			return err
		}
		in, err := src.Open(ctx)
		if err != nil {
			return fmt.Errorf("open source: %w", err)
		}
		defer in.Close()
		res, err := run.addStream(ctx, in, cache, record)
		s.Stream, s.Size, s.CachedBytes, chunks = res.ids, res.size, res.cached, res.chunks
		s.Chunks = len(s.Stream)
		return err
	})
	if err == nil && record && len(chunks) == info.Chunks {
		_ = r.saveChunkCache(source, info.ID, chunks) // an optimisation: its failure fails nothing
	}
	return info, err
}

// take runs a snapshot: under a shared lock, fill stores the source's
// chunks through run and fills in s; then the run's last pack and its
// index are written, and the snapshot object last of all.
func (r *Repository) take(ctx context.Context, source, kind string, tags []string,
	fill func(context.Context, *snapRun, *snapshotFile) error) (*SnapshotInfo, error) {
	started := r.opts.Now().UTC()
	s := &snapshotFile{Version: 1, SnapshotInfo: SnapshotInfo{ID: newID(started), Source: source, TenantID: r.opts.TenantID,
		Kind: kind, Started: started, Tags: tags, KeyID: r.cipher.KeyID()}}
	lock, err := r.lock(ctx, false)
	if err != nil {
		return nil, err
	}
	defer lock.release()
	run, err := r.newRun(ctx, lock)
	if err != nil {
		return nil, err
	}
	if parent := run.findParent(ctx, source, kind); parent != nil {
		s.Parent = parent.ID
	}
	err = fill(ctx, run, s)
	if ferr := run.finish(ctx, s.ID, err != nil); err == nil {
		err = ferr
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot %s of %s: %w", s.ID, source, err)
	}
	s.NewChunks, s.AddedBytes = run.newChunks, run.added
	s.Finished = r.opts.Now().UTC()
	if err := r.writeObject(ctx, snapName(s.ID), s); err != nil {
		for _, t := range r.targets {
			_ = t.Delete(context.WithoutCancel(ctx), snapName(s.ID))
		}
		return nil, fmt.Errorf("snapshot %s of %s: %w", s.ID, source, err)
	}
	info := s.SnapshotInfo
	return &info, nil
}
