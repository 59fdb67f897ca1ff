// Command saaskit operates a saaskit service from the shell.
//
// Backups: runs, lists, verifies, restores and prunes encrypted backups
// in a directory:
//
//	saaskit backup run --sqlite ./data/saas.db
//	saaskit backup list
//	saaskit backup verify            # reads, decrypts and hashes every backup
//	saaskit backup restore <id> --to ./restored.db
//	saaskit backup prune --dry-run   # GFS: 7 daily, 4 weekly, 12 monthly, yearly
//
// Webhooks: signs a payload as a sender would, or checks a delivery's
// headers, by the Standard Webhooks specification:
//
//	saaskit webhook sign --secret whsec_... --id msg_1 < body.json
//	saaskit webhook verify --secret whsec_... --id msg_1 --timestamp 1700000000 --signature 'v1,...' body.json
//
// Flags: validates flagd definition files (every invalid flag named),
// and evaluates a flag for a context:
//
//	saaskit flags validate flags/*.json
//	saaskit flags eval flags.json new-checkout --context '{"tenantId":"acme"}'
//
// Keys: rotates a tenant's key-encryption key and rewraps its data
// keys, or shreds a data subject's (or a whole tenant's) keys:
//
//	saaskit keys rotate acme
//	saaskit keys --yes shred acme user_42
//
// Audit: verifies the hash chain of each tenant's privacy audit trail:
//
//	saaskit audit verify [TENANT ...]
//
// Data-subject requests: exports or erases a subject's data from the
// tables a --map file names, as an operator-verified request with its
// deadlines, and lists requests with their due dates:
//
//	saaskit gdpr --map dsr.json --format zip --out ada.zip export acme user_id=usr_42
//	saaskit gdpr --map dsr.json erase acme user_id=usr_42 email=ada@example.com
//	saaskit gdpr status acme
//
// The map lists tables as gdpr/sqlsource takes them; a table without
// "erase" has the subject's rows deleted, and one with it has those
// columns overwritten ("null", "random", "shredded" or "fixed:TEXT"):
//
//	{"tables": [
//	  {"table": "notes", "identity_column": "user_id", "identity_kind": "user_id",
//	   "tenant_column": "tenant_id", "key_column": "id", "columns": ["id", "body"],
//	   "erase": {"body": "fixed:[erased]"}, "categories": ["content"], "after": []}
//	]}
//
// Common flags: --data (the service's data directory: the root keyset
// root.keyset and the database saas.db, default ./data), --json
// (machine-readable output); for backup also --target (the backup
// directory, default <data>/backups) and --tenant (whose backup key,
// default platform). The root key's passphrase comes from
// SAASKIT_ROOT_PASSPHRASE, or the demo's root.passphrase file in the
// data directory.
//
// What keys and gdpr change lands in the tenant's audit trail, with the
// operator's user name as its actor and any data subject only as a
// pseudonym under SAASKIT_PSEUDONYM_KEY (or the data directory's
// pseudonym.key): a command that would change a subject's data without
// that key refuses before it changes anything.
//
// Exit status: 0 done, 1 failed, 2 the command line is wrong, 3 a check
// ran and found something bad (a signature, a flag definition or
// evaluation error, a backup, an audit chain).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/tink-crypto/tink-go/v2/tink"
	"golang.org/x/term"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/retention"
	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/localkms"
	cryptostore "github.com/saaskit/saaskit/crypto/sqlstore"
	"github.com/saaskit/saaskit/internal/sqldb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "saaskit:", err)
	}
	os.Exit(exitCode(err))
}

const usage = `usage: saaskit COMMAND ...
  version
  backup [--data DIR] [--target DIR] [--tenant ID] [--json] COMMAND
    run (--sqlite PATH | --dir PATH | --file PATH) [--tag T]
    list
    verify [--level manifest|exists|all] [ID ...]
    restore ID --to PATH [--force]
    prune [--dry-run] [--daily N --weekly N --monthly N --yearly N --last N]
  webhook sign --secret KEY --id ID [--timestamp UNIX] [--json] [FILE]
  webhook verify --secret KEY --id ID --timestamp UNIX --signature SIG [--tolerance D] [FILE]
  flags validate FILE ...
  flags eval FILE FLAG [--context JSON] [--json]
  flags eval (--data DIR | --db URL) FLAG [--context JSON] [--json]
  keys [--data DIR] [--db URL] [--json] rotate TENANT
  keys [--data DIR] [--db URL] [--json] shred TENANT [SUBJECT]
  audit [--data DIR] [--db URL] [--json] verify [TENANT ...]
  audit [--data DIR] [--db URL] [--json] checkpoint [TENANT ...]
  gdpr [--data DIR] [--db URL] --map FILE [--regime R] [--format json|zip] [--out FILE] export TENANT KIND=VALUE ...
  gdpr [--data DIR] [--db URL] --map FILE [--json] erase TENANT KIND=VALUE ...
  gdpr [--data DIR] [--db URL] [--json] status TENANT [REQUEST_ID]
flags go anywhere on the line; -h or --help on any command prints this
and runs nothing. --db (default SAASKIT_DATABASE_URL) names the service's
PostgreSQL database when it runs on one; otherwise <data>/saas.db. The
backup key's store is <data>/backup-keys.db whatever the engine. audit
checkpoint appends signed checkpoints (key: SAASKIT_CHECKPOINT_KEY or
<data>/checkpoint.key) to <data>/audit-checkpoints.jsonl, and audit
verify holds each trail to them: a trail cut back is found.
exit status: 0 done, 1 failed, 2 usage, 3 checked and found bad`

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
	case errors.Is(err, flag.ErrHelp):
		return 0
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

// run parses the command line and runs one command.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("%s", usage)
	}
	switch args[0] {
	case "backup":
		return backupCommand(ctx, args[1:], stdout, stderr)
	case "webhook":
		return webhookCommand(args[1:], stdin, stdout, stderr)
	case "flags":
		return flagsCommand(ctx, args[1:], stdout, stderr)
	case "keys":
		return keysCommand(ctx, args[1:], stdout, stderr)
	case "audit":
		return auditCommand(ctx, args[1:], stdout, stderr)
	case "gdpr":
		return gdprCommand(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return usageError("unknown command %q\n%s", args[0], usage)
}

// parse parses a flag set, making its errors usage errors.
// parse parses fs's flags wherever they stand on the line, before,
// between or after the arguments ("keys rotate acme --json", "keys
// rotate --help"). fs.Args holds the rest in order: the arguments, the
// flags fs does not define (a subcommand's own, passed on to it), and
// everything after "--". -h or --help anywhere is flag.ErrHelp: the
// usage is printed and nothing runs.
func parse(fs *flag.FlagSet, args []string) error {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		switch {
		case len(a) < 2 || a[0] != '-' || name == "":
			rest = append(rest, a)
		case name == "h" || name == "help":
			fs.Usage()
			return flag.ErrHelp
		case f == nil:
			rest = append(rest, a) // a subcommand's flag, or a typo it will report
		default:
			flags = append(flags, a)
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && b.IsBoolFlag()) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	if len(rest) > 0 && rest[0] != "--" {
		rest = append([]string{"--"}, rest...)
	}
	if err := fs.Parse(append(flags, rest...)); err != nil {
		return exitError{exitUsage, err}
	}
	return nil
}

func backupCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "data", "the service's data directory")
	target := fs.String("target", "", "backup directory (default <data>/backups)")
	tenant := fs.String("tenant", "platform", "whose backup key")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError("%s", usage)
	}
	if *target == "" {
		*target = filepath.Join(*data, "backups")
	}
	keys, closeKeys, err := openBackupKeyring(ctx, *data)
	if err != nil {
		return err
	}
	defer closeKeys()
	t, err := backup.NewDirTarget(*target)
	if err != nil {
		return err
	}
	b, err := backup.New(backup.KeyringCipher(keys, *tenant), []backup.Target{t}, backup.Options{TenantID: *tenant})
	if err != nil {
		return err
	}
	out := printer{w: stdout, json: *asJSON}
	cmd, rest := subcommand(fs)
	switch cmd {
	case "run":
		return runBackup(ctx, b, rest, out, stderr)
	case "list":
		return list(ctx, b, out)
	case "verify":
		return verify(ctx, b, rest, out, stderr)
	case "restore":
		return restore(ctx, b, rest, out)
	case "prune":
		return prune(ctx, b, rest, out)
	}
	return usageError("unknown backup command %q\n%s", cmd, usage)
}

// The databases of a service's data directory.
const (
	serviceDB = "saas.db"
	// backupKeysDB keeps the backup key apart from the database it
	// protects, so that losing that database does not lose its backups.
	backupKeysDB = "backup-keys.db"
)

// service is where a service keeps its state: its data directory (the
// root keyset, backups, the backup key store, and saas.db) and, when it
// runs on PostgreSQL, the database that then holds what saas.db would.
type service struct{ data, db string }

// openDB opens the service's database: PostgreSQL when the service runs
// on it, else saas.db in the data directory, made if create is set.
func (s *service) openDB(ctx context.Context, create bool) (*sqldb.DB, error) {
	if s.db != "" {
		return sqldb.Open(ctx, s.db)
	}
	return openDBFile(ctx, s.data, serviceDB, create)
}

// openDB opens saas.db in dataDir, made if create is set.
func openDB(ctx context.Context, dataDir string, create bool) (*sqldb.DB, error) {
	return (&service{data: dataDir}).openDB(ctx, create)
}

// openDBFile opens the data directory's database file, made if create
// is set.
func openDBFile(ctx context.Context, dataDir, file string, create bool) (*sqldb.DB, error) {
	path, err := dataFile(dataDir, file, create)
	if err != nil {
		return nil, err
	}
	return sqldb.Open(ctx, "sqlite:"+path)
}

// dataFile is the path of file in the data directory, which must exist,
// as must the file unless create is set.
func dataFile(dataDir, file string, create bool) (string, error) {
	if _, err := os.Stat(dataDir); err != nil {
		return "", fmt.Errorf("data directory: %w (name the service's with --data)", err)
	}
	path := filepath.Join(dataDir, file)
	if _, err := os.Stat(path); err != nil && !create {
		return "", fmt.Errorf("no %s in %s: %w", file, dataDir, err)
	}
	return path, nil
}

// openReadOnly opens the service's database for reading only: a
// checking command never writes to it.
func (s *service) openReadOnly(ctx context.Context) (*sqldb.DB, error) {
	if s.db != "" {
		return sqldb.Open(ctx, s.db)
	}
	path, err := dataFile(s.data, serviceDB, false)
	if err != nil {
		return nil, err
	}
	return sqldb.Open(ctx, "file:"+path+"?mode=ro")
}

// openKeyring opens the service's keyring: its root keyset, and the key
// store in its database, which it returns open too.
func openKeyring(ctx context.Context, svc *service, create bool) (*skcrypto.Keyring, *sqldb.DB, func(), error) {
	root, err := rootKey(svc.data)
	if err != nil {
		return nil, nil, nil, err
	}
	db, err := svc.openDB(ctx, create)
	if err != nil {
		return nil, nil, nil, err
	}
	return keyringOn(ctx, root, db)
}

// openBackupKeyring opens the keyring of the backup key: the root
// keyset, and the key store in backup-keys.db in the data directory.
func openBackupKeyring(ctx context.Context, dataDir string) (*skcrypto.Keyring, func(), error) {
	root, err := rootKey(dataDir)
	if err != nil {
		return nil, nil, err
	}
	db, err := openDBFile(ctx, dataDir, backupKeysDB, true)
	if err != nil {
		return nil, nil, err
	}
	keys, _, closeKeys, err := keyringOn(ctx, root, db)
	return keys, closeKeys, err
}

// rootKey opens the root keyset of the data directory with the
// passphrase of SAASKIT_ROOT_PASSPHRASE, else of the demo's file.
func rootKey(dataDir string) (tink.AEAD, error) {
	passphrase := []byte(os.Getenv("SAASKIT_ROOT_PASSPHRASE"))
	if len(passphrase) == 0 {
		p, err := os.ReadFile(filepath.Join(dataDir, "root.passphrase"))
		if err != nil {
			return nil, errors.New("set SAASKIT_ROOT_PASSPHRASE (the root key's passphrase); no demo passphrase file either")
		}
		passphrase = p
	}
	kms, err := localkms.New(passphrase, localkms.Options{})
	if err != nil {
		return nil, err
	}
	root, err := kms.GetAEAD(localkms.NewKeyURI(filepath.Join(dataDir, "root.keyset")))
	if err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	return root, nil
}

// keyringOn opens a keyring under root with its key store in db, and
// closes db if it cannot.
func keyringOn(ctx context.Context, root tink.AEAD, db *sqldb.DB) (*skcrypto.Keyring, *sqldb.DB, func(), error) {
	st, err := cryptostore.New(db.DB)
	if err == nil {
		err = st.Migrate(ctx)
	}
	var keys *skcrypto.Keyring
	if err == nil {
		keys, err = skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
	}
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return keys, db, func() { keys.Close(); db.Close() }, nil
}

// printer writes results as text or JSON.
type printer struct {
	w    io.Writer
	json bool
}

func (p printer) print(v any, text func(io.Writer)) error {
	if p.json {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(p.w)
	return nil
}

func runBackup(ctx context.Context, b *backup.Backups, args []string, out printer, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sqlite := fs.String("sqlite", "", "a SQLite database file")
	dir := fs.String("dir", "", "a directory")
	file := fs.String("file", "", "a file")
	var tags multi
	fs.Var(&tags, "tag", "a tag (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var src backup.Source
	var size int64 = -1
	switch {
	case *sqlite != "":
		db, err := sqldb.Open(ctx, "sqlite:"+*sqlite)
		if err != nil {
			return err
		}
		defer db.Close()
		src = backup.SQLiteSource(filepath.Base(*sqlite), db.DB, "")
		if fi, err := os.Stat(*sqlite); err == nil {
			size = fi.Size()
		}
	case *dir != "":
		src = backup.DirSource(*dir)
	case *file != "":
		path := *file
		if fi, err := os.Stat(path); err == nil {
			size = fi.Size()
		}
		src = backup.ReaderSource("file:"+filepath.Base(path), func(context.Context) (io.ReadCloser, error) { return os.Open(path) })
	default:
		return usageError("run needs --sqlite, --dir or --file")
	}
	if !out.json && showsProgress(stderr) {
		src = withProgress(src, size, stderr)
	}
	m, err := b.Run(ctx, src, tags...)
	if err != nil {
		return err
	}
	return out.print(m, func(w io.Writer) {
		fmt.Fprintf(w, "backup %s of %s: %d bytes, %d stored\n", m.ID, m.Source, m.PlainSize, m.StoredSize)
	})
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

func list(ctx context.Context, b *backup.Backups, out printer) error {
	all, err := b.Manifests(ctx)
	if err != nil {
		return err
	}
	return out.print(all, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSOURCE\tFINISHED\tSIZE\tSTORED")
		for _, m := range all {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", m.ID, m.Source, m.Finished.Format(time.RFC3339), m.PlainSize, m.StoredSize)
		}
		tw.Flush()
	})
}

type verified struct {
	ID    string `json:"id"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

func verify(ctx context.Context, b *backup.Backups, args []string, out printer, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	level := fs.String("level", "all", "manifest, exists or all")
	if err := parse(fs, args); err != nil {
		return err
	}
	lv, ok := map[string]backup.Level{"manifest": backup.CheckManifest, "exists": backup.CheckExists, "all": backup.CheckReadAll}[*level]
	if !ok {
		return usageError("--level %q: want manifest, exists or all", *level)
	}
	ids := fs.Args()
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
	bar := countBar(stderr, "verifying backups", len(ids), !out.json)
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
	err := out.print(results, func(w io.Writer) {
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
}

func restore(ctx context.Context, b *backup.Backups, args []string, out printer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageError("restore needs a backup ID, then --to PATH")
	}
	id := args[0]
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	to := fs.String("to", "", "where to write the restored bytes")
	force := fs.Bool("force", false, "replace a file already at --to (stop the service first: a database replaced under a running service is corrupted)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *to == "" {
		return usageError("restore needs --to PATH")
	}
	if _, err := os.Stat(*to); err == nil && !*force {
		return fmt.Errorf("%s exists: restore to a new path, or stop the service and add --force to replace it", *to)
	}
	start := time.Now()
	if err := b.RestoreFile(ctx, id, *to); err != nil {
		return err
	}
	took := time.Since(start)
	return out.print(map[string]any{"id": id, "path": *to, "seconds": took.Seconds()}, func(w io.Writer) {
		fmt.Fprintf(w, "restored %s to %s in %s\n", id, *to, took.Round(time.Millisecond))
	})
}

func prune(ctx context.Context, b *backup.Backups, args []string, out printer) error {
	gfs := retention.GFS()
	fs := flag.NewFlagSet("prune", flag.ContinueOnError)
	dry := fs.Bool("dry-run", false, "show the plan, delete nothing")
	fs.IntVar(&gfs.Last, "last", gfs.Last, "keep the last N")
	fs.IntVar(&gfs.Daily, "daily", gfs.Daily, "keep N daily (-1: all)")
	fs.IntVar(&gfs.Weekly, "weekly", gfs.Weekly, "keep N weekly")
	fs.IntVar(&gfs.Monthly, "monthly", gfs.Monthly, "keep N monthly")
	fs.IntVar(&gfs.Yearly, "yearly", gfs.Yearly, "keep N yearly")
	if err := parse(fs, args); err != nil {
		return err
	}
	var plan retention.Plan
	var err error
	if *dry {
		plan, err = b.Plan(ctx, gfs, retention.Options{})
	} else {
		plan, err = b.Prune(ctx, gfs, retention.Options{})
	}
	if err != nil {
		return err
	}
	return out.print(plan, func(w io.Writer) {
		for _, d := range plan.Decisions {
			verb := "forget"
			if d.Keep {
				verb = "keep  "
			}
			fmt.Fprintf(w, "%s %s  %s\n", verb, d.Snapshot.ID, strings.Join(d.Reasons, ", "))
		}
		if *dry {
			fmt.Fprintln(w, "(dry run: nothing deleted)")
		}
	})
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }
