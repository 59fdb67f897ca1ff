package backuptest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/await"
)

// Scratch PostgreSQL clusters, for tests of continuous PostgreSQL
// backup that need a real server (archiving, base backups, recovery).

// PGBinDir finds the installed PostgreSQL server programs: the newest
// /usr/lib/postgresql/*/bin, else pg_config --bindir. Without them the
// test is skipped, or fails when SAASKIT_REQUIRE_POSTGRES_BINARIES=1.
func PGBinDir(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if os.Getenv("SAASKIT_REQUIRE_POSTGRES_BINARIES") == "1" {
		t.Fatal("no PostgreSQL server programs (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or pg_config --bindir, and SAASKIT_REQUIRE_POSTGRES_BINARIES=1")
	}
	t.Skip("no PostgreSQL server programs installed (initdb, pg_ctl in /usr/lib/postgresql/*/bin or pg_config --bindir): skipping")
	return ""
}

// PGUser runs PostgreSQL's programs: as the postgres OS user when the
// test runs as root (PostgreSQL refuses root), else as the test's.
type PGUser struct {
	t   testing.TB
	dir string
	// OS is the OS user programs run as, "" for the test's own.
	OS       string
	uid, gid int
}

// NewPGUser returns the user that runs programs in the scratch
// directory dir. Running as root without a postgres OS user skips the
// test.
func NewPGUser(t testing.TB, dir string) *PGUser {
	u := &PGUser{t: t, dir: dir}
	if os.Geteuid() != 0 {
		return u
	}
	pu, err := user.Lookup("postgres")
	if err != nil {
		t.Skip("running as root and there is no postgres OS user to run PostgreSQL as: skipping")
	}
	u.OS = "postgres"
	u.uid, _ = strconv.Atoi(pu.Uid)
	u.gid, _ = strconv.Atoi(pu.Gid)
	return u
}

// Command is name args run as the user, in the scratch directory.
func (u *PGUser) Command(name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if u.OS != "" {
		cmd = exec.Command("runuser", append([]string{"-u", u.OS, "--", name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.Dir = u.dir
	return cmd
}

// Run runs name args and returns stdout, stderr and the exit status.
func (u *PGUser) Run(name string, args ...string) (string, string, int) {
	cmd := u.Command(name, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errOut.String(), 0
	case errors.As(err, &exit):
		return out.String(), errOut.String(), exit.ExitCode()
	}
	u.t.Fatalf("%s: %v", name, err)
	return "", "", -1
}

// Must runs name args, which must succeed, and returns stdout.
func (u *PGUser) Must(name string, args ...string) string {
	u.t.Helper()
	out, errOut, code := u.Run(name, args...)
	require.Zero(u.t, code, "%s %v: %s%s", name, args, out, errOut)
	return out
}

// Own gives the user everything under dir.
func (u *PGUser) Own(dir string) {
	u.t.Helper()
	if u.OS == "" {
		return
	}
	require.NoError(u.t, filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, u.uid, u.gid)
	}))
}

// FreePort is a TCP port free on the loopback interface.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// PGCluster is a scratch PostgreSQL server: its data directory Dir, its
// log beside it (Dir + ".log"), listening on 127.0.0.1:Port.
type PGCluster struct {
	U    *PGUser
	Bin  string
	Dir  string
	Port int
}

// Init makes the cluster with initdb (trust authentication, superuser
// postgres) and appends conf to its postgresql.conf, after settings
// that keep it on the loopback interface with its socket in the
// scratch directory.
func (c PGCluster) Init(conf string) {
	t := c.U.t
	t.Helper()
	c.U.Must(filepath.Join(c.Bin, "initdb"), "-D", c.Dir, "-A", "trust", "-U", "postgres", "--no-sync")
	f, err := os.OpenFile(filepath.Join(c.Dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = fmt.Fprintf(f, "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nfsync = off\nlog_line_prefix = '%%m [%%p] '\n%s\n",
		filepath.Dir(c.Dir), conf)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// Start starts the server and waits until it accepts connections.
func (c PGCluster) Start() {
	c.U.t.Helper()
	c.U.Must(filepath.Join(c.Bin, "pg_ctl"), "-D", c.Dir, "-l", c.Dir+".log", "-w", "-t", "120", "-o", fmt.Sprintf("-p %d", c.Port), "start")
}

// Stop stops the server, if it runs.
func (c PGCluster) Stop() {
	_, _, _ = c.U.Run(filepath.Join(c.Bin, "pg_ctl"), "-D", c.Dir, "-m", "fast", "-w", "stop")
}

// DSN is the server's connection string, as postgres.
func (c PGCluster) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
}

// Log is the server's log so far.
func (c PGCluster) Log() string {
	b, _ := os.ReadFile(c.Dir + ".log")
	return string(b)
}

// Testing is the test the user belongs to.
func (u *PGUser) Testing() testing.TB { return u.t }

// Querier is what SwitchWAL queries through: a *sql.DB, or a wrapper.
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// SwitchWAL switches the server to a new WAL segment and waits until
// the one in use before is archived (pg_stat_archiver), failing the
// test with the server's log if archive_command fails. It returns that
// segment's name.
func (c PGCluster) SwitchWAL(ctx context.Context, db Querier) string {
	t := c.U.t
	t.Helper()
	var seg string
	require.NoError(t, db.QueryRowContext(ctx, "SELECT pg_walfile_name(pg_switch_wal())").Scan(&seg))
	await.True(t, func() bool {
		var last string
		var failed int64
		require.NoError(t, db.QueryRowContext(ctx,
			"SELECT coalesce(last_archived_wal, ''), failed_count FROM pg_stat_archiver").Scan(&last, &failed))
		require.Zero(t, failed, "archive_command failed; server log:\n%s", c.Log())
		return last >= seg
	}, "segment %s archived", seg)
	return seg
}
