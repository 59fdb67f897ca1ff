package backup

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// chunkReader reads chunks from packs, keeping the pack it read last
// open so that chunks stored in order are read in one pass.
type chunkReader struct {
	r       *Repository
	idx     *repoIndex
	present []map[packID]bool // by target

	t   Target
	pk  packID
	rc  io.ReadCloser
	pos int64
}

// newChunkReader checks that every chunk snapshot s uses is indexed,
// sits in a pack some target holds, and adds up to the sizes recorded,
// before anything is restored.
func (r *Repository) newChunkReader(ctx context.Context, s *snapshotFile) (*chunkReader, error) {
	idx, err := r.loadIndex(ctx, false)
	if err != nil {
		return nil, err
	}
	cr := r.packReader(ctx, idx)
	check := func(what string, ids []chunkID, size int64) error {
		var sum int64
		for _, id := range ids {
			locs := idx.chunks[id]
			if len(locs) == 0 {
				return fmt.Errorf("%w: snapshot %s: %schunk %s is in no index", ErrCorrupt, s.ID, what, id.short())
			}
			if !slices.ContainsFunc(locs, cr.held) {
				return fmt.Errorf("%w: snapshot %s: %schunk %s: pack %s is on no target", ErrCorrupt, s.ID, what, id.short(), packName(locs[0].pack))
			}
			sum += locs[0].plain
		}
		if sum != size {
			return fmt.Errorf("%w: snapshot %s: %schunks add up to %d bytes, %d recorded", ErrCorrupt, s.ID, what, sum, size)
		}
		return nil
	}
	if s.Kind == "stream" {
		return cr, check("", s.Stream, s.Size)
	}
	for _, e := range s.Tree {
		if err := check(e.Path+": ", e.Chunks, e.Size); err != nil {
			return nil, err
		}
	}
	return cr, nil
}

// packReader reads the chunks idx lists from the packs the targets
// hold.
func (r *Repository) packReader(ctx context.Context, idx *repoIndex) *chunkReader {
	cr := &chunkReader{r: r, idx: idx}
	for _, t := range r.targets {
		on, err := packsOn(ctx, t)
		if err != nil {
			on = map[packID]bool{} // unreachable: other targets may do
		}
		cr.present = append(cr.present, on)
	}
	return cr
}

func (cr *chunkReader) held(l blobLoc) bool {
	for _, on := range cr.present {
		if on[l.pack] {
			return true
		}
	}
	return false
}

// read returns chunk id's plaintext, authenticated and re-hashed, from
// the first copy that is intact; the error names each copy tried.
func (cr *chunkReader) read(ctx context.Context, id chunkID) ([]byte, error) {
	data, _, _, err := cr.readBlob(ctx, id, cr.idx.chunks[id])
	return data, err
}

// readBlob is read from the locations locs, in their order, returning
// also the stored blob that opened, and where.
func (cr *chunkReader) readBlob(ctx context.Context, id chunkID, locs []blobLoc) (data, blob []byte, at blobLoc, err error) {
	var errs []error
	for _, l := range locs {
		for i, t := range cr.r.targets {
			if !cr.present[i][l.pack] {
				continue
			}
			blob, err := cr.fetch(ctx, t, l)
			var data []byte
			if err == nil {
				if data, err = cr.r.openChunk(ctx, id, l.plain, blob); err == nil {
					return data, blob, l, nil
				}
			}
			errs = append(errs, fmt.Errorf("pack %s on %s at %d: %w", packName(l.pack), t.Name(), l.offset, err))
		}
	}
	if len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%w: on no target", ErrNotFound))
	}
	return nil, nil, blobLoc{}, fmt.Errorf("chunk %s: %w", id.short(), errors.Join(errs...))
}

// fetch reads a stored chunk, continuing in the open pack when it lies
// ahead, seeking when the target's reader can.
func (cr *chunkReader) fetch(ctx context.Context, t Target, l blobLoc) ([]byte, error) {
	if cr.rc == nil || cr.t != t || cr.pk != l.pack || l.offset < cr.pos {
		cr.close()
		rc, err := t.Get(ctx, packName(l.pack))
		if err != nil {
			return nil, err
		}
		cr.t, cr.pk, cr.rc, cr.pos = t, l.pack, rc, 0
	}
	if skip := l.offset - cr.pos; skip > 0 {
		var err error
		if s, ok := cr.rc.(io.Seeker); ok {
			_, err = s.Seek(l.offset, io.SeekStart)
		} else {
			_, err = io.CopyN(io.Discard, cr.rc, skip)
		}
		if err != nil {
			cr.close()
			return nil, fmt.Errorf("%w: pack shorter than the index says: %w", ErrCorrupt, err)
		}
	}
	blob := make([]byte, l.length)
	if _, err := io.ReadFull(cr.rc, blob); err != nil {
		cr.close()
		return nil, fmt.Errorf("%w: pack shorter than the index says: %w", ErrCorrupt, err)
	}
	cr.pos = l.offset + l.length
	return blob, nil
}

func (cr *chunkReader) close() {
	if cr.rc != nil {
		cr.rc.Close()
		cr.rc = nil
	}
}

// copy writes chunks ids to w.
func (cr *chunkReader) copy(ctx context.Context, w io.Writer, ids []chunkID) error {
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := cr.read(ctx, id)
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
}

// RestoreSnapshot writes snapshot id to w: a stream snapshot's bytes,
// or a tree snapshot as a tar stream. Every chunk is authenticated and
// re-hashed before its bytes are written, and taken from the first
// target whose copy is intact; before the first byte, it checks that
// every chunk is indexed and its pack held. A damaged or missing chunk
// stops the restore with an error wrapping ErrCorrupt that names the
// chunk, the pack and the target: w may then hold the bytes before it,
// never a wrong byte.
func (r *Repository) RestoreSnapshot(ctx context.Context, id string, w io.Writer) error {
	s, err := r.snapshot(ctx, id)
	if err != nil {
		return err
	}
	cr, err := r.newChunkReader(ctx, s)
	if err != nil {
		return err
	}
	defer cr.close()
	if s.Kind == "stream" {
		if err := cr.copy(ctx, w, s.Stream); err != nil {
			return fmt.Errorf("restore snapshot %s: %w", id, err)
		}
		return nil
	}
	tw := tar.NewWriter(w)
	for _, e := range s.Tree {
		hdr := &tar.Header{Name: e.Path, Mode: int64(e.Mode), ModTime: e.MTime, Format: tar.FormatPAX}
		switch e.Type {
		case "dir":
			hdr.Typeflag, hdr.Name = tar.TypeDir, e.Path+"/"
		case "symlink":
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, e.Link, 0o777
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, e.Size
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if err := cr.copy(ctx, tw, e.Chunks); err != nil {
			return fmt.Errorf("restore snapshot %s: %s: %w", id, e.Path, err)
		}
	}
	return tw.Close()
}

// RestoreSnapshotDir restores tree snapshot id under dir (created if
// needed), with permissions and modification times; symbolic links are
// made last, so no file is written through one. It refuses to replace
// anything already there. Each file is written under a scratch name
// and renamed into place once all its chunks were verified, so on error
// no restored file holds partial content.
func (r *Repository) RestoreSnapshotDir(ctx context.Context, id, dir string) error {
	s, err := r.snapshot(ctx, id)
	if err != nil {
		return err
	}
	if s.Kind != "tree" {
		return fmt.Errorf("%w: snapshot %s is of a stream (%s): restore it with RestoreSnapshot", ErrInvalid, id, s.Source)
	}
	cr, err := r.newChunkReader(ctx, s)
	if err != nil {
		return err
	}
	defer cr.close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var dirs []treeEntry
	var links []treeEntry
	for _, e := range s.Tree {
		path := filepath.Join(dir, filepath.FromSlash(e.Path))
		if _, err := os.Lstat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("restore snapshot %s: %s: %w", id, path, errors.Join(fs.ErrExist, err))
		}
		switch e.Type {
		case "dir":
			if err := os.MkdirAll(path, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, e)
		case "symlink":
			links = append(links, e)
		default:
			if err := cr.restoreFile(ctx, path, e); err != nil {
				return fmt.Errorf("restore snapshot %s: %s: %w", id, e.Path, err)
			}
		}
	}
	for _, e := range links {
		if err := os.Symlink(e.Link, filepath.Join(dir, filepath.FromSlash(e.Path))); err != nil {
			return fmt.Errorf("restore snapshot %s: %w", id, err)
		}
	}
	for _, e := range slices.Backward(dirs) {
		path := filepath.Join(dir, filepath.FromSlash(e.Path))
		if err := errors.Join(os.Chmod(path, e.Mode), os.Chtimes(path, e.MTime, e.MTime)); err != nil {
			return fmt.Errorf("restore snapshot %s: %w", id, err)
		}
	}
	return nil
}

func (cr *chunkReader) restoreFile(ctx context.Context, path string, e treeEntry) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".restore-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := cr.copy(ctx, tmp, e.Chunks); err != nil {
		tmp.Close()
		return err
	}
	if err := errors.Join(tmp.Chmod(e.Mode), tmp.Sync(), tmp.Close()); err != nil {
		return err
	}
	if err := os.Chtimes(tmp.Name(), e.MTime, e.MTime); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil { // refuses an existing name
		return err
	}
	return nil
}
