package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	if err != nil && !isQuiet(err) {
		fmt.Fprintln(os.Stderr, "saaskit:", err)
	}
	os.Exit(exitCode(err))
}

// Exit statuses scripts can rely on.
const (
	exitFailed = 1 // the command could not do its work
	exitUsage  = 2 // the command line is wrong
	exitBad    = 3 // a check ran and found something bad: a signature, a definition, a backup, an audit chain
)

// exitError carries an exit status other than exitFailed.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return exitError{exitUsage, fmt.Errorf(format, args...)}
}

func badError(format string, args ...any) error {
	return exitError{exitBad, fmt.Errorf(format, args...)}
}

func exitCode(err error) int {
	var e exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return e.code
	}
	return exitFailed
}

// version says which build of saaskit this is: the module version (or
// "(devel)" from a checkout), the VCS revision when recorded, and Go's.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "saaskit (unknown build)"
	}
	v := "saaskit " + info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			v += " " + s.Value[:min(12, len(s.Value))]
		}
	}
	return v + " " + info.GoVersion
}

// cli is what every command shares: the global flags and the streams.
type cli struct {
	svc    service // --data and --db
	json   bool    // --json
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// out prints a command's results as text, or as JSON with --json.
func (c *cli) out() printer { return printer{w: c.stdout, json: c.json} }

// run runs the command line args.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	root := newRoot(&cli{stdin: stdin, stdout: stdout, stderr: stderr})
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// newRoot builds the command tree. Help (-h, --help, or help COMMAND)
// prints and runs nothing; flags go anywhere on the line; cobra adds the
// completion command (bash, zsh, fish, powershell).
func newRoot(c *cli) *cobra.Command {
	root := &cobra.Command{
		Use:   "saaskit",
		Short: "Operate a saaskit service from the shell",
		Long: `saaskit operates a saaskit service: its backups, keys, audit trails,
data-subject requests and flags, and signs and checks webhooks.

The service's state is its data directory (--data: the root keyset, the
backups and their key store backup-keys.db, and saas.db) and, when it runs
on PostgreSQL, that database (--db, default $SAASKIT_DATABASE_URL), which
then holds what saas.db would. The root key's passphrase comes from
SAASKIT_ROOT_PASSPHRASE, or the demo's root.passphrase file.

Exit status: 0 done, 1 failed, 2 the command line is wrong, 3 a check ran
and found something bad (a signature, a definition, a backup, an audit
chain).`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noSuchCommand,
		RunE:          needsCommand,
	}
	root.SetIn(c.stdin)
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError("%w\nsee '%s --help'", err, cmd.CommandPath())
	})
	f := root.PersistentFlags()
	f.StringVar(&c.svc.data, "data", "data", "the service's data directory")
	f.StringVar(&c.svc.db, "db", os.Getenv("SAASKIT_DATABASE_URL"),
		"the service's PostgreSQL database (postgres://...) when it runs on one; else <data>/saas.db (default $SAASKIT_DATABASE_URL)")
	f.BoolVar(&c.json, "json", false, "print JSON")
	root.AddCommand(
		&cobra.Command{
			Use: "version", Short: "Print which build this is", Args: usageArgs(cobra.NoArgs),
			RunE: func(*cobra.Command, []string) error { _, err := fmt.Fprintln(c.stdout, version()); return err },
		},
		c.backupCommand(), c.webhookCommand(), c.flagsCommand(), c.keysCommand(), c.auditCommand(), c.gdprCommand(),
	)
	return root
}

// group is a command that only holds subcommands.
func group(use, short string, subcommands ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{Use: use, Short: short, Args: noSuchCommand, RunE: needsCommand}
	g.AddCommand(subcommands...)
	return g
}

// needsCommand is what a group does alone: a usage error naming its
// subcommands.
func needsCommand(cmd *cobra.Command, _ []string) error {
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return usageError("%s needs a command: %s\nsee '%s --help'", cmd.CommandPath(), strings.Join(names, ", "), cmd.CommandPath())
}

// noSuchCommand refuses arguments to a group: the name of no subcommand.
func noSuchCommand(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("unknown command %q for '%s'\nsee '%s --help'", args[0], cmd.CommandPath(), cmd.CommandPath())
	}
	return nil
}

// usageArgs makes the arguments' check's complaint a usage error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError("%v\nusage: %s", err, cmd.UseLine())
		}
		return nil
	}
}
