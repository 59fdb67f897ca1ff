package backup

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// PGDrillOptions configure a point-in-time drill of a PostgreSQL
// cluster (Backups.PostgresDrill).
type PGDrillOptions struct {
	// BinDir holds the server programs pg_ctl and psql (of the version
	// of the cluster). Default: found on PATH.
	BinDir string
	// Name restricts the base backups to those of one cluster
	// (PGBaseOptions.Name). Default: any.
	Name string
	// RunAs is the OS user that runs the server (and psql): PostgreSQL
	// refuses to run as root. When set, the restored data directory
	// and the drill's scratch directory are given to that user, and
	// programs run through runuser(1). Default: the process's user.
	RunAs string
	// User is the database role psql checks as, through the server's
	// Unix socket. Default RunAs, else "postgres".
	User string
	// Query is the check run by psql on the restored server once it
	// has recovered to the point and promoted: it fails the drill when
	// psql fails (an error, a missing table). Default "SELECT 1".
	Query string
	// Check, when set, replaces Query: it is called with a connection
	// string of the restored server (postgres://USER@127.0.0.1:PORT/
	// postgres), to check it with the application's own driver.
	Check func(ctx context.Context, dsn string) error
}

// PostgresDrill returns a Continuous.Restore that drills a point-in-time
// restore of the archived PostgreSQL cluster for real: it restores the
// newest base backup finished by the point into the new data directory
// it is given (RestorePostgres), fetches the archived WAL since the
// base backup beside it, starts a server there on a free loopback port,
// with archiving off and no hot standby, so that it accepts connections
// once it has replayed the WAL up to the point and promoted, runs the
// check query, and stops it. A Scheduler (SchedulerOptions.Continuous)
// or DrillAt measures the whole as the achieved RTO:
//
//	backup.Continuous{Name: "postgres", Newest: b.NewestWAL, RPO: 2 * time.Minute,
//		Restore: b.PostgresDrill(backup.PGDrillOptions{BinDir: "/usr/lib/postgresql/17/bin", RunAs: "postgres"}),
//		DrillEvery: 24 * time.Hour}
//
// The point must be after a base backup finished. At or after the
// newest point (NewestWAL; a Scheduler drills that one) every archived
// WAL file is replayed, as PostgreSQL refuses a target time later than
// the last commit archived; an earlier point that no commit follows in
// the archive fails so, with the end of the server's log.
func (b *Backups) PostgresDrill(opts PGDrillOptions) func(ctx context.Context, at time.Time, dataDir string) error {
	return func(ctx context.Context, at time.Time, dataDir string) error {
		return b.pgDrill(ctx, at, dataDir, opts)
	}
}

func (b *Backups) pgDrill(ctx context.Context, at time.Time, dataDir string, opts PGDrillOptions) error {
	pgctl, err := pgProgram(opts.BinDir, "pg_ctl")
	if err != nil {
		return err
	}
	psql, err := pgProgram(opts.BinDir, "psql")
	if err != nil {
		return err
	}
	run := pgRunner{as: opts.RunAs}
	if opts.RunAs != "" {
		if run.user, err = user.Lookup(opts.RunAs); err != nil {
			return fmt.Errorf("%w: PGDrillOptions.RunAs: %w", ErrInvalid, err)
		}
	}
	if opts.User == "" {
		opts.User = cmp.Or(opts.RunAs, "postgres")
	}
	if opts.Query == "" {
		opts.Query = "SELECT 1"
	}
	dataDir, err = filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	scratch := filepath.Dir(dataDir)
	walDir := dataDir + ".wal"
	base, err := b.pgBaseAt(ctx, at, opts.Name)
	if err != nil {
		return err
	}
	fetched, err := b.fetchWALSince(ctx, base, walDir)
	if err != nil {
		return err
	}
	defer os.RemoveAll(walDir)
	_, err = b.RestorePostgres(ctx, dataDir, at, PGRestoreOptions{
		RestoreCommand: "cp " + shellQuote(walDir) + "/%f %p", Name: opts.Name, TargetAction: "promote"})
	if err != nil {
		return err
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	// After the settings of the base backup (and RestorePostgres's):
	// the last setting of a name wins.
	conf := fmt.Sprintf("\n# saaskit restore drill (%d archived WAL files fetched)\nport = %d\nlisten_addresses = '127.0.0.1'\n"+
		"unix_socket_directories = %s\narchive_mode = off\nhot_standby = off\n", fetched, port, pgConfQuote(scratch))
	if newest, err := b.NewestWAL(ctx); err == nil && !at.Before(newest) {
		// The newest point: no commit archived is later, and a target
		// time past the last commit stops recovery with an error. All
		// the archived WAL is replayed instead.
		conf += "recovery_target_time = ''\n"
	}
	if err := appendFile(filepath.Join(dataDir, "postgresql.auto.conf"), conf); err != nil {
		return err
	}
	if err := run.own(scratch); err != nil {
		return err
	}
	logFile := dataDir + ".log"
	serverLog := func() string {
		data, _ := os.ReadFile(logFile)
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		return string(data)
	}
	// pg_ctl waits for the server to start recovering; with hot
	// standby off, it accepts connections once recovery reached the
	// point and it promoted.
	wait := "86400"
	if d, ok := ctx.Deadline(); ok {
		wait = strconv.Itoa(max(1, int(time.Until(d).Seconds())))
	}
	out, err := run.output(ctx, pgctl, "-D", dataDir, "-l", logFile, "-w", "-t", wait, "start")
	if err == nil {
		err = waitPromoted(ctx, dataDir)
	}
	if err != nil {
		_ = run.stop(pgctl, dataDir)
		return fmt.Errorf("start the restored server: %w: %s\nserver log:\n%s", err, out, serverLog())
	}
	if opts.Check != nil {
		err = opts.Check(ctx, fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable", opts.User, port))
	} else {
		var out string
		if out, err = run.output(ctx, psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", scratch, "-p", strconv.Itoa(port),
			"-U", opts.User, "-d", "postgres", "-c", opts.Query); err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
	}
	if err != nil {
		err = fmt.Errorf("check of the restored server: %w", err)
	}
	if serr := run.stop(pgctl, dataDir); serr != nil && err == nil {
		err = fmt.Errorf("stop the restored server: %w\nserver log:\n%s", serr, serverLog())
	}
	return err
}

// waitPromoted waits until the server on dataDir is ready: it has
// recovered and promoted, as its postmaster.pid says. A server that
// stops (recovery failed) is an error.
func waitPromoted(ctx context.Context, dataDir string) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		data, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
		if errors.Is(err, fs.ErrNotExist) {
			return errors.New("the server stopped while recovering")
		}
		if err != nil {
			return err
		}
		if lines := strings.Split(string(data), "\n"); len(lines) > 7 && strings.TrimSpace(lines[7]) == "ready" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// fetchWALSince writes to dir every archived WAL file a recovery from
// base may ask for: the segments from its first on (of its timeline or
// later) and the timeline history files. It returns how many.
func (b *Backups) fetchWALSince(ctx context.Context, base PGBase, dir string) (int, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	names := map[string]bool{}
	for _, t := range b.targets {
		ns, err := t.List(ctx, "wal/")
		if err != nil {
			continue // another target may do; a missing file fails recovery, clearly
		}
		for _, n := range ns {
			names[strings.TrimPrefix(n, "wal/")] = true
		}
	}
	btl, blog, bseg := walParts(base.StartWAL)
	n := 0
	for name := range names {
		switch {
		case strings.HasSuffix(name, ".history") && IsWALName(name):
		case walSegmentRe.MatchString(name):
			tl, log, seg := walParts(name)
			if tl < btl || log < blog || log == blog && seg < bseg {
				continue
			}
		default:
			continue
		}
		if err := b.FetchWAL(ctx, name, filepath.Join(dir, name)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// pgRunner runs PostgreSQL's programs, as another OS user when as is
// set.
type pgRunner struct {
	as   string
	user *user.User
}

func (p pgRunner) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if p.as != "" {
		return exec.CommandContext(ctx, "runuser", append([]string{"-u", p.as, "--", name}, args...)...)
	}
	return exec.CommandContext(ctx, name, args...)
}

// output runs a program and returns its output, stdout and stderr.
func (p pgRunner) output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := p.command(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

// stop stops the server on dataDir, whatever the context: a drill
// never leaves one running.
func (p pgRunner) stop(pgctl, dataDir string) error {
	out, err := p.output(context.Background(), pgctl, "-D", dataDir, "-m", "fast", "-w", "stop")
	if err != nil && !strings.Contains(out, "No such file") && !strings.Contains(out, "Is server running?") {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

// own gives the runner's user everything under dir, dir included.
func (p pgRunner) own(dir string) error {
	if p.user == nil {
		return nil
	}
	uid, _ := strconv.Atoi(p.user.Uid)
	gid, _ := strconv.Atoi(p.user.Gid)
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

// freeLoopbackPort is a TCP port free on 127.0.0.1 now.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	return errors.Join(err, f.Close())
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
