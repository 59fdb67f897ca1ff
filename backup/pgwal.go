package backup

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// WAL archiving: PostgreSQL's archive_command hands each finished WAL
// segment (and each timeline history and backup history file) to
// PushWAL; restore_command asks FetchWAL for them during recovery.
//
// Each file is stored once as the object wal/<name>: a streaming-AEAD
// encryption, bound to the name, of a one-line JSON header (name, size,
// SHA-256, when pushed) followed by the zstd-compressed content.

// walObject is the object of an archived WAL file.
func walObject(name string) string { return "wal/" + name }

// walAD binds an archived file's encryption to its name: an object
// renamed on a target does not decrypt.
func walAD(name string) []byte { return []byte("saaskit.backup.wal/" + name) }

var (
	walSegmentRe = regexp.MustCompile(`^[0-9A-F]{24}$`)
	walFileRe    = regexp.MustCompile(`^(?:[0-9A-F]{24}(?:\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$`)
)

// IsWALName says whether name is one PostgreSQL archives: a segment
// (000000010000000000000002), a partial segment (….partial), a backup
// history file (….00000028.backup) or a timeline history file
// (00000002.history).
func IsWALName(name string) bool { return walFileRe.MatchString(name) }

// walHeader leads an archived file's plaintext.
type walHeader struct {
	Name   string    `json:"name"`
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"`
	Pushed time.Time `json:"pushed"`
}

// PushWAL archives the WAL file at path under its base name on every
// target, for PostgreSQL's archive_command. Archiving is idempotent as
// PostgreSQL needs it to be: a file already archived with the same
// content is success, with other content an error (ErrExists), as
// WAL-G does; a target that lacks it gets it. It returns nil only when
// every target holds the file.
func (b *Backups) PushWAL(ctx context.Context, path string) error {
	name := filepath.Base(path)
	if !IsWALName(name) {
		return fmt.Errorf("%w: wal push: %q is not the name of a WAL segment, history or backup file", ErrInvalid, name)
	}
	h, err := hashFile(path)
	if err != nil {
		return fmt.Errorf("wal push %s: %w", name, err)
	}
	h.Name, h.Pushed = name, b.opts.Now().UTC()
	var errs []error
	for _, t := range b.targets {
		if err := b.pushWALTo(ctx, t, path, h); err != nil {
			errs = append(errs, fmt.Errorf("target %s: %w", t.Name(), err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("wal push %s: %w", name, errors.Join(errs...))
	}
	return nil
}

func hashFile(path string) (walHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return walHeader{}, err
	}
	defer f.Close()
	c := newCounter()
	if _, err := io.Copy(c, f); err != nil {
		return walHeader{}, err
	}
	return walHeader{Size: c.n, SHA256: c.sum()}, nil
}

func (b *Backups) pushWALTo(ctx context.Context, t Target, path string, h walHeader) error {
	same := func() error {
		old, err := b.walHeaderOn(ctx, t, h.Name)
		if err != nil {
			return err
		}
		if old.SHA256 != h.SHA256 || old.Size != h.Size {
			return fmt.Errorf("%w: archived already with other content (%d bytes, sha256 %.12s…; this one %d bytes, %.12s…)",
				ErrExists, old.Size, old.SHA256, h.Size, h.SHA256)
		}
		return nil
	}
	if rc, err := t.Get(ctx, walObject(h.Name)); err == nil {
		rc.Close()
		return same()
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	pr, pw := io.Pipe()
	sealed := make(chan struct{})
	go func() {
		defer close(sealed)
		pw.CloseWithError(b.sealWAL(ctx, pw, f, h))
	}()
	err = t.Put(ctx, walObject(h.Name), pr)
	pr.CloseWithError(err) // stop the sealing if Put stopped early
	<-sealed
	if errors.Is(err, ErrExists) { // pushed meanwhile by another process
		return same()
	}
	return err
}

// sealWAL writes the encrypted header and compressed content to w.
func (b *Backups) sealWAL(ctx context.Context, w io.Writer, content io.Reader, h walHeader) error {
	enc, err := b.cipher.EncryptStream(ctx, w, walAD(h.Name))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoKey, err)
	}
	line, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if _, err := enc.Write(append(line, '\n')); err != nil {
		return err
	}
	z, err := zstd.NewWriter(enc, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	plain := newCounter()
	if _, err := io.Copy(io.MultiWriter(z, plain), contextReader{ctx, content}); err != nil {
		z.Close()
		return err
	}
	if err := z.Close(); err != nil {
		return err
	}
	if plain.n != h.Size || plain.sum() != h.SHA256 {
		return fmt.Errorf("%s changed while it was archived", h.Name)
	}
	return enc.Close()
}

// openWAL opens an archived file on t: its authenticated header, and a
// reader of its content (not yet checked against the header).
func (b *Backups) openWAL(ctx context.Context, t Target, name string) (walHeader, io.Reader, func(), error) {
	rc, err := t.Get(ctx, walObject(name))
	if err != nil {
		return walHeader{}, nil, nil, err
	}
	bad := func(err error) (walHeader, io.Reader, func(), error) {
		rc.Close()
		return walHeader{}, nil, nil, fmt.Errorf("%w: archived WAL file %s on %s: %w", ErrCorrupt, name, t.Name(), err)
	}
	plain, err := b.cipher.DecryptStream(ctx, rc, walAD(name))
	if err != nil {
		return bad(err)
	}
	br := bufio.NewReader(plain)
	line, err := br.ReadSlice('\n')
	if err != nil {
		return bad(fmt.Errorf("header: %w", err))
	}
	var h walHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return bad(fmt.Errorf("header: %w", err))
	}
	if h.Name != name {
		return bad(fmt.Errorf("it holds %q", h.Name))
	}
	z, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(256<<20))
	if err != nil {
		return bad(err)
	}
	return h, z, func() { z.Close(); rc.Close() }, nil
}

// walHeaderOn reads the header of an archived file on t.
func (b *Backups) walHeaderOn(ctx context.Context, t Target, name string) (walHeader, error) {
	h, _, done, err := b.openWAL(ctx, t, name)
	if err != nil {
		return h, err
	}
	done()
	return h, nil
}

// FetchWAL writes the archived WAL file name to path, for PostgreSQL's
// restore_command: read from the first target with an intact copy,
// decrypted, checked against its recorded size and SHA-256, written to
// a scratch file beside path, synced and renamed into place. It wraps
// ErrNotFound when no target holds the file (recovery asks for files
// that do not exist, and must be told so), ErrCorrupt, naming the file,
// when every copy found is damaged.
func (b *Backups) FetchWAL(ctx context.Context, name, path string) error {
	if !IsWALName(name) {
		return fmt.Errorf("%w: wal fetch: %q is not the name of a WAL segment, history or backup file", ErrInvalid, name)
	}
	var errs []error
	found := false
	for _, t := range b.targets {
		err := b.fetchWALFrom(ctx, t, name, path)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrNotFound) {
			found = true
			errs = append(errs, err)
		}
	}
	if !found {
		return fmt.Errorf("wal fetch %s: %w", name, ErrNotFound)
	}
	return fmt.Errorf("wal fetch %s: %w", name, errors.Join(errs...))
}

func (b *Backups) fetchWALFrom(ctx context.Context, t Target, name, path string) error {
	h, content, done, err := b.openWAL(ctx, t, name)
	if err != nil {
		return err
	}
	defer done()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".wal-fetch-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	plain := newCounter()
	if _, err := io.Copy(io.MultiWriter(tmp, plain), contextReader{ctx, content}); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: archived WAL file %s on %s: unreadable after %d bytes: %w", ErrCorrupt, name, t.Name(), plain.n, err)
	}
	if plain.n != h.Size || plain.sum() != h.SHA256 {
		tmp.Close()
		return fmt.Errorf("%w: archived WAL file %s on %s: content differs from what was archived", ErrCorrupt, name, t.Name())
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// WALRange is a run of consecutive archived segments of one timeline.
type WALRange struct {
	Timeline uint32 `json:"timeline"`
	First    string `json:"first"`
	Last     string `json:"last"`
	Segments int    `json:"segments"`
}

// WALStatus describes the archived WAL.
type WALStatus struct {
	// Ranges are the runs of consecutive segments, by timeline and
	// position; more than one run on a timeline means a gap, across
	// which recovery cannot replay.
	Ranges []WALRange `json:"ranges"`
	// Segments counts the archived segments; Other the history, backup
	// history and partial files.
	Segments int `json:"segments"`
	Other    int `json:"other"`
	// Newest is the newest segment (of the highest timeline, furthest
	// along), and NewestPushed when it was archived.
	Newest       string    `json:"newest,omitempty"`
	NewestPushed time.Time `json:"newest_pushed,omitzero"`
	// RPO is the achieved recovery point objective: how long ago the
	// newest segment was archived (Options.Now − NewestPushed). What was
	// written since is in no archived segment and would be lost with the
	// server. Zero when nothing is archived.
	RPO time.Duration `json:"rpo_ns"`
}

// WALStatus lists the WAL archived on the targets: the runs of
// consecutive segments and the achieved RPO. Gaps are found between
// segments of one log file (…XXXXXXXX YYYYYYYY: YYYYYYYY must follow
// on) and when a log file is skipped; a missing tail of a log file is
// not seen, as the segment size is not known from names alone.
func (b *Backups) WALStatus(ctx context.Context) (*WALStatus, error) {
	var errs []error
	listed := 0
	seen := map[string]bool{}
	for _, t := range b.targets {
		names, err := t.List(ctx, "wal/")
		if err != nil {
			errs = append(errs, fmt.Errorf("target %s: %w", t.Name(), err))
			continue
		}
		listed++
		for _, n := range names {
			seen[strings.TrimPrefix(n, "wal/")] = true
		}
	}
	if listed == 0 {
		return nil, fmt.Errorf("wal status: %w", errors.Join(errs...))
	}
	st := &WALStatus{}
	var segs []string
	for n := range seen {
		switch {
		case walSegmentRe.MatchString(n):
			segs = append(segs, n)
		case IsWALName(n):
			st.Other++
		}
	}
	slices.Sort(segs) // timeline, then log, then segment: hex of fixed width
	st.Segments = len(segs)
	for _, s := range segs {
		tl, log, seg := walParts(s)
		if n := len(st.Ranges); n > 0 {
			r := &st.Ranges[n-1]
			_, plog, pseg := walParts(r.Last)
			if r.Timeline == tl && ((log == plog && seg == pseg+1) || (log == plog+1 && seg == 0)) {
				r.Last = s
				r.Segments++
				continue
			}
		}
		st.Ranges = append(st.Ranges, WALRange{Timeline: tl, First: s, Last: s, Segments: 1})
	}
	if len(segs) > 0 {
		st.Newest = segs[len(segs)-1]
		for _, t := range b.targets {
			h, err := b.walHeaderOn(ctx, t, st.Newest)
			if err == nil {
				st.NewestPushed = h.Pushed
				st.RPO = max(0, b.opts.Now().Sub(h.Pushed))
				break
			}
			errs = append(errs, err)
		}
		if st.NewestPushed.IsZero() {
			return st, fmt.Errorf("wal status: newest segment %s: %w", st.Newest, errors.Join(errs...))
		}
	}
	return st, nil
}

// walParts splits a segment name into timeline, log and segment.
func walParts(name string) (tl, log, seg uint32) {
	p := func(s string) uint32 {
		v, _ := strconv.ParseUint(s, 16, 32)
		return uint32(v)
	}
	return p(name[0:8]), p(name[8:16]), p(name[16:24])
}
