package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/saaskit/saaskit/backup"
)

// The WAL agent: PostgreSQL runs archive_command once per 16 MiB
// segment, and each run of wal-push that opened the keyring itself
// would pay the root key's passphrase KDF (Argon2id, about 1.5 s), which
// caps archiving near 10 MiB/s. "saaskit backup wal-agent" opens the
// repository once and serves wal-push and wal-fetch on a unix socket
// that only its OS user can reach; they hand it their file and wait for
// its answer. The key stays in the agent's memory, as it does in the
// service; nothing derived from the passphrase is written to disk.

// walAgentSocket is the agent's socket in the data directory.
const walAgentSocket = "wal-agent.sock"

// walAgentRequest is what wal-push or wal-fetch asks the agent: one
// line of JSON per connection.
type walAgentRequest struct {
	Op   string `json:"op"`             // "push" or "fetch"
	Path string `json:"path"`           // absolute: the file to push, or where to write the fetched one
	Name string `json:"name,omitempty"` // fetch: the archived file's name
	// Target and Tenant are the repository the client means; an agent
	// serving another refuses, and the client does the work itself.
	Target string `json:"target"`
	Tenant string `json:"tenant"`
}

// walAgentResponse is the agent's answer, sent when the work is done.
type walAgentResponse struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Kind classes the error: not_found, corrupt, exists, invalid,
	// repository (the agent serves another one), or failed.
	Kind string `json:"kind,omitempty"`
}

// agentPath is the socket wal-push and wal-fetch try: --agent, else
// $SAASKIT_WAL_AGENT, else wal-agent.sock in the data directory.
func (c *cli) agentPath(flag string) string {
	switch {
	case flag != "":
		return flag
	case os.Getenv("SAASKIT_WAL_AGENT") != "":
		return os.Getenv("SAASKIT_WAL_AGENT")
	}
	return filepath.Join(c.svc.data, walAgentSocket)
}

// repositoryID is the absolute path of the target: with the tenant,
// what an agent and its clients must agree on.
func (c *cli) repositoryID(bf *backupFlags) (string, error) {
	target := bf.target
	if target == "" {
		target = filepath.Join(c.svc.data, "backups")
	}
	return filepath.Abs(target)
}

// viaAgent asks the agent at sock to do req. handled is false when no
// agent did it (none listens, it does not answer, it died, or it
// serves another repository): the caller then does the work itself,
// which is safe to repeat, as pushes are idempotent and fetches are
// renamed into place whole.
func (c *cli) viaAgent(ctx context.Context, sock string, req walAgentRequest) (handled bool, err error) {
	if _, err := os.Stat(sock); err != nil {
		return false, nil // no agent: the usual case without one
	}
	note := func(why error) (bool, error) {
		fmt.Fprintf(c.stderr, "saaskit: WAL agent at %s: %v; working without it\n", sock, why)
		return false, nil
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return note(err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	line, err := json.Marshal(req)
	if err != nil {
		return false, err
	}
	if _, err := conn.Write(append(line, '\n')); err != nil {
		return note(err)
	}
	var resp walAgentResponse
	if err := json.NewDecoder(bufio.NewReader(io.LimitReader(conn, 1<<20))).Decode(&resp); err != nil {
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		return note(fmt.Errorf("no answer: %w", err))
	}
	if resp.OK {
		return true, nil
	}
	if resp.Kind == "repository" {
		return note(errors.New(resp.Error))
	}
	for _, k := range agentErrorKinds {
		if k.name == resp.Kind {
			return true, agentError{msg: resp.Error, kind: k.err}
		}
	}
	return true, errors.New(resp.Error)
}

// agentErrorKinds name the errors an agent reports, in the order they
// are told apart.
var agentErrorKinds = []struct {
	name string
	err  error
}{{"corrupt", backup.ErrCorrupt}, {"exists", backup.ErrExists}, {"invalid", backup.ErrInvalid}, {"not_found", backup.ErrNotFound}}

// agentError is an error the agent reported, as the sentinel it wraps.
type agentError struct {
	msg  string
	kind error
}

func (e agentError) Error() string { return e.msg }
func (e agentError) Unwrap() error { return e.kind }

func (c *cli) walAgent(bf *backupFlags) *cobra.Command {
	var sock string
	cmd := &cobra.Command{
		Use:   "wal-agent [--socket PATH]",
		Short: "Serve wal-push and wal-fetch from one process, opening the key once",
		Long: `Serve wal-push and wal-fetch on a unix socket, with the repository opened
once, until stopped (SIGTERM or SIGINT; requests under way finish first).

Each wal-push or wal-fetch that opens the repository itself derives the
root key from its passphrase with Argon2id, about 1.5 s: at one push per
16 MiB segment, archiving cannot pass about 10 MiB/s, and recovery
fetches as slowly. With the agent running, they find its socket
(--agent, else $SAASKIT_WAL_AGENT, else wal-agent.sock in the data
directory), hand it the file and wait for its answer: archive_command
still exits 0 only once every target holds the file. When no agent
answers, they do the work themselves, as before: nothing in
postgresql.conf changes.

The trade-off: the backup key stays in the agent's memory for as long
as it runs, as it does in the service; nothing derived from the
passphrase is written to disk, so a copy of the data directory is no
easier to open than before. The socket is made in a directory only
this user can enter and is readable and writable by this user alone
(on Linux the peer's user ID is checked too): run the agent as
PostgreSQL's OS user, which can read the database anyway. A cached key
file would have let anyone holding a copy of the data directory, or a
backup of it, open the keys without the passphrase; this does not.

` + repositoryHelp,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.repository(cmd, bf)
			if sock == "" {
				sock = c.agentPath("")
			}
			target, err := c.repositoryID(bf)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			b, closeBackups, err := c.openBackups(ctx, bf)
			if err != nil {
				return err
			}
			defer closeBackups()
			l, err := listenPrivate(ctx, sock)
			if err != nil {
				return err
			}
			if err := c.out().print(map[string]string{"socket": sock, "target": target, "tenant": bf.tenant}, func(w io.Writer) {
				fmt.Fprintf(w, "serving wal-push and wal-fetch for %s (tenant %s) on %s\n", target, bf.tenant, sock)
			}); err != nil {
				l.Close()
				return err
			}
			return serveWALAgent(ctx, l, sock, b, target, bf.tenant)
		},
	}
	cmd.Flags().StringVar(&sock, "socket", "", "the socket to listen on (default $SAASKIT_WAL_AGENT, else <data>/wal-agent.sock)")
	return cmd
}

// listenPrivate listens on a unix socket at path that only this user
// can connect to: it is made in a new directory of mode 0700, given
// mode 0600 and then renamed to path, so no one else can connect in
// between. A socket already at path is replaced only when nothing
// answers on it.
func listenPrivate(ctx context.Context, path string) (*net.UnixListener, error) {
	if _, err := os.Lstat(path); err == nil {
		d := net.Dialer{Timeout: time.Second}
		if conn, err := d.DialContext(ctx, "unix", path); err == nil {
			conn.Close()
			return nil, fmt.Errorf("%s: another WAL agent is serving there", path)
		}
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".wal-agent-")
	if err != nil {
		return nil, fmt.Errorf("wal agent socket: %w", err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("wal agent socket: %w", err)
	}
	l.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("wal agent socket: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		return nil, fmt.Errorf("wal agent socket: %w", err)
	}
	return l, nil
}

// serveWALAgent answers requests on l until ctx ends, then waits for
// those under way and removes the socket.
func serveWALAgent(ctx context.Context, l *net.UnixListener, sock string, b *backup.Backups, target, tenant string) error {
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		os.Remove(sock)
	}()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	work := context.WithoutCancel(ctx) // a push under way finishes: PostgreSQL is waiting for it
	for {
		conn, err := l.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("wal agent: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			resp := walAgentResponse{Kind: "invalid", Error: "wal agent: a connection from another user"}
			if samePeer(conn) {
				resp = handleWALAgent(work, conn, b, target, tenant)
			}
			line, _ := json.Marshal(resp)
			_, _ = conn.Write(append(line, '\n'))
		}()
	}
}

// handleWALAgent reads one request from conn and does it.
func handleWALAgent(ctx context.Context, conn net.Conn, b *backup.Backups, target, tenant string) walAgentResponse {
	var req walAgentRequest
	if err := json.NewDecoder(io.LimitReader(conn, 64<<10)).Decode(&req); err != nil {
		return walAgentResponse{Kind: "invalid", Error: "wal agent: request: " + err.Error()}
	}
	if req.Target != target || req.Tenant != tenant {
		return walAgentResponse{Kind: "repository", Error: fmt.Sprintf("it serves %s (tenant %s), not %s (tenant %s)", target, tenant, req.Target, req.Tenant)}
	}
	if !filepath.IsAbs(req.Path) {
		return walAgentResponse{Kind: "invalid", Error: fmt.Sprintf("wal agent: path %q is not absolute", req.Path)}
	}
	var err error
	switch req.Op {
	case "push":
		err = b.PushWAL(ctx, req.Path)
	case "fetch":
		err = b.FetchWAL(ctx, req.Name, req.Path)
	default:
		return walAgentResponse{Kind: "invalid", Error: fmt.Sprintf("wal agent: unknown op %q", req.Op)}
	}
	if err == nil {
		return walAgentResponse{OK: true}
	}
	resp := walAgentResponse{Kind: "failed", Error: err.Error()}
	for _, k := range agentErrorKinds {
		if errors.Is(err, k.err) {
			resp.Kind = k.name
			break
		}
	}
	return resp
}
