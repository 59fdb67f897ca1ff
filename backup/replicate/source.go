package replicate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/superfly/ltx"

	"github.com/saaskit/saaskit/backup"
)

// Source is the replicated database as a backup.ChangeSource for
// Repository.Snapshot: its stream is the database file, page for page,
// as one read transaction on db (the application's handle on the same
// file) sees it, and the change sets this Replicator shipped name the
// pages written since the previous snapshot's state, so an incremental
// snapshot reads those pages only (see package backup). The source's
// name is "sqlite:" + name. The pages are read through SQLite's
// sqlite_dbpage table, one query a page; a snapshot with no parent, or
// whose parent's state is older than the change sets kept on the
// targets (Options.Retention), reads every page.
func (r *Replicator) Source(name string, db *sql.DB) backup.ChangeSource {
	return &pageSource{name: "sqlite:" + name, r: r, db: db}
}

type pageSource struct {
	name string
	r    *Replicator
	db   *sql.DB
}

func (s *pageSource) Name() string { return s.name }

// Open implements backup.Source: the whole database, page by page.
func (s *pageSource) Open(ctx context.Context) (io.ReadCloser, error) {
	ps, err := s.open(ctx, "")
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(ps, 0, ps.size), ps}, nil
}

// OpenChanges implements backup.ChangeSource.
func (s *pageSource) OpenChanges(ctx context.Context, since string) (backup.ChangedStream, error) {
	return s.open(ctx, since)
}

// markPrefix binds a mark to the replica it counts in.
func (s *pageSource) markPrefix() string { return "ltx:" + s.r.opts.Prefix + ":" }

func (s *pageSource) open(ctx context.Context, since string) (_ *pageStream, err error) {
	// Everything committed so far is shipped, and the mark is the
	// position then: no later than the state the read sees.
	if err := s.r.Sync(ctx); err != nil {
		return nil, err
	}
	mark := s.r.rep.Pos().TXID
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	ps := &pageStream{conn: conn, mark: s.markPrefix() + mark.String()}
	defer func() {
		if err != nil {
			ps.Close()
		}
	}()
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return nil, err
	}
	ps.inTx = true
	var pages int64
	if err := conn.QueryRowContext(ctx, "PRAGMA page_size").Scan(&ps.pageSize); err != nil {
		return nil, err
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil { // starts the read
		return nil, err
	}
	ps.size = pages * ps.pageSize
	if ps.page, err = conn.PrepareContext(ctx, "SELECT data FROM sqlite_dbpage WHERE pgno = ?"); err != nil {
		return nil, fmt.Errorf("replicate: sqlite_dbpage: %w", err)
	}
	ps.ctx = context.WithoutCancel(ctx)
	from, ok := strings.CutPrefix(since, s.markPrefix())
	if !ok {
		return ps, nil
	}
	fromTXID, perr := ltx.ParseTXID(from)
	if perr != nil {
		return ps, nil
	}
	// What the read sees is shipped by now.
	if err := s.r.Sync(ctx); err != nil {
		return nil, err
	}
	ps.changes, ps.ok, err = s.r.changedPages(ctx, fromTXID, s.r.rep.Pos().TXID, ps.pageSize)
	return ps, err
}

// changedPages lists the byte ranges of the pages the change sets after
// from and up to upto wrote, from the smallest levels that cover the
// span without a gap; ok is false when none does.
func (r *Replicator) changedPages(ctx context.Context, from, upto ltx.TXID, pageSize int64) ([]backup.ByteRange, bool, error) {
	var files []struct {
		level int
		info  *ltx.FileInfo
	}
	for level := 0; level <= 2; level++ {
		infos, err := r.client.list(ctx, level)
		if err != nil {
			return nil, false, err
		}
		for _, i := range infos {
			files = append(files, struct {
				level int
				info  *ltx.FileInfo
			}{level, i})
		}
	}
	var out []backup.ByteRange
	for covered := from; covered < upto; {
		best := -1
		for k, f := range files {
			if f.info.MinTXID <= covered+1 && f.info.MaxTXID > covered && (best < 0 || f.info.MaxTXID > files[best].info.MaxTXID) {
				best = k
			}
		}
		if best < 0 {
			return nil, false, nil // a gap: compacted away
		}
		f := files[best]
		pages, err := r.ltxPages(ctx, f.level, f.info)
		if err != nil {
			return nil, false, err
		}
		for _, p := range pages {
			out = append(out, backup.ByteRange{Off: int64(p-1) * pageSize, Len: pageSize})
		}
		covered = f.info.MaxTXID
	}
	return out, true, nil
}

// ltxPages lists the pages an LTX file holds.
func (r *Replicator) ltxPages(ctx context.Context, level int, info *ltx.FileInfo) ([]uint32, error) {
	rc, err := r.client.OpenLTXFile(ctx, level, info.MinTXID, info.MaxTXID, 0, 0)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	dec := ltx.NewDecoder(rc)
	if err := dec.DecodeHeader(); err != nil {
		return nil, fmt.Errorf("replicate: change set %s: %w", ltx.FormatFilename(info.MinTXID, info.MaxTXID), err)
	}
	data := make([]byte, dec.Header().PageSize)
	var pages []uint32
	for {
		var hdr ltx.PageHeader
		err := dec.DecodePage(&hdr, data)
		if errors.Is(err, io.EOF) {
			return pages, nil
		}
		if err != nil {
			return nil, fmt.Errorf("replicate: change set %s: %w", ltx.FormatFilename(info.MinTXID, info.MaxTXID), err)
		}
		pages = append(pages, hdr.Pgno)
	}
}

// pageStream is the database as one read transaction sees it.
type pageStream struct {
	ctx      context.Context
	conn     *sql.Conn
	inTx     bool
	page     *sql.Stmt
	pageSize int64
	size     int64
	mark     string
	changes  []backup.ByteRange
	ok       bool
}

func (p *pageStream) Size() int64                         { return p.size }
func (p *pageStream) Mark() string                        { return p.mark }
func (p *pageStream) Changes() ([]backup.ByteRange, bool) { return p.changes, p.ok }

// ReadAt implements io.ReaderAt, a page at a time.
func (p *pageStream) ReadAt(b []byte, off int64) (int, error) {
	n := 0
	for n < len(b) {
		at := off + int64(n)
		if at >= p.size {
			return n, io.EOF
		}
		pgno := at/p.pageSize + 1
		var data []byte
		if err := p.page.QueryRowContext(p.ctx, pgno).Scan(&data); err != nil {
			return n, fmt.Errorf("replicate: page %d: %w", pgno, err)
		}
		if int64(len(data)) != p.pageSize {
			return n, fmt.Errorf("replicate: page %d is %d bytes, not %d", pgno, len(data), p.pageSize)
		}
		n += copy(b[n:], data[at%p.pageSize:])
	}
	return n, nil
}

// Close ends the read transaction.
func (p *pageStream) Close() error {
	var errs []error
	if p.page != nil {
		errs = append(errs, p.page.Close())
	}
	if p.inTx {
		_, err := p.conn.ExecContext(context.Background(), "ROLLBACK")
		errs = append(errs, err)
	}
	errs = append(errs, p.conn.Close())
	return errors.Join(errs...)
}
