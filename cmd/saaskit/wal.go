package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/saaskit/saaskit/backup"
)

// PostgreSQL continuous backup: WAL archiving (wal-push, wal-fetch),
// base backups (base), their listing (wal-status) and point-in-time
// restore (restore --pgdata --at).

// quietError fails a command with no message: wal-fetch's answer that
// a file is not archived, which recovery asks for routinely.
type quietError struct{ err error }

func (e quietError) Error() string { return e.err.Error() }
func (e quietError) Unwrap() error { return e.err }

// isQuiet says whether err is to fail without a message.
func isQuiet(err error) bool {
	var q quietError
	return errors.As(err, &q)
}

// repository resolves the data directory and target of the PostgreSQL
// commands, which PostgreSQL runs with its own environment: flags
// first, else $SAASKIT_DATA and $SAASKIT_BACKUP_TARGET.
func (c *cli) repository(cmd *cobra.Command, bf *backupFlags) {
	if f := cmd.Flag("data"); (f == nil || !f.Changed) && os.Getenv("SAASKIT_DATA") != "" {
		c.svc.data = os.Getenv("SAASKIT_DATA")
	}
	if bf.target == "" {
		bf.target = os.Getenv("SAASKIT_BACKUP_TARGET")
	}
}

const repositoryHelp = `The repository is found as by every backup command (--data, --target,
--tenant), with $SAASKIT_DATA and $SAASKIT_BACKUP_TARGET standing in for
--data and --target; the root key's passphrase comes from
SAASKIT_ROOT_PASSPHRASE (in the PostgreSQL server's environment), or the
data directory's root.passphrase.`

func (c *cli) walPush(bf *backupFlags) *cobra.Command {
	var agent string
	cmd := &cobra.Command{
		Use:   "wal-push PATH",
		Short: "Archive a PostgreSQL WAL file (archive_command)",
		Long: `Archive a WAL segment, timeline history or backup history file,
encrypted, on the backup target: PostgreSQL's archive_command, e.g.

  archive_command = 'saaskit backup wal-push --data /srv/saaskit %p'

A file already archived with the same content succeeds; with other
content it fails. Exit 0 only when the file is archived.

When a WAL agent (backup wal-agent) serves the repository, the file is
handed to it, which saves opening the key for each file (the
passphrase's key derivation takes about 1.5 s); else this command
opens the repository itself.

` + repositoryHelp,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.repository(cmd, bf)
			path, err := filepath.Abs(args[0]) // PostgreSQL passes it relative to its data directory
			if err != nil {
				return err
			}
			target, err := c.repositoryID(bf)
			if err != nil {
				return err
			}
			req := walAgentRequest{Op: "push", Path: path, Target: target, Tenant: bf.tenant}
			if handled, err := c.viaAgent(cmd.Context(), c.agentPath(agent), req); handled {
				return err
			}
			b, closeBackups, err := c.openBackups(cmd.Context(), bf)
			if err != nil {
				return err
			}
			defer closeBackups()
			return b.PushWAL(cmd.Context(), path)
		},
	}
	cmd.Flags().StringVar(&agent, "agent", "", "the WAL agent's socket (default $SAASKIT_WAL_AGENT, else <data>/wal-agent.sock)")
	return cmd
}

func (c *cli) walFetch(bf *backupFlags) *cobra.Command {
	var agent string
	cmd := &cobra.Command{
		Use:   "wal-fetch NAME PATH",
		Short: "Fetch an archived PostgreSQL WAL file (restore_command)",
		Long: `Write the archived WAL file NAME to PATH, decrypted and checked:
PostgreSQL's restore_command, e.g.

  restore_command = 'saaskit backup wal-fetch --data /srv/saaskit %f %p'

(backup restore --pgdata writes it). A file not archived exits 1 with no
message, as recovery expects; a damaged one exits 3 naming it. A WAL
agent (backup wal-agent) serving the repository does the work, as for
wal-push.

` + repositoryHelp,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.repository(cmd, bf)
			path, err := filepath.Abs(args[1])
			if err != nil {
				return err
			}
			target, err := c.repositoryID(bf)
			if err != nil {
				return err
			}
			req := walAgentRequest{Op: "fetch", Name: args[0], Path: path, Target: target, Tenant: bf.tenant}
			handled, err := c.viaAgent(cmd.Context(), c.agentPath(agent), req)
			if !handled {
				b, closeBackups, oerr := c.openBackups(cmd.Context(), bf)
				if oerr != nil {
					return oerr
				}
				defer closeBackups()
				err = b.FetchWAL(cmd.Context(), args[0], path)
			}
			switch {
			case errors.Is(err, backup.ErrNotFound):
				return quietError{err}
			case errors.Is(err, backup.ErrCorrupt):
				return exitError{exitBad, err}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&agent, "agent", "", "the WAL agent's socket (default $SAASKIT_WAL_AGENT, else <data>/wal-agent.sock)")
	return cmd
}

func (c *cli) baseBackup(bf *backupFlags) *cobra.Command {
	var dsn, name, bin string
	cmd := &cobra.Command{
		Use:   "base [--dsn DSN] [--name NAME]",
		Short: "Take a PostgreSQL base backup (pg_basebackup)",
		Long: `Take a base backup of a PostgreSQL cluster with pg_basebackup (tar,
--checkpoint=fast, WAL from the archive), streamed encrypted to the
backup target, and record where in the WAL it starts and ends. WAL
archiving (wal-push) must be set up first. The role needs the
REPLICATION attribute.

` + repositoryHelp,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dsn == "" {
				dsn = c.svc.db
			}
			if dsn == "" {
				return usageError("base needs --dsn (or --db, $SAASKIT_DATABASE_URL): the cluster to back up")
			}
			c.repository(cmd, bf)
			b, closeBackups, err := c.openBackups(cmd.Context(), bf)
			if err != nil {
				return err
			}
			defer closeBackups()
			pb, err := b.PostgresBaseBackup(cmd.Context(), dsn, backup.PGBaseOptions{Name: name, BinDir: bin})
			if err != nil {
				return err
			}
			return c.out().print(pb, func(w io.Writer) {
				fmt.Fprintf(w, "base backup %s of %s: WAL %s to %s (timeline %d), %d bytes, %d stored, finished %s\n",
					pb.ID, pb.Source, pb.StartLSN, pb.StopLSN, pb.Timeline, pb.Size, pb.Stored, pb.Finished.Format(time.RFC3339))
			})
		},
	}
	cmd.Flags().StringVar(&dsn, "dsn", "", "the cluster to back up (default --db)")
	cmd.Flags().StringVar(&name, "name", "postgres", "the cluster's name in the backups")
	cmd.Flags().StringVar(&bin, "pg-bin", "", "the directory of PostgreSQL's programs (default: PATH)")
	return cmd
}

// walStatusOut is wal-status's result.
type walStatusOut struct {
	Bases []backup.PGBase   `json:"base_backups"`
	WAL   *backup.WALStatus `json:"wal"`
}

func (c *cli) walStatus(bf *backupFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "wal-status",
		Short: "List the PostgreSQL base backups and the archived WAL, with the RPO achieved",
		Long: `List the PostgreSQL base backups, the runs of archived WAL segments (more
than one run on a timeline is a gap recovery cannot cross), and the RPO
achieved: how long ago the newest segment was archived.

` + repositoryHelp,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.repository(cmd, bf)
			b, closeBackups, err := c.openBackups(cmd.Context(), bf)
			if err != nil {
				return err
			}
			defer closeBackups()
			bases, err := b.PostgresBaseBackups(cmd.Context())
			if err != nil {
				return err
			}
			st, err := b.WALStatus(cmd.Context())
			if err != nil {
				return err
			}
			return c.out().print(walStatusOut{bases, st}, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "BASE BACKUP\tSOURCE\tFINISHED\tSTART LSN\tSTOP LSN\tSIZE")
				for _, pb := range bases {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", pb.ID, pb.Source, pb.Finished.Format(time.RFC3339), pb.StartLSN, pb.StopLSN, pb.Size)
				}
				tw.Flush()
				fmt.Fprintln(w)
				tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TIMELINE\tFIRST SEGMENT\tLAST SEGMENT\tSEGMENTS")
				for _, r := range st.Ranges {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%d\n", r.Timeline, r.First, r.Last, r.Segments)
				}
				tw.Flush()
				if st.Newest == "" {
					fmt.Fprintln(w, "no WAL archived")
					return
				}
				fmt.Fprintf(w, "newest segment %s archived %s: RPO %s\n", st.Newest, st.NewestPushed.Format(time.RFC3339), st.RPO.Round(time.Second))
			})
		},
	}
}

// restorePostgres is backup restore --pgdata DIR --at TIME.
func (c *cli) restorePostgres(cmd *cobra.Command, bf *backupFlags, pgdata, at string) error {
	when, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return usageError("--at %q: want an RFC 3339 time, such as 2026-11-27T14:05:00Z", at)
	}
	c.repository(cmd, bf)
	b, closeBackups, err := c.openBackups(cmd.Context(), bf)
	if err != nil {
		return err
	}
	defer closeBackups()
	fetch, err := c.fetchCommand(bf)
	if err != nil {
		return err
	}
	res, err := b.RestorePostgres(cmd.Context(), pgdata, when, backup.PGRestoreOptions{RestoreCommand: fetch})
	if err != nil {
		return err
	}
	return c.out().print(res, func(w io.Writer) {
		fmt.Fprintf(w, "restored base backup %s (finished %s, WAL from %s) into %s: %d files, %d bytes\n",
			res.Base.ID, res.Base.Finished.Format(time.RFC3339), res.Base.StartLSN, res.DataDir, res.Files, res.Bytes)
		fmt.Fprintf(w, "wrote recovery.signal and, in postgresql.auto.conf:\n  %s\n", strings.Join(res.Settings, "\n  "))
		fmt.Fprintf(w, "start PostgreSQL on %s (with SAASKIT_ROOT_PASSPHRASE in its environment): it replays the archived WAL to %s and promotes\n",
			res.DataDir, res.Target.Format(time.RFC3339Nano))
	})
}

// fetchCommand is the restore_command that runs this program's
// wal-fetch on the same repository, whatever the server's directory.
func (c *cli) fetchCommand(bf *backupFlags) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("restore_command: this program's path: %w", err)
	}
	data, err := filepath.Abs(c.svc.data)
	if err != nil {
		return "", err
	}
	target := bf.target
	if target == "" {
		target = filepath.Join(data, "backups")
	}
	if target, err = filepath.Abs(target); err != nil {
		return "", err
	}
	return strings.Join([]string{shellQuote(exe), "backup", "wal-fetch", "--data", shellQuote(data), "--target", shellQuote(target),
		"--tenant", shellQuote(bf.tenant), "%f", "%p"}, " "), nil
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:=@,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
