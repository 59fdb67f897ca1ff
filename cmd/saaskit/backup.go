package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/replicate"
	"github.com/saaskit/saaskit/backup/retention"
	"github.com/saaskit/saaskit/internal/sqldb"
)

// backupFlags are the flags of every backup command.
type backupFlags struct {
	target         string // the backup directory; default <data>/backups
	tenant         string // whose backup key
	unsealedBefore string // RFC 3339: accept unsealed manifests of backups started before
}

func (c *cli) backupCommand() *cobra.Command {
	var bf backupFlags
	g := group("backup", "Run, list, verify, restore and prune encrypted backups",
		c.backupRun(&bf), c.backupList(&bf), c.backupVerify(&bf), c.backupRestore(&bf), c.backupPrune(&bf),
		c.walPush(&bf), c.walFetch(&bf), c.walAgent(&bf), c.baseBackup(&bf), c.walStatus(&bf))
	g.AddCommand(c.backupSnapshotCommands(&bf)...)
	g.PersistentFlags().StringVar(&bf.target, "target", "", "the backup directory (default <data>/backups)")
	g.PersistentFlags().StringVar(&bf.tenant, "tenant", "platform", "whose backup key")
	g.PersistentFlags().StringVar(&bf.unsealedBefore, "unsealed-before", "",
		"accept, unauthenticated, the unsealed manifests of backups started before this RFC 3339 time (made before manifests were sealed)")
	return g
}

// openBackups opens the backups in the target directory under the
// backup key, whose store is the data directory's backup-keys.db.
func (c *cli) openBackups(ctx context.Context, bf *backupFlags) (*backup.Backups, func(), error) {
	cipher, targets, closeKeys, err := c.openBackupTarget(ctx, bf)
	if err != nil {
		return nil, nil, err
	}
	opts := backup.Options{TenantID: bf.tenant}
	if bf.unsealedBefore != "" {
		if opts.UnsealedBefore, err = time.Parse(time.RFC3339Nano, bf.unsealedBefore); err != nil {
			closeKeys()
			return nil, nil, usageError("--unsealed-before: an RFC 3339 time: %v", err)
		}
	}
	b, err := backup.New(cipher, targets, opts)
	if err != nil {
		closeKeys()
		return nil, nil, err
	}
	return b, closeKeys, nil
}

// openBackupTarget opens the backup keys and the target that --target (or
// <data>/backups) names.
func (c *cli) openBackupTarget(ctx context.Context, bf *backupFlags) (backup.Cipher, []backup.Target, func(), error) {
	target := bf.target
	if target == "" {
		target = filepath.Join(c.svc.data, "backups")
	}
	keys, closeKeys, err := openBackupKeyring(ctx, c.svc.data)
	if err != nil {
		return nil, nil, nil, err
	}
	t, err := backup.NewDirTarget(target)
	if err != nil {
		closeKeys()
		return nil, nil, nil, err
	}
	return backup.KeyringCipher(keys, bf.tenant), []backup.Target{t}, closeKeys, nil
}

func (c *cli) backupRun(bf *backupFlags) *cobra.Command {
	var sqlite, dir, file string
	var tags []string
	cmd := &cobra.Command{
		Use:   "run [--sqlite PATH | --dir PATH | --file PATH] [--tag T ...]",
		Short: "Back up the service's database, or a SQLite file, a directory or a file",
		Long: `Back up the service's database (saas.db, or with --db its PostgreSQL
database, by pg_dump), or the SQLite database, directory or file named.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(slices.DeleteFunc([]string{sqlite, dir, file}, func(s string) bool { return s == "" })) > 1 {
				return usageError("run backs up one source: --sqlite, --dir or --file")
			}
			ctx := cmd.Context()
			b, closeBackups, err := c.openBackups(ctx, bf)
			if err != nil {
				return err
			}
			defer closeBackups()
			var src backup.Source
			var size int64 = -1
			switch {
			case dir != "":
				src = backup.DirSource(dir)
			case file != "":
				path := file
				size = fileSize(path)
				src = backup.ReaderSource("file:"+filepath.Base(path), func(context.Context) (io.ReadCloser, error) { return os.Open(path) })
			case sqlite == "" && c.svc.db != "":
				src = backup.PostgresSource(pgSourceName, c.svc.db)
			default:
				if sqlite == "" { // the service's saas.db
					if sqlite, err = dataFile(c.svc.data, serviceDB, false); err != nil {
						return err
					}
				}
				db, err := sqldb.Open(ctx, "sqlite:"+sqlite)
				if err != nil {
					return err
				}
				defer db.Close()
				src, size = backup.SQLiteSource(filepath.Base(sqlite), db.DB, ""), fileSize(sqlite)
			}
			if !c.json && showsProgress(c.stderr) {
				src = withProgress(src, size, c.stderr)
			}
			m, err := b.Run(ctx, src, tags...)
			if err != nil {
				return err
			}
			return c.out().print(m, func(w io.Writer) {
				fmt.Fprintf(w, "backup %s of %s: %d bytes, %d stored\n", m.ID, m.Source, m.PlainSize, m.StoredSize)
			})
		},
	}
	cmd.Flags().StringVar(&sqlite, "sqlite", "", "a SQLite database file")
	cmd.Flags().StringVar(&dir, "dir", "", "a directory")
	cmd.Flags().StringVar(&file, "file", "", "a file")
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "a tag (repeatable)")
	return cmd
}

// pgSourceName names the backups of the service's PostgreSQL database,
// as the service's own scheduled backups do.
const pgSourceName = "saas"

// fileSize is the size of the file at path, or -1 when unknown.
func fileSize(path string) int64 {
	if fi, err := os.Stat(path); err == nil {
		return fi.Size()
	}
	return -1
}

// withProgress shows a progress bar on stderr while the source is read.
func withProgress(src backup.Source, size int64, stderr io.Writer) backup.Source {
	return backup.ReaderSource(src.Name(), func(ctx context.Context) (io.ReadCloser, error) {
		rc, err := src.Open(ctx)
		if err != nil {
			return nil, err
		}
		bar := progressbar.NewOptions64(size, progressbar.OptionSetWriter(stderr), progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("backing up "+src.Name()), progressbar.OptionClearOnFinish())
		r := progressbar.NewReader(rc, bar)
		return struct {
			io.Reader
			io.Closer
		}{&r, closerFunc(func() error { _ = bar.Finish(); return rc.Close() })}, nil
	})
}

// countBar shows, when visible and there is more than one, how many of
// n things are done.
func countBar(stderr io.Writer, what string, n int, visible bool) *progressbar.ProgressBar {
	return progressbar.NewOptions(n, progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription(what),
		progressbar.OptionClearOnFinish(), progressbar.OptionSetVisibility(visible && n > 1 && showsProgress(stderr)))
}

// showsProgress says whether progress bars are drawn on w: only on a
// terminal, so that logs and pipes get no carriage-return redraws.
var showsProgress = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func (c *cli) backupList(bf *backupFlags) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List the backups", Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, closeBackups, err := c.openBackups(cmd.Context(), bf)
			if err != nil {
				return err
			}
			defer closeBackups()
			all, err := b.Manifests(cmd.Context())
			if err != nil {
				return err
			}
			return c.out().print(all, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSOURCE\tFINISHED\tSIZE\tSTORED")
				for _, m := range all {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", m.ID, m.Source, m.Finished.Format(time.RFC3339), m.PlainSize, m.StoredSize)
				}
				tw.Flush()
			})
		},
	}
}

type verified struct {
	ID    string `json:"id"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

func (c *cli) backupVerify(bf *backupFlags) *cobra.Command {
	var level string
	cmd := &cobra.Command{
		Use:   "verify [ID ...]",
		Short: "Verify backups: every one, or those named",
		Long: `Verify backups, every one or those named. At level all (the default)
every copy is read, decrypted, decompressed and hashed; exists checks
that each copy is there; manifest checks the manifests only.`,
		ValidArgsFunction: c.completeBackups(bf),
		RunE: func(cmd *cobra.Command, ids []string) error {
			lv, ok := map[string]backup.Level{"manifest": backup.CheckManifest, "exists": backup.CheckExists, "all": backup.CheckReadAll}[level]
			if !ok {
				return usageError("--level %q: want manifest, exists or all", level)
			}
			ctx := cmd.Context()
			b, closeBackups, err := c.openBackups(ctx, bf)
			if err != nil {
				return err
			}
			defer closeBackups()
			if len(ids) == 0 {
				all, err := b.Manifests(ctx)
				if err != nil {
					return err
				}
				for _, m := range all {
					ids = append(ids, m.ID)
				}
			}
			var results []verified
			failed := 0
			bar := countBar(c.stderr, "verifying backups", len(ids), !c.json)
			for _, id := range ids {
				r := verified{ID: id, OK: true}
				if err := b.Verify(ctx, id, lv); err != nil {
					r.OK, r.Error = false, err.Error()
					failed++
				}
				results = append(results, r)
				_ = bar.Add(1)
			}
			_ = bar.Finish()
			err = c.out().print(results, func(w io.Writer) {
				for _, r := range results {
					if r.OK {
						fmt.Fprintf(w, "ok      %s\n", r.ID)
					} else {
						fmt.Fprintf(w, "FAILED  %s: %s\n", r.ID, r.Error)
					}
				}
			})
			if err == nil && failed > 0 {
				err = badError("%d of %d backups failed verification", failed, len(results))
			}
			return err
		},
	}
	cmd.Flags().StringVar(&level, "level", "all", "manifest, exists or all")
	return cmd
}

func (c *cli) backupRestore(bf *backupFlags) *cobra.Command {
	var to, pgdata, at string
	var force bool
	cmd := &cobra.Command{
		Use:   "restore ID --to PATH [--force] | restore --at TIME --to PATH | restore --pgdata DIR --at TIME",
		Short: "Restore a backup to a file, or a database to a point in time",
		Long: `Restore a backup to a file (ID --to PATH); the service's SQLite database,
continuously replicated, as it was at a moment (--at TIME --to PATH,
TIME in RFC 3339 or "latest"); or a PostgreSQL cluster to a point in
time (--pgdata DIR --at TIME): the newest base backup finished by TIME
is extracted into DIR, new or empty, with recovery.signal and the
recovery settings (restore_command calling this program's wal-fetch on
the same repository, recovery_target_time, promote); starting
PostgreSQL on DIR then replays the archived WAL up to TIME.`,
		Args:              usageArgs(cobra.RangeArgs(0, 1)),
		ValidArgsFunction: c.completeBackups(bf),
		RunE: func(cmd *cobra.Command, args []string) error {
			if at != "" && pgdata == "" {
				if len(args) > 0 || to == "" {
					return usageError("a point-in-time restore of the SQLite database takes --at TIME and --to PATH, and no ID")
				}
				return c.restoreReplica(cmd, bf, to, at)
			}
			if pgdata != "" || at != "" {
				if pgdata == "" || at == "" || len(args) > 0 || to != "" {
					return usageError("a point-in-time restore takes --pgdata DIR and --at TIME, and no ID or --to")
				}
				return c.restorePostgres(cmd, bf, pgdata, at)
			}
			if len(args) != 1 {
				return usageError("restore needs the ID of a backup\nusage: %s", cmd.UseLine())
			}
			if to == "" {
				return usageError("restore needs --to PATH")
			}
			if _, err := os.Stat(to); err == nil && !force {
				return fmt.Errorf("%s exists: restore to a new path, or stop the service and add --force to replace it", to)
			}
			b, closeBackups, err := c.openBackups(cmd.Context(), bf)
			if err != nil {
				return err
			}
			defer closeBackups()
			id, start := args[0], time.Now()
			if err := b.RestoreFile(cmd.Context(), id, to); err != nil {
				return err
			}
			took := time.Since(start)
			return c.out().print(map[string]any{"id": id, "path": to, "seconds": took.Seconds()}, func(w io.Writer) {
				fmt.Fprintf(w, "restored %s to %s in %s\n", id, to, took.Round(time.Millisecond))
			})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "where to write the restored bytes")
	cmd.Flags().StringVar(&pgdata, "pgdata", "", "a new PostgreSQL data directory to restore into, to the time --at")
	cmd.Flags().StringVar(&at, "at", "", `the time to restore the SQLite database or a PostgreSQL cluster to (RFC 3339, or "latest" for SQLite)`)
	cmd.Flags().BoolVar(&force, "force", false, "replace a file already at --to (stop the service first: a database replaced under a running service is corrupted)")
	return cmd
}

func (c *cli) backupPrune(bf *backupFlags) *cobra.Command {
	gfs := retention.GFS()
	var dry bool
	cmd := &cobra.Command{
		Use:   "prune [--dry-run] [--daily N --weekly N --monthly N --yearly N --last N]",
		Short: "Forget the backups the retention policy no longer keeps",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, closeBackups, err := c.openBackups(cmd.Context(), bf)
			if err != nil {
				return err
			}
			defer closeBackups()
			var plan retention.Plan
			if dry {
				plan, err = b.Plan(cmd.Context(), gfs, retention.Options{})
			} else {
				plan, err = b.Prune(cmd.Context(), gfs, retention.Options{})
			}
			if err != nil {
				return err
			}
			return c.out().print(plan, func(w io.Writer) {
				for _, d := range plan.Decisions {
					verb := "forget"
					if d.Keep {
						verb = "keep  "
					}
					fmt.Fprintf(w, "%s %s  %s\n", verb, d.Snapshot.ID, strings.Join(d.Reasons, ", "))
				}
				if dry {
					fmt.Fprintln(w, "(dry run: nothing deleted)")
				}
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&dry, "dry-run", false, "show the plan, delete nothing")
	f.IntVar(&gfs.Last, "last", gfs.Last, "keep the last N")
	f.IntVar(&gfs.Daily, "daily", gfs.Daily, "keep N daily (-1: all)")
	f.IntVar(&gfs.Weekly, "weekly", gfs.Weekly, "keep N weekly")
	f.IntVar(&gfs.Monthly, "monthly", gfs.Monthly, "keep N monthly")
	f.IntVar(&gfs.Yearly, "yearly", gfs.Yearly, "keep N yearly")
	return cmd
}

// completeBackups completes backup IDs from the catalog.
func (c *cli) completeBackups(bf *backupFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		b, closeBackups, err := c.openBackups(cmd.Context(), bf)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer closeBackups()
		all, _ := b.Manifests(cmd.Context())
		var ids []cobra.Completion
		for _, m := range all {
			ids = append(ids, cobra.CompletionWithDesc(m.ID, m.Source+" "+m.Finished.Format(time.RFC3339)))
		}
		return ids, cobra.ShellCompDirectiveNoFileComp
	}
}

// restoreReplica writes the service's SQLite database, from its
// continuous replica, as it was at the time at ("latest": the newest
// change shipped), to the new file to.
func (c *cli) restoreReplica(cmd *cobra.Command, bf *backupFlags, to, at string) error {
	var when time.Time
	if at != "latest" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return usageError("--at %q: a time in RFC 3339 (2026-12-05T09:30:00Z) or \"latest\"", at)
		}
		when = t
	}
	if _, err := os.Stat(to); err == nil {
		return fmt.Errorf("%s exists: restore to a new path", to)
	}
	cipher, targets, closeKeys, err := c.openBackupTarget(cmd.Context(), bf)
	if err != nil {
		return err
	}
	defer closeKeys()
	start := time.Now()
	if err := replicate.Restore(cmd.Context(), cipher, targets, replicaPrefix, to, when); err != nil {
		return err
	}
	took := time.Since(start)
	return c.out().print(map[string]any{"at": at, "path": to, "seconds": took.Seconds()}, func(w io.Writer) {
		fmt.Fprintf(w, "restored saas.db as of %s to %s in %s\n", at, to, took.Round(time.Millisecond))
	})
}

// replicaPrefix is where the service (examples/saas) replicates its
// SQLite database on the backup target.
const replicaPrefix = "replica/saas.db/"
