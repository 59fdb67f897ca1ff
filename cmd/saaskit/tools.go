package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/saaskit/saaskit/flags"
	flagstore "github.com/saaskit/saaskit/flags/sqlstore"
	"github.com/saaskit/saaskit/gdpr/audit"
	auditstore "github.com/saaskit/saaskit/gdpr/audit/sqlstore"
	"github.com/saaskit/saaskit/tenancy"
	tenantstore "github.com/saaskit/saaskit/tenancy/sqlstore"
	"github.com/saaskit/saaskit/webhook"
)

// readInput reads the named file, or stdin for "" and "-".
func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "" || name == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(name)
}

// webhookCommand signs and verifies Standard Webhooks payloads.
func webhookCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "sign" && args[0] != "verify") {
		return usageError("webhook needs sign or verify\n%s", usage)
	}
	fs := flag.NewFlagSet("webhook "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret", os.Getenv("SAASKIT_WEBHOOK_SECRET"), "the endpoint's secret (whsec_... or whsk_/whpk_ for Ed25519; default $SAASKIT_WEBHOOK_SECRET)")
	id := fs.String("id", "", "the webhook-id")
	ts := fs.String("timestamp", "", "the webhook-timestamp, in Unix seconds (sign: default now)")
	sig := fs.String("signature", "", "the webhook-signature header (verify)")
	tolerance := fs.Duration("tolerance", 5*time.Minute, "how far the timestamp may be from now (verify)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *secret == "" {
		return usageError("webhook %s needs --secret (or SAASKIT_WEBHOOK_SECRET)", args[0])
	}
	body, err := readInput(fs.Arg(0), stdin)
	if err != nil {
		return err
	}
	out := printer{w: stdout, json: *asJSON}
	if args[0] == "sign" {
		return signWebhook(*secret, *id, *ts, body, out)
	}
	if *id == "" || *ts == "" || *sig == "" {
		return usageError("webhook verify needs --id, --timestamp and --signature")
	}
	v, err := webhook.NewVerifier(webhook.VerifyOptions{Tolerance: *tolerance}, *secret)
	if err != nil {
		return usageError("--secret: %v", err)
	}
	if err := v.VerifyValues(*id, *ts, *sig, body); err != nil {
		return badError("%w", err)
	}
	return out.print(map[string]bool{"valid": true}, func(w io.Writer) { fmt.Fprintln(w, "valid") })
}

func signWebhook(secret, id, ts string, body []byte, out printer) error {
	s, err := webhook.NewSigner(secret)
	if err != nil {
		return usageError("--secret: %v", err)
	}
	if id == "" {
		return usageError("webhook sign needs --id (the message's webhook-id)")
	}
	at := time.Now()
	if ts != "" {
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return usageError("--timestamp %q: want Unix seconds", ts)
		}
		at = time.Unix(n, 0)
	}
	sig, err := s.Sign(id, at, body)
	if err != nil {
		return err
	}
	headers := map[string]string{"webhook-id": id, "webhook-timestamp": strconv.FormatInt(at.Unix(), 10), "webhook-signature": sig}
	return out.print(headers, func(w io.Writer) {
		for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
			fmt.Fprintf(w, "%s: %s\n", k, headers[k])
		}
	})
}

// flagsCommand validates flagd definition files and evaluates flags.
func flagsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("flags needs validate or eval\n%s", usage)
	}
	switch args[0] {
	case "validate":
		if len(args) == 1 {
			return usageError("flags validate needs at least one file")
		}
		bad := 0
		for _, name := range args[1:] {
			if err := validateFlags(name); err != nil {
				fmt.Fprintf(stdout, "INVALID %s: %v\n", name, err)
				bad++
				continue
			}
			fmt.Fprintf(stdout, "ok      %s\n", name)
		}
		if bad > 0 {
			return badError("%d of %d files invalid", bad, len(args)-1)
		}
		return nil
	case "eval":
		return evalFlag(ctx, args[1:], stdout, stderr)
	}
	return usageError("unknown flags command %q\n%s", args[0], usage)
}

func validateFlags(name string) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	_, err = flags.Parse(data)
	return err
}

type evaluation struct {
	Flag         string         `json:"flag"`
	Value        any            `json:"value"`
	Variant      string         `json:"variant,omitempty"`
	Reason       string         `json:"reason"`
	ErrorCode    string         `json:"error_code,omitempty"`
	ErrorMessage string         `json:"error_message,omitempty"`
	Metadata     map[string]any `json:"metadata,omitempty"`
}

func evalFlag(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flags eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	evalCtx := fs.String("context", "{}", "the evaluation context, a JSON object (targetingKey, tenantId, ...)")
	asJSON := fs.Bool("json", false, "print JSON")
	var svc service
	fs.StringVar(&svc.data, "data", "", "evaluate the definitions of the service whose data directory this is (its flag store, rings and shared evaluators included)")
	fs.StringVar(&svc.db, "db", "", "evaluate the definitions of the service on this PostgreSQL database")
	if err := parse(fs, args); err != nil {
		return err
	}
	fromService := svc.data != "" || svc.db != ""
	var source, key string
	switch {
	case fromService && fs.NArg() == 1:
		source, key = "the service's flag store", fs.Arg(0)
	case !fromService && fs.NArg() == 2:
		source, key = fs.Arg(0), fs.Arg(1)
	default:
		return usageError("flags eval needs a definitions file and a flag key, or --data/--db and a flag key")
	}
	var evalContext map[string]any
	if err := json.Unmarshal([]byte(*evalCtx), &evalContext); err != nil || evalContext == nil {
		return usageError("--context: want a JSON object")
	}
	var data []byte
	var err error
	if fromService {
		data, err = serviceFlags(ctx, &svc)
	} else {
		data, err = os.ReadFile(source)
	}
	if err != nil {
		return err
	}
	set, err := flags.Parse(data)
	if set == nil {
		return badError("%s: %w", source, err)
	}
	value, d := evaluate(flags.NewEvaluator(set, flags.Options{}), key, evalContext)
	e := evaluation{Flag: key, Value: value, Variant: d.Variant, Reason: d.Reason.String(),
		ErrorMessage: d.ErrorMessage, Metadata: d.Metadata}
	if d.ErrorCode != 0 {
		e.ErrorCode = d.ErrorCode.String()
	}
	if err := (printer{w: stdout, json: *asJSON}).print(e, func(w io.Writer) {
		v, _ := json.Marshal(e.Value)
		fmt.Fprintf(w, "%s = %s (variant %q, reason %s)\n", key, v, e.Variant, e.Reason)
		if e.ErrorCode != "" {
			fmt.Fprintf(w, "error %s: %s\n", e.ErrorCode, e.ErrorMessage)
		}
	}); err != nil {
		return err
	}
	if e.ErrorCode != "" {
		return badError("%s: %s", e.ErrorCode, e.ErrorMessage)
	}
	return nil
}

// serviceFlags reads the service's flag definitions from its flag
// store: every flag, ring and shared evaluator, as the service serves
// them.
func serviceFlags(ctx context.Context, svc *service) ([]byte, error) {
	db, err := svc.openReadOnly(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	st, err := flagstore.New(db.DB, flagstore.Options{})
	if err != nil {
		return nil, err
	}
	return st.Load(ctx)
}

// evaluate evaluates a flag as the type of its variants.
func evaluate(ev *flags.Evaluator, key string, ctx map[string]any) (any, flags.Detail) {
	var variant any
	for _, v := range ev.Current().Definitions().Flags[key].Variants {
		variant = v
		break
	}
	switch variant.(type) {
	case bool:
		return ev.Bool(key, ctx, false)
	case string:
		return ev.String(key, ctx, "")
	case float64:
		return ev.Float(key, ctx, 0)
	}
	return ev.Object(key, ctx, nil)
}

// subcommand splits a parsed command line into its first argument and
// the rest.
func subcommand(fs *flag.FlagSet) (string, []string) {
	if fs.NArg() == 0 {
		return "", nil
	}
	return fs.Arg(0), fs.Args()[1:]
}

// dataFlags are the flags of the commands that work on a data directory.
func dataFlags(name string, stderr io.Writer) (*flag.FlagSet, *service, *bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	svc := &service{}
	fs.StringVar(&svc.data, "data", "data", "the service's data directory")
	fs.StringVar(&svc.db, "db", os.Getenv("SAASKIT_DATABASE_URL"),
		"the service's PostgreSQL database (postgres://...) when it runs on one (default SAASKIT_DATABASE_URL; else <data>/saas.db)")
	return fs, svc, fs.Bool("json", false, "print JSON")
}

// keysCommand rotates a tenant's key-encryption key and shreds keys.
func keysCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, svc, asJSON := dataFlags("keys", stderr)
	yes := fs.Bool("yes", false, "confirm a shred: the data it covers becomes unreadable for good")
	if err := parse(fs, args); err != nil {
		return err
	}
	cmd, rest := subcommand(fs)
	if (cmd != "rotate" || len(rest) != 1) && (cmd != "shred" || len(rest) < 1 || len(rest) > 2) {
		return usageError("%s", usage)
	}
	if cmd == "shred" && !*yes {
		return usageError("keys shred destroys keys for good: add --yes")
	}
	keys, db, closeKeys, err := openKeyring(ctx, svc, false)
	if err != nil {
		return err
	}
	defer closeKeys()
	oplog, err := openOperatorLog(ctx, db.DB, svc.data)
	if err != nil {
		return err
	}
	out := printer{w: stdout, json: *asJSON}
	tenant := rest[0]
	if err := requireTenants(ctx, db.DB, tenant); err != nil {
		return err
	}
	if cmd == "rotate" {
		version, err := keys.RotateKEK(ctx, tenant)
		if err != nil {
			return err
		}
		rewrapped, rewrapErr := keys.Rewrap(ctx, tenant)
		details := map[string]string{"kek_version": strconv.Itoa(version), "rewrapped": strconv.Itoa(rewrapped)}
		if err := oplog.record(ctx, tenant, "keys rotated", "", details); err != nil {
			return err
		}
		if rewrapErr != nil {
			return fmt.Errorf("KEK version %d is primary, but rewrapping failed (run rotate again to finish): %w", version, rewrapErr)
		}
		return out.print(map[string]any{"tenant": tenant, "kek_version": version, "rewrapped": rewrapped}, func(w io.Writer) {
			fmt.Fprintf(w, "%s: KEK version %d is primary; %d data keys rewrapped\n", tenant, version, rewrapped)
		})
	}
	subject := ""
	if len(rest) == 2 {
		subject = rest[1]
		// Fail before shredding, not after, when the shred can't be recorded.
		if _, err := oplog.pseudonymKey(); err != nil {
			return err
		}
	}
	var ev any
	var destroyed int
	if subject != "" {
		e, err := keys.ShredSubject(ctx, tenant, subject)
		if err != nil {
			return err
		}
		ev, destroyed = e, len(e.KeyIDs)
	} else {
		e, err := keys.ShredTenant(ctx, tenant)
		if err != nil {
			return err
		}
		ev, destroyed = e, len(e.KeyIDs)
	}
	if err := oplog.record(ctx, tenant, "keys shredded", subject, map[string]string{"keys": strconv.Itoa(destroyed)}); err != nil {
		return err
	}
	return out.print(ev, func(w io.Writer) { fmt.Fprintf(w, "%d keys destroyed\n", destroyed) })
}

// auditCommand verifies the audit trails' hash chains, against the
// signed checkpoints taken before when there are any, and takes new
// checkpoints.
func auditCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, svc, asJSON := dataFlags("audit", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	cmd, tenants := subcommand(fs)
	if cmd != "verify" && cmd != "checkpoint" {
		return usageError("%s", usage)
	}
	db, err := svc.openReadOnly(ctx) // checking writes nothing to the database
	if err != nil {
		return err
	}
	defer db.Close()
	cps := audit.CheckpointFile{Path: filepath.Join(svc.data, checkpointsFile)}
	key, err := checkpointKey(svc.data)
	if err != nil {
		return err
	}
	st, err := auditstore.New(db.DB)
	if err != nil {
		return err
	}
	trail, err := audit.New(st, audit.Options{CheckpointKey: key})
	if err != nil {
		return err
	}
	if err := requireTenants(ctx, db.DB, tenants...); err != nil {
		return err
	}
	if len(tenants) == 0 {
		if tenants, err = allTenants(ctx, db.DB); err != nil {
			return err
		}
	}
	out := printer{w: stdout, json: *asJSON}
	if cmd == "checkpoint" {
		return checkpoint(ctx, trail, cps, key, tenants, out)
	}
	taken, err := cps.Read()
	if err != nil {
		return err
	}
	var reports []audit.Report
	broken := 0
	bar := countBar(stderr, "verifying audit trails", len(tenants), !*asJSON)
	for _, t := range tenants {
		r, err := trail.Verify(ctx, t, taken[t]...)
		if err != nil {
			return err
		}
		if !r.OK {
			broken++
		}
		reports = append(reports, r)
		_ = bar.Add(1)
	}
	_ = bar.Finish()
	if err := out.print(reports, func(w io.Writer) {
		for _, r := range reports {
			if r.OK {
				fmt.Fprintf(w, "intact  %s: %d records\n", r.TenantID, r.Records)
			} else {
				fmt.Fprintf(w, "BROKEN  %s at record %d: %s\n", r.TenantID, r.BrokenAt, r.Reason)
			}
		}
	}); err != nil {
		return err
	}
	if broken > 0 {
		return badError("%d of %d audit trails broken", broken, len(reports))
	}
	return nil
}

// checkpointsFile, in the data directory, keeps the signed checkpoints
// audit checkpoint takes, one JSON object a line: apart from the trail,
// so that a trail cut back or rewritten no longer reaches them.
const checkpointsFile = "audit-checkpoints.jsonl"

// checkpoint verifies each tenant's trail, then appends its signed
// checkpoint: a checkpoint vouches only for a chain that was intact.
func checkpoint(ctx context.Context, trail *audit.Trail, cps audit.CheckpointFile, key []byte, tenants []string, out printer) error {
	if len(key) == 0 {
		return errors.New("audit checkpoint needs a key to sign with: SAASKIT_CHECKPOINT_KEY, or the data directory's checkpoint.key")
	}
	var taken []audit.Checkpoint
	for _, t := range tenants {
		r, err := trail.Verify(ctx, t)
		if err != nil {
			return err
		}
		if !r.OK {
			return badError("tenant %s: the trail is broken at record %d (%s): no checkpoint taken", t, r.BrokenAt, r.Reason)
		}
		cp, err := trail.Checkpoint(ctx, t)
		if err != nil {
			return err
		}
		taken = append(taken, cp)
	}
	if err := cps.Append(taken...); err != nil {
		return err
	}
	return out.print(taken, func(w io.Writer) {
		for _, cp := range taken {
			fmt.Fprintf(w, "checkpoint  %s at record %d\n", cp.TenantID, cp.Seq)
		}
	})
}

// checkpointKey is the checkpoint signing key: SAASKIT_CHECKPOINT_KEY,
// else the data directory's checkpoint.key, else none.
func checkpointKey(dataDir string) ([]byte, error) {
	if k := os.Getenv("SAASKIT_CHECKPOINT_KEY"); k != "" {
		return []byte(k), nil
	}
	k, err := os.ReadFile(filepath.Join(dataDir, "checkpoint.key"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return k, err
}

// requireTenants fails for any of ids that is not a tenant of the
// service, before anything is done for it.
func requireTenants(ctx context.Context, db *sql.DB, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	st, err := tenantstore.New(db)
	if err != nil {
		return err
	}
	for _, id := range ids {
		_, err := st.Lookup(ctx, tenancy.ByID, id)
		switch {
		case errors.Is(err, tenancy.ErrNotFound):
			return fmt.Errorf("no tenant %q in the service's database", id)
		case err != nil:
			return fmt.Errorf("tenant %q: %w", id, err)
		}
	}
	return nil
}

// allTenants lists every tenant's ID from the service's tenant store.
func allTenants(ctx context.Context, db *sql.DB) ([]string, error) {
	st, err := tenantstore.New(db)
	if err != nil {
		return nil, err
	}
	var ids []string
	for after := ""; ; {
		page, err := st.List(ctx, tenancy.ListOptions{After: after})
		if err != nil {
			return nil, fmt.Errorf("listing tenants (or name them): %w", err)
		}
		for _, t := range page {
			ids = append(ids, t.ID)
		}
		if len(page) == 0 {
			return ids, nil
		}
		after = page[len(page)-1].ID
	}
}
