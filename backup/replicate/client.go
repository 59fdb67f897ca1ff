package replicate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/litestream"
	"github.com/superfly/ltx"

	"github.com/saaskit/saaskit/backup"
)

// client is a litestream.ReplicaClient over backup Targets: each LTX
// file is encrypted with the Cipher and stored as one object, named
//
//	<prefix>ltx/<level>/<min TXID>-<max TXID>.<created, Unix ms>.<size>.ltx
//
// so that listing, which Targets answer with names only, gives
// Litestream the level, the transaction range, the time and the
// plaintext size it needs. The name is the encryption's associated
// data: an object renamed on the target is refused. Objects are written
// to every target; they are read from the first that has them.
type client struct {
	cipher  backup.Cipher
	targets []backup.Target
	prefix  string
	logger  *slog.Logger
	// shipped is the time (Unix ms) of the newest level-0 file every
	// target holds: every commit gathered from the WAL by then is
	// shipped.
	shipped atomic.Int64
}

var _ litestream.ReplicaClient = (*client)(nil)

func (c *client) Type() string                  { return "saaskit" }
func (c *client) Init(context.Context) error    { return nil }
func (c *client) SetLogger(logger *slog.Logger) { c.logger = logger }
func (c *client) levelPrefix(level int) string  { return fmt.Sprintf("%sltx/%d/", c.prefix, level) }
func (c *client) ad(name string) []byte         { return []byte("saaskit-replicate-ltx\x00" + name) }
func (c *client) objectName(i *ltx.FileInfo) string {
	return fmt.Sprintf("%s%s-%s.%d.%d.ltx", c.levelPrefix(i.Level), i.MinTXID, i.MaxTXID, i.CreatedAt.UnixMilli(), i.Size)
}

// parseName reads an object name of level back into its file info.
func parseName(level int, base string) (*ltx.FileInfo, error) {
	parts := strings.Split(strings.TrimSuffix(base, ".ltx"), ".")
	if len(parts) != 3 || !strings.HasSuffix(base, ".ltx") {
		return nil, fmt.Errorf("replicate: object %q is not <txids>.<ms>.<size>.ltx", base)
	}
	minTXID, maxTXID, err := ltx.ParseFilename(parts[0] + ".ltx")
	if err != nil {
		return nil, fmt.Errorf("replicate: object %q: %w", base, err)
	}
	ms, err1 := strconv.ParseInt(parts[1], 10, 64)
	size, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || size < 0 {
		return nil, fmt.Errorf("replicate: object %q: bad time or size", base)
	}
	return &ltx.FileInfo{Level: level, MinTXID: minTXID, MaxTXID: maxTXID, Size: size, CreatedAt: time.UnixMilli(ms).UTC()}, nil
}

// list returns the files of a level on the first target that answers,
// by transaction range.
func (c *client) list(ctx context.Context, level int) ([]*ltx.FileInfo, error) {
	var errs []error
	for _, t := range c.targets {
		names, err := t.List(ctx, c.levelPrefix(level))
		if err != nil {
			errs = append(errs, fmt.Errorf("target %s: %w", t.Name(), err))
			continue
		}
		infos := make([]*ltx.FileInfo, 0, len(names))
		for _, name := range names {
			info, err := parseName(level, strings.TrimPrefix(name, c.levelPrefix(level)))
			if err != nil {
				return nil, fmt.Errorf("target %s: %w", t.Name(), err)
			}
			infos = append(infos, info)
		}
		slices.SortFunc(infos, func(a, b *ltx.FileInfo) int {
			return cmp.Or(cmp.Compare(a.MinTXID, b.MinTXID), cmp.Compare(a.MaxTXID, b.MaxTXID))
		})
		return infos, nil
	}
	return nil, errors.Join(errs...)
}

// LTXFiles implements litestream.ReplicaClient.
func (c *client) LTXFiles(ctx context.Context, level int, seek ltx.TXID, _ bool) (ltx.FileIterator, error) {
	infos, err := c.list(ctx, level)
	if err != nil {
		return nil, err
	}
	infos = slices.DeleteFunc(infos, func(i *ltx.FileInfo) bool { return i.MinTXID < seek })
	return ltx.NewFileInfoSliceIterator(infos), nil
}

// find returns the stored info of the file with the given range.
func (c *client) find(ctx context.Context, level int, minTXID, maxTXID ltx.TXID) (*ltx.FileInfo, error) {
	infos, err := c.list(ctx, level)
	if err != nil {
		return nil, err
	}
	for _, i := range infos {
		if i.MinTXID == minTXID && i.MaxTXID == maxTXID {
			return i, nil
		}
	}
	return nil, os.ErrNotExist
}

// OpenLTXFile implements litestream.ReplicaClient: it decrypts the
// object and returns size bytes from offset (all when size is 0). The
// streaming AEAD authenticates each segment as it is read, so a
// tampered object fails the read with an error, never with wrong bytes.
func (c *client) OpenLTXFile(ctx context.Context, level int, minTXID, maxTXID ltx.TXID, offset, size int64) (io.ReadCloser, error) {
	info, err := c.find(ctx, level, minTXID, maxTXID)
	if err != nil {
		return nil, litestream.NewLTXError("open", c.levelPrefix(level)+ltx.FormatFilename(minTXID, maxTXID), level, uint64(minTXID), uint64(maxTXID), err)
	}
	name := c.objectName(info)
	var errs []error
	for _, t := range c.targets {
		rc, err := t.Get(ctx, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("target %s: %w", t.Name(), err))
			continue
		}
		r, err := c.cipher.DecryptStream(ctx, rc, c.ad(name))
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("replicate: decrypt %s on %s: %w", name, t.Name(), err)
		}
		if offset > 0 {
			if _, err := io.CopyN(io.Discard, r, offset); err != nil {
				rc.Close()
				return nil, fmt.Errorf("replicate: read %s on %s: %w", name, t.Name(), err)
			}
		}
		if size > 0 {
			r = io.LimitReader(r, size)
		}
		return readCloser{r, rc}, nil
	}
	if len(errs) > 0 && allNotFound(errs) {
		return nil, litestream.NewLTXError("open", name, level, uint64(minTXID), uint64(maxTXID), os.ErrNotExist)
	}
	return nil, errors.Join(errs...)
}

func allNotFound(errs []error) bool {
	for _, err := range errs {
		if !errors.Is(err, backup.ErrNotFound) {
			return false
		}
	}
	return true
}

type readCloser struct {
	io.Reader
	io.Closer
}

// WriteLTXFile implements litestream.ReplicaClient: it spools the file
// to learn its size and its header's time, then writes it encrypted to
// every target.
func (c *client) WriteLTXFile(ctx context.Context, level int, minTXID, maxTXID ltx.TXID, r io.Reader) (*ltx.FileInfo, error) {
	spool, err := os.CreateTemp("", "saaskit-ltx-*")
	if err != nil {
		return nil, fmt.Errorf("replicate: spool: %w", err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	size, err := io.Copy(spool, r)
	if err != nil {
		return nil, fmt.Errorf("replicate: spool: %w", err)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	hdr, _, err := ltx.PeekHeader(spool)
	if err != nil {
		return nil, fmt.Errorf("replicate: LTX header: %w", err)
	}
	info := &ltx.FileInfo{Level: level, MinTXID: minTXID, MaxTXID: maxTXID, Size: size, CreatedAt: time.UnixMilli(hdr.Timestamp).UTC()}
	name := c.objectName(info)
	for _, t := range c.targets {
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		if err := c.put(ctx, t, name, spool); err != nil {
			return nil, err
		}
	}
	if level == 0 {
		for ms := hdr.Timestamp; ; {
			old := c.shipped.Load()
			if ms <= old || c.shipped.CompareAndSwap(old, ms) {
				break
			}
		}
	}
	return info, nil
}

// put writes the encrypted file to t. An object of that name already
// there was written by an earlier try of the same upload (the name
// fixes the range, time and size), so it counts as written.
func (c *client) put(ctx context.Context, t backup.Target, name string, plain io.Reader) error {
	pr, pw := io.Pipe()
	go func() {
		enc, err := c.cipher.EncryptStream(ctx, pw, c.ad(name))
		if err == nil {
			_, err = io.Copy(enc, plain)
			if cerr := enc.Close(); err == nil {
				err = cerr
			}
		}
		pw.CloseWithError(err)
	}()
	err := t.Put(ctx, name, pr)
	pr.CloseWithError(err) // unblocks the writer if Put returned early
	if errors.Is(err, backup.ErrExists) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("replicate: write %s to %s: %w", name, t.Name(), err)
	}
	return nil
}

// DeleteLTXFiles implements litestream.ReplicaClient.
func (c *client) DeleteLTXFiles(ctx context.Context, infos []*ltx.FileInfo) error {
	stored := map[[3]uint64]*ltx.FileInfo{} // (level, min, max) -> as stored
	listed := map[int]bool{}
	var errs []error
	for _, i := range infos {
		if !listed[i.Level] {
			all, err := c.list(ctx, i.Level)
			if err != nil {
				return err
			}
			for _, s := range all {
				stored[[3]uint64{uint64(s.Level), uint64(s.MinTXID), uint64(s.MaxTXID)}] = s
			}
			listed[i.Level] = true
		}
		s, ok := stored[[3]uint64{uint64(i.Level), uint64(i.MinTXID), uint64(i.MaxTXID)}]
		if !ok {
			continue
		}
		for _, t := range c.targets {
			if err := t.Delete(ctx, c.objectName(s)); err != nil {
				errs = append(errs, fmt.Errorf("replicate: delete on %s: %w", t.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// DeleteAll implements litestream.ReplicaClient.
func (c *client) DeleteAll(ctx context.Context) error {
	var errs []error
	for _, t := range c.targets {
		names, err := t.List(ctx, c.prefix+"ltx/")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, name := range names {
			if err := t.Delete(ctx, name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
