package backup

import (
	"archive/tar"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ReaderSource backs up whatever open returns.
func ReaderSource(name string, open func(ctx context.Context) (io.ReadCloser, error)) Source {
	return readerSource{name, open}
}

type readerSource struct {
	name string
	open func(context.Context) (io.ReadCloser, error)
}

func (r readerSource) Name() string                                    { return r.name }
func (r readerSource) Open(ctx context.Context) (io.ReadCloser, error) { return r.open(ctx) }

// SQLiteSource backs up a SQLite database online: VACUUM INTO writes a
// consistent, compacted copy to a scratch file (in scratchDir, default
// the system's), which is read and then removed. db must be a SQLite
// database (modernc.org/sqlite).
func SQLiteSource(name string, db *sql.DB, scratchDir string) Source {
	return sqliteSource{name: name, db: db, dir: scratchDir}
}

type sqliteSource struct {
	name string
	db   *sql.DB
	dir  string
}

func (s sqliteSource) Name() string { return "sqlite:" + s.name }

func (s sqliteSource) Open(ctx context.Context) (io.ReadCloser, error) {
	dir, err := os.MkdirTemp(s.dir, "sqlite-backup-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "copy.db")
	if _, err := s.db.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("VACUUM INTO: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return removeOnClose{f, dir}, nil
}

// removeOnClose removes a scratch directory when its file is closed.
type removeOnClose struct {
	*os.File
	dir string
}

func (r removeOnClose) Close() error {
	err := r.File.Close()
	return errors.Join(err, os.RemoveAll(r.dir))
}

// PostgresSource backs up a PostgreSQL database with pg_dump's custom
// format (restorable with pg_restore). pg_dump must be installed; Open
// says so clearly when it is not.
func PostgresSource(name, dsn string) Source { return postgresSource{name, dsn} }

type postgresSource struct{ name, dsn string }

func (p postgresSource) Name() string { return "postgres:" + p.name }

// ErrToolMissing: a program a source needs is not installed.
var ErrToolMissing = errors.New("backup: required program not installed")

func (p postgresSource) Open(ctx context.Context) (io.ReadCloser, error) {
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		return nil, fmt.Errorf("%w: pg_dump (from the PostgreSQL client tools) is needed to back up %s", ErrToolMissing, p.name)
	}
	dsn, password := withoutPassword(p.dsn)
	dsn, schemas := withoutSearchPath(dsn)
	// The password goes in the environment, not the command line, which
	// other local users can read in the process list.
	args := []string{"--format=custom", "--no-password", "--dbname=" + dsn}
	for _, s := range schemas {
		args = append(args, "--schema="+s)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	if password != "" {
		cmd.Env = append(os.Environ(), "PGPASSWORD="+password)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &commandReader{ReadCloser: out, cmd: cmd, stderr: &stderr}, nil
}

// commandReader reports the command's failure when its output ends.
type commandReader struct {
	io.ReadCloser
	cmd    *exec.Cmd
	stderr *strings.Builder
	done   bool
}

func (c *commandReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if err == io.EOF && !c.done {
		c.done = true
		if werr := c.cmd.Wait(); werr != nil {
			return n, fmt.Errorf("pg_dump: %w: %s", werr, strings.TrimSpace(c.stderr.String()))
		}
	}
	return n, err
}

func (c *commandReader) Close() error {
	err := c.ReadCloser.Close()
	if !c.done {
		c.done = true
		_ = c.cmd.Wait()
	}
	return err
}

// DirSource backs up a directory tree as a tar stream of its regular
// files and directories (symbolic links are recorded, not followed).
func DirSource(dir string) Source { return dirSource{dir} }

type dirSource struct{ dir string }

func (d dirSource) Name() string { return "dir:" + d.dir }

func (d dirSource) Open(ctx context.Context) (io.ReadCloser, error) {
	if _, err := os.Stat(d.dir); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(ctx, d.dir, pw)) }()
	return pr, nil
}

func writeTar(ctx context.Context, root string, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		hdr.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// withoutPassword takes the password out of a postgres:// URL.
// withoutSearchPath takes the search_path parameter, which pgx takes
// and pg_dump refuses, out of a URL DSN, and returns its schemas: a
// service whose tables live in a schema of their own has that schema
// backed up, not the whole database.
func withoutSearchPath(dsn string) (string, []string) {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn, nil
	}
	q := u.Query()
	path := q.Get("search_path")
	if path == "" {
		return dsn, nil
	}
	q.Del("search_path")
	u.RawQuery = q.Encode()
	var schemas []string
	for _, s := range strings.Split(path, ",") {
		if s = strings.TrimSpace(s); s != "" && s != `"$user"` && s != "$user" {
			schemas = append(schemas, s)
		}
	}
	return u.String(), schemas
}

func withoutPassword(dsn string) (string, string) {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn, ""
	}
	password, ok := u.User.Password()
	if !ok {
		return dsn, ""
	}
	u.User = url.User(u.User.Username())
	return u.String(), password
}
