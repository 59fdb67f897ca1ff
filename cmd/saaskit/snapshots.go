package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/retention"
	"github.com/saaskit/saaskit/internal/atomicfile"
)

// backupSnapshotCommands are the commands of the snapshot repository
// in the backup directory: incremental, deduplicated snapshots.
func (c *cli) backupSnapshotCommands(bf *backupFlags) []*cobra.Command {
	return []*cobra.Command{c.backupSnapshot(bf), c.backupSnapshots(bf), c.backupSnapshotRestore(bf), c.backupSnapshotVerify(bf), c.backupSnapshotForget(bf)}
}

// openRepository opens the snapshot repository in the backup directory.
func (c *cli) openRepository(ctx context.Context, bf *backupFlags) (*backup.Repository, func(), error) {
	b, closeBackups, err := c.openBackups(ctx, bf)
	if err != nil {
		return nil, nil, err
	}
	r, err := b.Repository(ctx)
	if err != nil {
		closeBackups()
		return nil, nil, err
	}
	return r, closeBackups, nil
}

func (c *cli) backupSnapshot(bf *backupFlags) *cobra.Command {
	var tags []string
	cmd := &cobra.Command{
		Use:   "snapshot PATH [--tag T ...]",
		Short: "Take an incremental snapshot of a directory or a file",
		Long: `Take an incremental, deduplicated snapshot of a directory (its files,
directories and symbolic links) or of a file (a database copy, a dump):
only the chunks the repository lacks are stored. Files of a directory
whose size and time are unchanged since its last snapshot are not read.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			fi, err := os.Stat(path)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			r, closeRepo, err := c.openRepository(ctx, bf)
			if err != nil {
				return err
			}
			defer closeRepo()
			var info *backup.SnapshotInfo
			if fi.IsDir() {
				info, err = r.SnapshotDir(ctx, path, tags...)
			} else {
				src := backup.ReaderSource("file:"+filepath.Base(path), func(context.Context) (io.ReadCloser, error) { return os.Open(path) })
				if !c.json && showsProgress(c.stderr) {
					src = withProgress(src, fi.Size(), c.stderr)
				}
				info, err = r.Snapshot(ctx, src, tags...)
			}
			if err != nil {
				return err
			}
			return c.out().print(info, func(w io.Writer) {
				fmt.Fprintf(w, "snapshot %s of %s: %d bytes, %d of %d chunks new, %d bytes added\n",
					info.ID, info.Source, info.Size, info.NewChunks, info.Chunks, info.AddedBytes)
			})
		},
	}
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "a tag (repeatable)")
	return cmd
}

func (c *cli) backupSnapshots(bf *backupFlags) *cobra.Command {
	return &cobra.Command{
		Use: "snapshots", Short: "List the snapshots", Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, closeRepo, err := c.openRepository(cmd.Context(), bf)
			if err != nil {
				return err
			}
			defer closeRepo()
			all, err := r.Snapshots(cmd.Context())
			if err != nil {
				return err
			}
			return c.out().print(all, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSOURCE\tKIND\tSTARTED\tSIZE\tADDED")
				for _, s := range all {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\n", s.ID, s.Source, s.Kind, s.Started.Format(time.RFC3339), s.Size, s.AddedBytes)
				}
				tw.Flush()
			})
		},
	}
}

// findSnapshot finds the snapshot whose ID is id, or the only one whose
// ID starts with it.
func findSnapshot(ctx context.Context, r *backup.Repository, id string) (backup.SnapshotInfo, error) {
	all, err := r.Snapshots(ctx)
	if err != nil {
		return backup.SnapshotInfo{}, err
	}
	var found []backup.SnapshotInfo
	for _, s := range all {
		if s.ID == id {
			return s, nil
		}
		if strings.HasPrefix(s.ID, id) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return backup.SnapshotInfo{}, fmt.Errorf("snapshot %s: %w", id, backup.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return backup.SnapshotInfo{}, usageError("snapshot %s: %d snapshots start with it; give more of the ID", id, len(found))
}

// completeSnapshots completes snapshot IDs from the repository.
func (c *cli) completeSnapshots(bf *backupFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		r, closeRepo, err := c.openRepository(cmd.Context(), bf)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer closeRepo()
		all, _ := r.Snapshots(cmd.Context())
		var ids []cobra.Completion
		for _, s := range all {
			ids = append(ids, cobra.CompletionWithDesc(s.ID, s.Source+" "+s.Started.Format(time.RFC3339)))
		}
		return ids, cobra.ShellCompDirectiveNoFileComp
	}
}

// snapshotRestored is snapshot-restore's result.
type snapshotRestored struct {
	ID      string  `json:"id"`
	Source  string  `json:"source"`
	Kind    string  `json:"kind"`
	Path    string  `json:"path"`
	Bytes   int64   `json:"bytes"`
	Files   int     `json:"files,omitempty"`
	Seconds float64 `json:"seconds"`
}

func (c *cli) backupSnapshotRestore(bf *backupFlags) *cobra.Command {
	var to string
	var force bool
	cmd := &cobra.Command{
		Use:   "snapshot-restore ID --to PATH|DIR [--force]",
		Short: "Restore a snapshot: a file's to a file, a directory's into a directory",
		Long: `Restore a snapshot (its ID, or the start of it that only one ID has). A
snapshot of a file or a stream is written to PATH, which must not
exist unless --force replaces it: the bytes go to a scratch file beside
it, renamed into place once every chunk was verified. A snapshot of a
directory is restored into DIR, new or empty, with the files'
permissions and times; it never replaces a file, so --force does not
apply to it.

Every chunk is authenticated and re-hashed before it is written, and
taken from the first target whose copy is intact. Exit 3 when the
snapshot's data is damaged on every target (the message names the
chunk, the pack and the target).`,
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: c.completeSnapshots(bf),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usageError("snapshot-restore needs --to PATH (or DIR, for a directory's snapshot)")
			}
			ctx := cmd.Context()
			r, closeRepo, err := c.openRepository(ctx, bf)
			if err != nil {
				return err
			}
			defer closeRepo()
			info, err := findSnapshot(ctx, r, args[0])
			if err != nil {
				return err
			}
			start := time.Now()
			switch info.Kind {
			case "tree":
				if force {
					return usageError("--force: snapshot %s is of a directory, restored into a new or empty one; it never replaces files", info.ID)
				}
				if entries, err := os.ReadDir(to); err == nil && len(entries) > 0 {
					return fmt.Errorf("%s is not empty: restore a directory's snapshot into a new or empty directory", to)
				}
				err = r.RestoreSnapshotDir(ctx, info.ID, to)
			default:
				err = restoreSnapshotFile(ctx, r, info.ID, to, force)
			}
			if errors.Is(err, backup.ErrCorrupt) {
				return exitError{exitBad, err}
			}
			if err != nil {
				return err
			}
			res := snapshotRestored{ID: info.ID, Source: info.Source, Kind: info.Kind, Path: to, Bytes: info.Size, Files: info.Files,
				Seconds: time.Since(start).Seconds()}
			return c.out().print(res, func(w io.Writer) {
				fmt.Fprintf(w, "restored snapshot %s of %s (%d bytes) to %s in %s\n", res.ID, res.Source, res.Bytes, res.Path,
					time.Since(start).Round(time.Millisecond))
			})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the file (or, for a directory's snapshot, the directory) to restore to")
	cmd.Flags().BoolVar(&force, "force", false, "replace a file already at --to (stop what uses it first)")
	return cmd
}

// restoreSnapshotFile writes stream snapshot id to path atomically,
// replacing a file there only when force is set.
func restoreSnapshotFile(ctx context.Context, r *backup.Repository, id, path string, force bool) error {
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("%s is a directory: snapshot %s is of a file; name the file to write", path, id)
		}
		if !force {
			return fmt.Errorf("%s exists: restore to a new path, or add --force to replace it", path)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	restore := func(f *os.File) error { return r.RestoreSnapshot(ctx, id, f) }
	if force {
		return atomicfile.Replace(path, restore)
	}
	return atomicfile.Create(path, restore) // refuses a file made meanwhile
}

// parseSubset reads --read-data-subset, a percentage of the packs or
// part n of m of them, into the verification it asks for.
func parseSubset(s string) (func(context.Context, *backup.Repository) (*backup.SnapshotCheck, error), error) {
	if s == "" {
		return func(ctx context.Context, r *backup.Repository) (*backup.SnapshotCheck, error) {
			return r.VerifySnapshots(ctx, 0)
		}, nil
	}
	if nText, mText, ok := strings.Cut(s, "/"); ok {
		n, nerr := strconv.Atoi(nText)
		m, merr := strconv.Atoi(mText)
		if nerr != nil || merr != nil || m < 1 || n < 1 || n > m {
			return nil, usageError("--read-data-subset %q: part n/m wants whole numbers with 1 <= n <= m", s)
		}
		return func(ctx context.Context, r *backup.Repository) (*backup.SnapshotCheck, error) {
			return r.VerifySnapshotPart(ctx, n, m)
		}, nil
	}
	pct, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if !strings.HasSuffix(s, "%") || err != nil || pct <= 0 || pct > 100 {
		return nil, usageError("--read-data-subset %q: want a percentage of the packs, above 0%% and up to 100%%, or part n/m", s)
	}
	return func(ctx context.Context, r *backup.Repository) (*backup.SnapshotCheck, error) {
		return r.VerifySnapshots(ctx, pct/100)
	}, nil
}

// parseMaxUnused reads --max-unused: a percentage of the kept pack
// bytes, or "unlimited".
func parseMaxUnused(s string) (backup.PruneOptions, error) {
	if s == "unlimited" {
		return backup.PruneOptions{MaxUnused: 1}, nil
	}
	pct, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if !strings.HasSuffix(s, "%") || err != nil || pct < 0 || pct > 100 {
		return backup.PruneOptions{}, usageError("--max-unused %q: want a percentage from 0%% to 100%%, or unlimited", s)
	}
	if pct == 0 {
		return backup.PruneOptions{MaxUnused: -1}, nil // tolerate none
	}
	return backup.PruneOptions{MaxUnused: pct / 100}, nil
}

func (c *cli) backupSnapshotVerify(bf *backupFlags) *cobra.Command {
	var subset string
	cmd := &cobra.Command{
		Use:   "snapshot-verify [--read-data-subset N% | n/m]",
		Short: "Verify the snapshot repository, and read some or all of its data",
		Long: `Verify the snapshot repository on every target: its config, that every
snapshot and index decrypts and parses, that every chunk a snapshot uses
is indexed, and that every indexed pack is on every target. With
--read-data-subset N%, a random N% of the packs is also read from every
target, each pack hashed and each chunk in it decrypted, decompressed
and re-hashed (100% reads everything). With n/m, part n of m of the
packs is read, fixed by their IDs: running 1/m to m/m, one a night,
reads every pack once. Exit 3 when anything is damaged
or missing, listing each problem with the object and target.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			verify, err := parseSubset(subset)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			r, closeRepo, err := c.openRepository(ctx, bf)
			if err != nil {
				return err
			}
			defer closeRepo()
			check, verr := verify(ctx, r)
			if check == nil {
				return verr
			}
			out := struct {
				*backup.SnapshotCheck
				OK bool `json:"ok"`
			}{check, verr == nil}
			err = c.out().print(out, func(w io.Writer) {
				fmt.Fprintf(w, "%d snapshots, %d indexes, %d packs; read %d pack copies, %d chunks, %d bytes\n",
					check.Snapshots, check.Indexes, check.Packs, check.PacksRead, check.ChunksRead, check.BytesRead)
				if len(check.Unreferenced) > 0 {
					fmt.Fprintf(w, "%d packs no index lists (left by interrupted snapshots; prune deletes them)\n", len(check.Unreferenced))
				}
				for _, p := range check.Problems {
					fmt.Fprintf(w, "PROBLEM  %s\n", p)
				}
				if verr == nil {
					fmt.Fprintln(w, "no problems found")
				}
			})
			switch {
			case err != nil:
				return err
			case errors.Is(verr, backup.ErrCorrupt):
				return badError("%d problems in the snapshot repository", len(check.Problems))
			}
			return verr
		},
	}
	cmd.Flags().StringVar(&subset, "read-data-subset", "", "also read this percentage of the packs (10%; 100% reads all), or part n/m of them (1/7)")
	return cmd
}

// forgotten is snapshot-forget's result: the plan carried out, and
// what pruning did.
type forgotten struct {
	retention.Plan
	Pruned *backup.PruneReport `json:"pruned,omitempty"`
	DryRun bool                `json:"dry_run,omitempty"`
}

func (c *cli) backupSnapshotForget(bf *backupFlags) *cobra.Command {
	gfs := retention.GFS()
	var dry, prune, repackSmall bool
	var within, maxUnused string
	cmd := &cobra.Command{
		Use:   "snapshot-forget [--dry-run] [--prune [--max-unused N%] [--repack-small]] [--last N --hourly N --daily N --weekly N --monthly N --yearly N --within DURATION]",
		Short: "Forget the snapshots the retention policy no longer keeps, and prune their data",
		Long: `Apply a retention policy to the snapshots, grouped by tenant and source,
with restic's rules (by default, as backup prune: 7 daily, 4 weekly, 12
monthly and every yearly), and delete the snapshots it does not keep.
Their data stays until --prune, which then deletes every pack no
remaining snapshot uses (it waits for no snapshot under way: a running
snapshot makes it fail, and it makes snapshots fail while it runs).
Packs partly used are repacked, as restic's prune does: their used
chunks are copied into new packs, the emptiest packs first, until at
most --max-unused of the kept bytes is unused (default 5%; unlimited
keeps them whole); --repack-small also merges packs below 80% of the
pack size. New packs and the new index are stored before anything is
deleted, so an interrupted prune loses nothing: run it again.
--dry-run shows the plan and deletes nothing.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if within != "" {
				d, err := retention.ParseDuration(within)
				if err != nil {
					return usageError("--within %q: %v", within, err)
				}
				gfs.Within = d
			}
			if err := gfs.Validate(); err != nil {
				return usageError("%v", err)
			}
			popts, err := parseMaxUnused(maxUnused)
			if err != nil {
				return err
			}
			popts.RepackSmall = repackSmall
			ctx := cmd.Context()
			r, closeRepo, err := c.openRepository(ctx, bf)
			if err != nil {
				return err
			}
			defer closeRepo()
			res := forgotten{DryRun: dry}
			if dry {
				res.Plan, err = r.PlanForget(ctx, gfs, retention.Options{})
			} else {
				res.Plan, err = r.Forget(ctx, gfs, retention.Options{})
			}
			if err != nil {
				return err
			}
			if prune && !dry {
				report, err := r.Prune(ctx, popts)
				if err != nil {
					return fmt.Errorf("forgot %d snapshots; prune: %w", len(res.Forget()), err)
				}
				res.Pruned = &report
			}
			return c.out().print(res, func(w io.Writer) {
				for _, d := range res.Decisions {
					verb := "forget"
					if d.Keep {
						verb = "keep  "
					}
					fmt.Fprintf(w, "%s %s  %s\n", verb, d.Snapshot.ID, strings.Join(d.Reasons, ", "))
				}
				switch {
				case dry:
					fmt.Fprintln(w, "(dry run: nothing deleted)")
				case res.Pruned != nil:
					p := res.Pruned
					fmt.Fprintf(w, "pruned: %d pack copies deleted (%d bytes), %d packs repacked into %d (%d bytes copied), %d packs kept (%d bytes unused in them), %d indexes merged\n",
						p.PacksDeleted, p.BytesDeleted, p.PacksRepacked, p.PacksWritten, p.BytesRepacked, p.PacksKept, p.UnusedInKept, p.IndexesMerged)
				case len(res.Forget()) > 0:
					fmt.Fprintln(w, "(their data stays until snapshot-forget --prune)")
				}
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&dry, "dry-run", false, "show the plan, delete nothing")
	f.BoolVar(&prune, "prune", false, "then delete the data no remaining snapshot uses")
	f.StringVar(&maxUnused, "max-unused", "5%", "with --prune: the unused share of the kept pack bytes to tolerate before repacking (unlimited: never repack)")
	f.BoolVar(&repackSmall, "repack-small", false, "with --prune: also repack packs below 80% of the pack size")
	f.IntVar(&gfs.Last, "last", gfs.Last, "keep the last N")
	f.IntVar(&gfs.Hourly, "hourly", gfs.Hourly, "keep N hourly")
	f.IntVar(&gfs.Daily, "daily", gfs.Daily, "keep N daily (-1: all)")
	f.IntVar(&gfs.Weekly, "weekly", gfs.Weekly, "keep N weekly")
	f.IntVar(&gfs.Monthly, "monthly", gfs.Monthly, "keep N monthly")
	f.IntVar(&gfs.Yearly, "yearly", gfs.Yearly, "keep N yearly")
	f.StringVar(&within, "within", "", "keep every snapshot within this long of the newest (e.g. 2d, 1y2m)")
	return cmd
}
