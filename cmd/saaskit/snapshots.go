package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/saaskit/saaskit/backup"
)

// backupSnapshotCommands are the commands of the snapshot repository
// in the backup directory: incremental, deduplicated snapshots.
func (c *cli) backupSnapshotCommands(bf *backupFlags) []*cobra.Command {
	return []*cobra.Command{c.backupSnapshot(bf), c.backupSnapshots(bf)}
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
