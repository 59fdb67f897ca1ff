package backup

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PGBase describes a PostgreSQL base backup: a backup (its data and
// manifest as Run writes them) of pg_basebackup's tar stream, and this
// record of where in the WAL it starts and ends, kept beside the
// manifest as pgbase/<id>.json.
type PGBase struct {
	// ID is the backup's, as Manifests, Verify and Restore know it.
	ID string `json:"id"`
	// Source is "pgbase:<name>".
	Source string `json:"source"`
	Label  string `json:"label"`
	// Timeline, StartLSN and StartWAL (the segment file) are from the
	// backup_label; StopLSN from the backup_manifest's WAL range.
	Timeline uint32 `json:"timeline"`
	StartLSN string `json:"start_lsn"`
	StopLSN  string `json:"stop_lsn"`
	StartWAL string `json:"start_wal"`
	// ServerStart is the backup_label's START TIME, in the server's
	// clock, to the second.
	ServerStart time.Time `json:"server_start,omitzero"`
	// Started and Finished are when pg_basebackup started and ended, in
	// this process's clock (Options.Now). The backup is consistent from
	// Finished on: a point-in-time restore can reach any time after it.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Size and Stored are the tar stream's size and its stored size.
	Size   int64 `json:"size"`
	Stored int64 `json:"stored"`
}

// PGBaseOptions configure PostgresBaseBackup.
type PGBaseOptions struct {
	// Name names the database cluster: its base backups' source is
	// "pgbase:<Name>". Default "postgres".
	Name string
	// BinDir is the directory of PostgreSQL's programs. Default:
	// pg_basebackup is found on PATH.
	BinDir string
	// Label is pg_basebackup's --label. Default "saaskit base backup".
	Label string
}

func pgBaseName(id string) string { return "pgbase/" + id + ".json" }

// PostgresBaseBackup takes a base backup of the PostgreSQL cluster at
// dsn (a connection string or postgres:// URL of a role with the
// REPLICATION attribute) with pg_basebackup: tar format streamed to the
// targets through Run (compressed, encrypted, hashed, never on local
// disk), --checkpoint=fast, and -X none: the WAL comes from the archive
// (PushWAL), which must be set up first; pg_basebackup waits until the
// WAL the backup needs is archived. The cluster must have no
// tablespaces other than the default ones. The start and stop LSN come
// from the streamed backup_label and backup_manifest.
func (b *Backups) PostgresBaseBackup(ctx context.Context, dsn string, opts PGBaseOptions) (*PGBase, error) {
	if opts.Name == "" {
		opts.Name = "postgres"
	}
	if opts.Label == "" {
		opts.Label = "saaskit base backup"
	}
	bin, err := pgProgram(opts.BinDir, "pg_basebackup")
	if err != nil {
		return nil, err
	}
	src := &pgBaseSource{name: "pgbase:" + opts.Name, bin: bin, dsn: dsn, label: opts.Label, now: b.opts.Now}
	m, err := b.Run(ctx, src, "pg-base")
	if err != nil {
		return nil, err
	}
	undo := func(err error) (*PGBase, error) {
		for _, t := range b.targets {
			_ = t.Delete(context.WithoutCancel(ctx), manifestName(m.ID))
			_ = t.Delete(context.WithoutCancel(ctx), pgBaseName(m.ID))
		}
		b.removeData(m.ID)
		return nil, fmt.Errorf("base backup %s: %w", m.ID, err)
	}
	info := src.info
	if info.err != nil {
		return undo(info.err)
	}
	if info.StartLSN == "" || info.StopLSN == "" {
		return undo(fmt.Errorf("%w: no backup_label or backup_manifest WAL range in pg_basebackup's stream", ErrInvalid))
	}
	base := info.PGBase
	base.ID, base.Source, base.Size, base.Stored = m.ID, m.Source, m.PlainSize, m.StoredSize
	data, err := json.MarshalIndent(base, "", "  ")
	if err != nil {
		return undo(err)
	}
	for _, t := range b.targets {
		if err := t.Put(ctx, pgBaseName(m.ID), strings.NewReader(string(data))); err != nil {
			return undo(fmt.Errorf("target %s: %w", t.Name(), err))
		}
	}
	return &base, nil
}

// PostgresBaseBackups lists the base backups found on any target whose
// backup still exists, oldest first.
func (b *Backups) PostgresBaseBackups(ctx context.Context) ([]PGBase, error) {
	all, err := b.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	exists := map[string]bool{}
	for _, m := range all {
		exists[m.ID] = true
	}
	byID := map[string]PGBase{}
	for _, t := range b.targets {
		names, err := t.List(ctx, "pgbase/")
		if err != nil {
			continue // Manifests listed some target; what it holds is enough
		}
		for _, n := range names {
			id := strings.TrimSuffix(strings.TrimPrefix(n, "pgbase/"), ".json")
			if _, ok := byID[id]; ok || !exists[id] {
				continue
			}
			if pb, err := readPGBase(ctx, t, id); err == nil {
				byID[id] = pb
			}
		}
	}
	out := make([]PGBase, 0, len(byID))
	for _, pb := range byID {
		out = append(out, pb)
	}
	slices.SortFunc(out, func(a, b PGBase) int {
		if c := a.Finished.Compare(b.Finished); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

func readPGBase(ctx context.Context, t Target, id string) (PGBase, error) {
	var pb PGBase
	rc, err := t.Get(ctx, pgBaseName(id))
	if err != nil {
		return pb, err
	}
	defer rc.Close()
	if err := json.NewDecoder(io.LimitReader(rc, 1<<20)).Decode(&pb); err != nil {
		return pb, fmt.Errorf("%w: base backup %s on %s: %w", ErrCorrupt, id, t.Name(), err)
	}
	if pb.ID != id {
		return pb, fmt.Errorf("%w: base backup %s on %s names %q", ErrCorrupt, id, t.Name(), pb.ID)
	}
	return pb, nil
}

// pgProgram finds a PostgreSQL program in dir, or on PATH.
func pgProgram(dir, name string) (string, error) {
	p := name
	if dir != "" {
		p = filepath.Join(dir, name)
	}
	bin, err := exec.LookPath(p)
	if err != nil {
		return "", fmt.Errorf("%w: %s (from the PostgreSQL client tools): %w", ErrToolMissing, name, err)
	}
	return bin, nil
}

// pgBaseSource streams pg_basebackup's tar output, reading its
// backup_label and backup_manifest on the way.
type pgBaseSource struct {
	name, bin, dsn, label string
	now                   func() time.Time
	info                  pgBaseInfo
}

type pgBaseInfo struct {
	PGBase
	err error
}

func (s *pgBaseSource) Name() string { return s.name }

func (s *pgBaseSource) Open(ctx context.Context) (io.ReadCloser, error) {
	dsn, password := withoutPassword(s.dsn)
	dsn, _ = withoutSearchPath(dsn)
	// The password goes in the environment, not the command line.
	cmd := exec.CommandContext(ctx, s.bin, "--pgdata=-", "--format=tar", "--wal-method=none", "--checkpoint=fast",
		"--no-password", "--label="+s.label, "--dbname="+dsn)
	if password != "" {
		cmd.Env = append(os.Environ(), "PGPASSWORD="+password)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s.info = pgBaseInfo{}
	s.info.Started = s.now().UTC()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	r := &pgBaseReader{out: out, cmd: cmd, stderr: &stderr, pw: pw, parsed: make(chan struct{}), src: s}
	go func() {
		defer close(r.parsed)
		err := readPGBaseInfo(pr, &s.info.PGBase)
		_, _ = io.Copy(io.Discard, pr) // never block the stream
		if err != nil {
			s.info.err = err
		}
	}()
	return r, nil
}

// pgBaseReader tees pg_basebackup's output to the parser, and reports
// the program's failure when its output ends.
type pgBaseReader struct {
	out    io.ReadCloser
	cmd    *exec.Cmd
	stderr *strings.Builder
	pw     *io.PipeWriter
	parsed chan struct{}
	src    *pgBaseSource
	once   sync.Once
	err    error
}

func (r *pgBaseReader) Read(p []byte) (int, error) {
	n, err := r.out.Read(p)
	if n > 0 {
		_, _ = r.pw.Write(p[:n])
	}
	if err == io.EOF {
		if werr := r.finish(); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// finish waits for the program and the parser.
func (r *pgBaseReader) finish() error {
	r.once.Do(func() {
		if werr := r.cmd.Wait(); werr != nil {
			r.err = fmt.Errorf("pg_basebackup: %w: %s", werr, strings.TrimSpace(r.stderr.String()))
		}
		r.src.info.Finished = r.src.now().UTC()
		_ = r.pw.Close()
		<-r.parsed
	})
	return r.err
}

func (r *pgBaseReader) Close() error {
	err := r.out.Close()
	_ = r.finish()
	return err
}

var (
	labelStartRe = regexp.MustCompile(`^START WAL LOCATION: ([0-9A-F]+/[0-9A-F]+) \(file ([0-9A-F]{24})\)$`)
	lsnRe        = regexp.MustCompile(`^[0-9A-F]{1,8}/[0-9A-F]{1,8}$`)
)

// readPGBaseInfo reads a base backup's tar stream for its backup_label
// and backup_manifest.
func readPGBaseInfo(r io.Reader, pb *PGBase) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: base backup tar stream: %w", ErrInvalid, err)
		}
		switch path.Clean(hdr.Name) {
		case "backup_label":
			if err := parseBackupLabel(io.LimitReader(tr, 64<<10), pb); err != nil {
				return err
			}
		case "backup_manifest":
			stop, err := parseManifestStop(tr, pb.Timeline)
			if err != nil {
				return err
			}
			pb.StopLSN = stop
		}
	}
}

// parseBackupLabel reads a backup_label file.
func parseBackupLabel(r io.Reader, pb *PGBase) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		key, val, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch key {
		case "START WAL LOCATION":
			m := labelStartRe.FindStringSubmatch(line)
			if m == nil {
				return fmt.Errorf("%w: backup_label: %q", ErrInvalid, line)
			}
			pb.StartLSN, pb.StartWAL = m[1], m[2]
		case "START TIMELINE":
			tl, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return fmt.Errorf("%w: backup_label: %q", ErrInvalid, line)
			}
			pb.Timeline = uint32(tl)
		case "LABEL":
			pb.Label = val
		case "START TIME":
			// The server's log_timezone: only UTC-like zones are trusted.
			if t, err := time.Parse("2006-01-02 15:04:05 MST", val); err == nil && (strings.HasSuffix(val, " UTC") || strings.HasSuffix(val, " GMT")) {
				pb.ServerStart = t.UTC()
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: backup_label: %w", ErrInvalid, err)
	}
	if pb.StartLSN == "" {
		return fmt.Errorf("%w: backup_label without START WAL LOCATION", ErrInvalid)
	}
	if pb.Timeline == 0 {
		pb.Timeline, _, _ = walParts(pb.StartWAL)
	}
	return nil
}

// parseManifestStop reads a backup_manifest's WAL ranges and returns
// the end of the last one (of timeline tl when there is one).
func parseManifestStop(r io.Reader, tl uint32) (string, error) {
	var m struct {
		Version   int `json:"PostgreSQL-Backup-Manifest-Version"`
		WALRanges []struct {
			Timeline uint32 `json:"Timeline"`
			Start    string `json:"Start-LSN"`
			End      string `json:"End-LSN"`
		} `json:"WAL-Ranges"`
	}
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return "", fmt.Errorf("%w: backup_manifest: %w", ErrInvalid, err)
	}
	stop := ""
	for _, w := range m.WALRanges {
		if !lsnRe.MatchString(w.End) {
			return "", fmt.Errorf("%w: backup_manifest: End-LSN %q", ErrInvalid, w.End)
		}
		if tl == 0 || w.Timeline == tl || stop == "" {
			stop = w.End
		}
	}
	if stop == "" {
		return "", fmt.Errorf("%w: backup_manifest without WAL-Ranges", ErrInvalid)
	}
	return stop, nil
}
