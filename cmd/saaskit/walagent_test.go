package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/crypto/localkms"
	"github.com/saaskit/saaskit/internal/await"
)

// cheapDataDir makes a data directory whose root keyset has a cheap
// KDF: every command opens it.
func cheapDataDir(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	t.Setenv("SAASKIT_ROOT_PASSPHRASE", "correct horse battery staple")
	kms, err := localkms.New([]byte("correct horse battery staple"), localkms.Options{Create: true, Time: 1, Memory: 64, Threads: 1})
	require.NoError(t, err)
	_, err = kms.GetAEAD(localkms.NewKeyURI(filepath.Join(data, "root.keyset")))
	require.NoError(t, err)
	return data
}

// cheapRepository makes a data directory with cheapDataDir, and points
// the WAL commands at it through the environment, as PostgreSQL's may.
func cheapRepository(t *testing.T) (data string) {
	t.Helper()
	data = cheapDataDir(t)
	t.Setenv("SAASKIT_DATABASE_URL", "")
	t.Setenv("SAASKIT_DATA", data)
	t.Setenv("SAASKIT_BACKUP_TARGET", filepath.Join(t.TempDir(), "repo"))
	t.Setenv("SAASKIT_WAL_AGENT", "")
	return data
}

// startAgent runs backup wal-agent args in the background until the
// test ends, and returns once its socket answers.
func startAgent(t testing.TB, sock string, args ...string) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		var out, errOut bytes.Buffer
		done <- run(ctx, append([]string{"backup", "wal-agent"}, args...), strings.NewReader(""), &out, &errOut)
	}()
	await.True(t, func() bool {
		select {
		case err := <-done:
			done <- err
			return true // it stopped: reported below
		default:
		}
		conn, err := net.Dial("unix", sock)
		if err == nil {
			conn.Close()
		}
		return err == nil
	}, "the agent to listen on %s", sock)
	select {
	case err := <-done:
		t.Fatalf("the agent stopped: %v", err)
	default:
	}
	var stopped bool
	var result error
	stop = func() error {
		if !stopped {
			cancel()
			result, stopped = <-done, true
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// TestWALAgent: with an agent serving the repository, wal-push and
// wal-fetch work through it (the environment's passphrase no longer
// opens the key, so they could not alone), with the same answers and
// exit statuses as without it; an agent serving another repository, or
// a socket nothing answers on, is passed over and the command does the
// work itself; a second agent on the same socket is refused; stopping
// removes the socket.
func TestWALAgent(t *testing.T) {
	data := cheapRepository(t)
	sock := filepath.Join(data, walAgentSocket)
	stop := startAgent(t, sock)
	fi, err := os.Stat(sock)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "only this user may connect")
	_, err = saaskit(t, "backup", "wal-agent")
	assert.ErrorContains(t, err, "another WAL agent is serving there")

	// From now on only the agent can open the key.
	t.Setenv("SAASKIT_ROOT_PASSPHRASE", "not the passphrase at all")

	dir := t.TempDir()
	seg := filepath.Join(dir, "000000010000000000000003")
	content := bytes.Repeat([]byte("wal record "), 100_000)
	require.NoError(t, os.WriteFile(seg, content, 0o600))
	_, err = saaskit(t, "backup", "wal-push", seg)
	require.NoError(t, err)
	_, err = saaskit(t, "backup", "wal-push", seg)
	require.NoError(t, err, "pushed again with the same content")
	t.Chdir(dir) // archive_command's %p is relative to PostgreSQL's data directory
	require.NoError(t, os.WriteFile(filepath.Join(dir, "000000010000000000000004"), content[:1000], 0o600))
	_, err = saaskit(t, "backup", "wal-push", "000000010000000000000004")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(seg, []byte("other"), 0o600))
	_, err = saaskit(t, "backup", "wal-push", seg)
	assert.ErrorIs(t, err, backup.ErrExists)
	assert.Equal(t, exitFailed, exitCode(err))
	_, err = saaskit(t, "backup", "wal-push", filepath.Join(dir, "postgresql.conf"))
	assert.ErrorIs(t, err, backup.ErrInvalid)

	_, err = saaskit(t, "backup", "wal-fetch", "000000010000000000000003", "RECOVERYXLOG")
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(dir, "RECOVERYXLOG"))
	require.NoError(t, err)
	assert.Equal(t, content, got)
	_, err = saaskit(t, "backup", "wal-fetch", "00000002.history", "RECOVERYHISTORY")
	assert.Equal(t, exitFailed, exitCode(err))
	assert.True(t, isQuiet(err), "a missing file fails quietly: %v", err)

	// Another tenant's repository: the agent does not serve it, and the
	// command, on its own, cannot open the key.
	var errOut bytes.Buffer
	err = run(context.Background(), []string{"backup", "wal-push", "--tenant", "acme", seg}, strings.NewReader(""), &bytes.Buffer{}, &errOut)
	assert.Error(t, err)
	assert.Contains(t, errOut.String(), "working without it")

	require.NoError(t, stop())
	assert.NoFileExists(t, sock)

	// A socket left behind, nothing answering: passed over.
	t.Setenv("SAASKIT_ROOT_PASSPHRASE", "correct horse battery staple")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	require.NoError(t, err)
	l.SetUnlinkOnClose(false)
	require.NoError(t, l.Close())
	errOut.Reset()
	require.NoError(t, os.WriteFile(seg, content, 0o600))
	err = run(context.Background(), []string{"backup", "wal-push", seg}, strings.NewReader(""), &bytes.Buffer{}, &errOut)
	require.NoError(t, err)
	assert.Contains(t, errOut.String(), "working without it")
	// ... and replaced by the next agent.
	stop = startAgent(t, sock)
	require.NoError(t, stop())
}
