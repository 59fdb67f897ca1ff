package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// PGRestoreOptions configure RestorePostgres.
type PGRestoreOptions struct {
	// RestoreCommand is the shell command the restored server runs to
	// fetch each archived WAL file, with %f (the file's name) and %p
	// (where to write it), as PostgreSQL's restore_command; it calls
	// FetchWAL, for instance "saaskit backup wal-fetch %f %p" with the
	// repository's flags. Required.
	RestoreCommand string
	// Name restricts the base backups to those of one cluster
	// (PGBaseOptions.Name). Default: any.
	Name string
	// TargetAction is recovery_target_action: promote, pause or
	// shutdown. Default promote.
	TargetAction string
}

// PGRestored reports a point-in-time restore: what it did.
type PGRestored struct {
	// Base is the base backup restored: the newest that finished by
	// Target.
	Base    PGBase    `json:"base"`
	DataDir string    `json:"data_dir"`
	Target  time.Time `json:"target"`
	// Files and Bytes count what was extracted.
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// Settings are the lines added to postgresql.auto.conf;
	// recovery.signal was written too.
	Settings []string `json:"settings"`
}

// ErrTooEarly: a point-in-time restore was asked for a time before the
// oldest base backup finished: no backup holds the database as it was
// then.
var ErrTooEarly = errors.New("backup: no base backup finished by then")

// RestorePostgres prepares a point-in-time restore of a PostgreSQL
// cluster to the time at: it picks the newest base backup that finished
// by at, extracts it (verified: hashed and authenticated as Restore
// does) into dataDir, which must be empty or absent, writes
// recovery.signal, and adds the recovery settings to
// postgresql.auto.conf: restore_command, recovery_target_time = at,
// recovery_target_action. Starting a server on dataDir then replays the
// archived WAL up to at and (by default) promotes. at must be after the
// base backup finished and, for the recovery to end, before the last
// commit archived; a time before the oldest base backup is ErrTooEarly.
// On failure nothing is left in dataDir.
func (b *Backups) RestorePostgres(ctx context.Context, dataDir string, at time.Time, opts PGRestoreOptions) (*PGRestored, error) {
	if !strings.Contains(opts.RestoreCommand, "%f") || !strings.Contains(opts.RestoreCommand, "%p") {
		return nil, fmt.Errorf("%w: RestoreCommand: want a command with %%f and %%p", ErrInvalid)
	}
	if opts.TargetAction == "" {
		opts.TargetAction = "promote"
	}
	switch opts.TargetAction {
	case "promote", "pause", "shutdown":
	default:
		return nil, fmt.Errorf("%w: TargetAction %q: want promote, pause or shutdown", ErrInvalid, opts.TargetAction)
	}
	if at.IsZero() {
		return nil, fmt.Errorf("%w: a target time is required", ErrInvalid)
	}
	base, err := b.pgBaseAt(ctx, at, opts.Name)
	if err != nil {
		return nil, err
	}
	rc, err := b.firstWith(ctx, walObject(base.StartWAL))
	if err != nil {
		return nil, fmt.Errorf("restore to %s: base backup %s starts in WAL segment %s, which is not archived: %w",
			at.UTC().Format(time.RFC3339Nano), base.ID, base.StartWAL, err)
	}
	rc.Close()
	created, err := pgEmptyDir(dataDir)
	if err != nil {
		return nil, err
	}
	res := &PGRestored{Base: base, DataDir: dataDir, Target: at.UTC()}
	if err := b.pgRestoreInto(ctx, dataDir, at, opts, res); err != nil {
		if created {
			_ = os.RemoveAll(dataDir)
		} else {
			pgEmptyOut(dataDir)
		}
		return nil, fmt.Errorf("restore to %s into %s: %w", at.UTC().Format(time.RFC3339Nano), dataDir, err)
	}
	return res, nil
}

// pgBaseAt picks the newest base backup finished by at.
func (b *Backups) pgBaseAt(ctx context.Context, at time.Time, name string) (PGBase, error) {
	all, err := b.PostgresBaseBackups(ctx)
	if err != nil {
		return PGBase{}, err
	}
	var best *PGBase
	var oldest *PGBase
	for i, pb := range all {
		if name != "" && pb.Source != "pgbase:"+name {
			continue
		}
		if oldest == nil {
			oldest = &all[i]
		}
		if !pb.Finished.After(at) {
			best = &all[i]
		}
	}
	when := at.UTC().Format(time.RFC3339Nano)
	switch {
	case oldest == nil:
		return PGBase{}, fmt.Errorf("%w: restore to %s: there is no PostgreSQL base backup (take one with PostgresBaseBackup)", ErrNotFound, when)
	case best == nil:
		return PGBase{}, fmt.Errorf("%w: restore to %s: the oldest base backup, %s, finished at %s, later than that",
			ErrTooEarly, when, oldest.ID, oldest.Finished.Format(time.RFC3339Nano))
	}
	return *best, nil
}

// firstWith opens object name on the first target that has it.
func (b *Backups) firstWith(ctx context.Context, name string) (io.ReadCloser, error) {
	var errs []error
	for _, t := range b.targets {
		rc, err := t.Get(ctx, name)
		if err == nil {
			return rc, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// pgEmptyDir makes dir, or checks it is an empty directory; it says
// whether it made it.
func pgEmptyDir(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, err
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("%w: data directory %s: %w", ErrInvalid, dir, err)
	case len(entries) > 0:
		return false, fmt.Errorf("%w: data directory %s is not empty: restore into a new directory", ErrExists, dir)
	}
	return false, os.Chmod(dir, 0o700) // PostgreSQL refuses a directory others can read
}

// pgEmptyOut removes what is in dir.
func pgEmptyOut(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

func (b *Backups) pgRestoreInto(ctx context.Context, dataDir string, at time.Time, opts PGRestoreOptions, res *PGRestored) error {
	pr, pw := io.Pipe()
	extracted := make(chan error, 1)
	go func() {
		err := pgExtract(pr, dataDir, res)
		if err == nil {
			_, err = io.Copy(io.Discard, pr) // the tar's padding, for the restore's hash
		}
		pr.CloseWithError(err) // stop the restore if extraction failed
		extracted <- err
	}()
	err := b.Restore(ctx, res.Base.ID, pw)
	pw.CloseWithError(err)
	if xerr := <-extracted; err == nil && xerr != nil {
		err = xerr
	}
	if err != nil {
		return err
	}
	label, err := os.ReadFile(filepath.Join(dataDir, "backup_label"))
	if err != nil {
		return fmt.Errorf("%w: base backup %s has no backup_label: %w", ErrCorrupt, res.Base.ID, err)
	}
	var got PGBase
	if err := parseBackupLabel(bytes.NewReader(label), &got); err != nil || got.StartLSN != res.Base.StartLSN {
		return fmt.Errorf("%w: base backup %s: its backup_label does not start at %s as recorded", ErrCorrupt, res.Base.ID, res.Base.StartLSN)
	}
	for _, d := range []string{"pg_wal", "pg_wal/archive_status"} {
		if err := os.MkdirAll(filepath.Join(dataDir, d), 0o700); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dataDir, "recovery.signal"), nil, 0o600); err != nil {
		return err
	}
	res.Settings = []string{
		"restore_command = " + pgConfQuote(opts.RestoreCommand),
		"recovery_target_time = " + pgConfQuote(at.UTC().Format("2006-01-02 15:04:05.999999")+"+00"),
		"recovery_target_action = " + pgConfQuote(opts.TargetAction),
	}
	conf := fmt.Sprintf("\n# Point-in-time recovery to %s from base backup %s (saaskit backup restore, %s)\n%s\n",
		at.UTC().Format(time.RFC3339Nano), res.Base.ID, b.opts.Now().UTC().Format(time.RFC3339), strings.Join(res.Settings, "\n"))
	f, err := os.OpenFile(filepath.Join(dataDir, "postgresql.auto.conf"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(conf); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pgConfQuote quotes s as a postgresql.conf string.
func pgConfQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// pgExtract extracts a base backup's tar stream into dir: directories
// and regular files only, each under dir.
func pgExtract(r io.Reader, dir string, res *PGRestored) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: base backup tar: %w", ErrCorrupt, err)
		}
		name := path.Clean(hdr.Name)
		if name == "." && hdr.Typeflag == tar.TypeDir {
			continue
		}
		if !fs.ValidPath(name) || strings.Contains(hdr.Name, `\`) {
			return fmt.Errorf("%w: base backup tar: entry %q outside the data directory", ErrCorrupt, hdr.Name)
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			// Not synced one by one: PostgreSQL syncs the data directory
			// when it starts recovering from a backup.
			n, err := io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			res.Files++
			res.Bytes += n
		default:
			return fmt.Errorf("%w: base backup tar: entry %q is neither a file nor a directory (tablespaces are not supported)", ErrInvalid, hdr.Name)
		}
	}
}
