package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/saaskit/saaskit/flags"
	flagstore "github.com/saaskit/saaskit/flags/sqlstore"
	"github.com/saaskit/saaskit/gdpr/audit"
	auditstore "github.com/saaskit/saaskit/gdpr/audit/sqlstore"
	"github.com/saaskit/saaskit/tenancy"
	tenantstore "github.com/saaskit/saaskit/tenancy/sqlstore"
	"github.com/saaskit/saaskit/webhook"
)

// readInput reads the file args name, or stdin for none or "-".
func readInput(args []string, stdin io.Reader) ([]byte, error) {
	if len(args) == 0 || args[0] == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(args[0])
}

// webhookFlags are the flags of webhook sign and verify.
type webhookFlags struct {
	secret, id, timestamp string
}

func (c *cli) webhookCommand() *cobra.Command {
	var wf webhookFlags
	verify := c.webhookVerify(&wf)
	g := group("webhook", "Sign a payload, or check a delivery's signature (Standard Webhooks)", c.webhookSign(&wf), verify)
	f := g.PersistentFlags()
	f.StringVar(&wf.secret, "secret", os.Getenv("SAASKIT_WEBHOOK_SECRET"), "the endpoint's secret (whsec_... or whsk_/whpk_ for Ed25519; default $SAASKIT_WEBHOOK_SECRET)")
	f.StringVar(&wf.id, "id", "", "the webhook-id")
	f.StringVar(&wf.timestamp, "timestamp", "", "the webhook-timestamp, in Unix seconds (sign: default now)")
	return g
}

func (c *cli) webhookSign(wf *webhookFlags) *cobra.Command {
	return &cobra.Command{
		Use: "sign --secret KEY --id ID [--timestamp UNIX] [FILE]", Short: "Sign a payload (FILE, or stdin) as a sender would",
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			if wf.secret == "" {
				return usageError("webhook sign needs --secret (or SAASKIT_WEBHOOK_SECRET)")
			}
			body, err := readInput(args, c.stdin)
			if err != nil {
				return err
			}
			return signWebhook(wf.secret, wf.id, wf.timestamp, body, c.out())
		},
	}
}

func (c *cli) webhookVerify(wf *webhookFlags) *cobra.Command {
	var signature string
	var tolerance time.Duration
	cmd := &cobra.Command{
		Use:   "verify --secret KEY --id ID --timestamp UNIX --signature SIG [--tolerance D] [FILE]",
		Short: "Check a delivery's signature over its payload (FILE, or stdin)",
		Args:  usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			if wf.secret == "" {
				return usageError("webhook verify needs --secret (or SAASKIT_WEBHOOK_SECRET)")
			}
			if wf.id == "" || wf.timestamp == "" || signature == "" {
				return usageError("webhook verify needs --id, --timestamp and --signature")
			}
			body, err := readInput(args, c.stdin)
			if err != nil {
				return err
			}
			v, err := webhook.NewVerifier(webhook.VerifyOptions{Tolerance: tolerance}, wf.secret)
			if err != nil {
				return usageError("--secret: %v", err)
			}
			if err := v.VerifyValues(wf.id, wf.timestamp, signature, body); err != nil {
				return badError("%w", err)
			}
			return c.out().print(map[string]bool{"valid": true}, func(w io.Writer) { fmt.Fprintln(w, "valid") })
		},
	}
	cmd.Flags().StringVar(&signature, "signature", "", "the webhook-signature header")
	cmd.Flags().DurationVar(&tolerance, "tolerance", 5*time.Minute, "how far the timestamp may be from now")
	return cmd
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

func (c *cli) flagsCommand() *cobra.Command {
	validate := &cobra.Command{
		Use: "validate FILE ...", Short: "Validate flagd definition files, naming every invalid flag",
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(_ *cobra.Command, files []string) error {
			bad := 0
			for _, name := range files {
				if err := validateFlags(name); err != nil {
					fmt.Fprintf(c.stdout, "INVALID %s: %v\n", name, err)
					bad++
					continue
				}
				fmt.Fprintf(c.stdout, "ok      %s\n", name)
			}
			if bad > 0 {
				return badError("%d of %d files invalid", bad, len(files))
			}
			return nil
		},
	}
	return group("flags", "Validate flag definitions, evaluate a flag, and find stale flags", validate, c.flagsEval(), c.flagsStale())
}

func (c *cli) flagsStale() *cobra.Command {
	var days int
	cmd := &cobra.Command{
		Use:   "stale [--days N]",
		Short: "List the flags not evaluated, or serving one variant to everyone, for N days",
		Long: `List the service's stale flags, candidates for removal from the code and
the definitions: flags not evaluated for N days (unused, or never
evaluated), and flags that served one variant to every evaluation for N
days (fully rolled out, or killed). It reads the flag store's definitions
and the usage the service records (--data or --db). With less than N days
of usage recorded it can tell nothing, and says so.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days < 1 {
				return usageError("--days: want 1 or more")
			}
			return c.staleFlags(cmd.Context(), days)
		},
	}
	cmd.Flags().IntVar(&days, "days", 30, "the period, in days")
	return cmd
}

func (c *cli) staleFlags(ctx context.Context, days int) error {
	db, err := c.svc.openReadOnly(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := flagstore.New(db.DB, flagstore.Options{})
	if err != nil {
		return err
	}
	data, err := st.Load(ctx)
	if err != nil {
		return err
	}
	var defs flags.Definitions
	if err := json.Unmarshal(data, &defs); err != nil {
		return badError("flag store: %w", err)
	}
	from, err := st.UsageStart(ctx)
	if err != nil {
		return err
	}
	usage, err := st.Usage(ctx, from)
	if err != nil {
		return err
	}
	period := time.Duration(days) * 24 * time.Hour
	stale := flags.StaleFlags(defs, usage, flags.StaleOptions{Now: time.Now(), Period: period, RecordedFrom: from})
	if stale == nil {
		stale = []flags.StaleFlag{}
	}
	return c.out().print(stale, func(w io.Writer) {
		switch {
		case from.IsZero() || time.Since(from) < period:
			fmt.Fprintf(w, "usage recorded for less than %d days: nothing can be told yet\n", days)
		case len(stale) == 0:
			fmt.Fprintf(w, "no stale flags: every flag was evaluated, and served more than one variant, in the last %d days\n", days)
		}
		for _, s := range stale {
			fmt.Fprintf(w, "%-24s %-16s %s\n", s.Flag, s.Kind, s.Detail)
		}
	})
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

func (c *cli) flagsEval() *cobra.Command {
	var evalCtx string
	cmd := &cobra.Command{
		Use:   "eval [FILE] FLAG [--context JSON]",
		Short: "Evaluate a flag for a context, from a definitions file or the service's flag store",
		Long: `Evaluate a flag for a context: from a flagd definitions file, or, given
only the flag's key, from the flag store of the service (--data or --db),
its rings and shared evaluators included.`,
		Args: usageArgs(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.evalFlag(cmd.Context(), args, evalCtx)
		},
	}
	cmd.Flags().StringVar(&evalCtx, "context", "{}", "the evaluation context, a JSON object (targetingKey, tenantId, ...)")
	return cmd
}

func (c *cli) evalFlag(ctx context.Context, args []string, evalCtx string) error {
	source, key := "the service's flag store", args[0]
	if len(args) == 2 {
		source, key = args[0], args[1]
	}
	var evalContext map[string]any
	if err := json.Unmarshal([]byte(evalCtx), &evalContext); err != nil || evalContext == nil {
		return usageError("--context: want a JSON object")
	}
	var data []byte
	var err error
	if len(args) == 1 {
		data, err = serviceFlags(ctx, &c.svc)
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
	if err := c.out().print(e, func(w io.Writer) {
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

func (c *cli) keysCommand() *cobra.Command {
	var yes bool
	rotate := &cobra.Command{
		Use: "rotate TENANT", Short: "Rotate a tenant's key-encryption key and rewrap its data keys",
		Args: usageArgs(cobra.ExactArgs(1)), ValidArgsFunction: c.completeTenants(1),
		RunE: func(cmd *cobra.Command, args []string) error { return c.keys(cmd.Context(), args[0], "", false) },
	}
	shred := &cobra.Command{
		Use:   "shred TENANT [SUBJECT] --yes",
		Short: "Destroy a data subject's keys, or a whole tenant's, for good",
		Long: `Destroy a data subject's keys, or without a subject all of a tenant's:
what they encrypt becomes unreadable for good (crypto-shredding). Needs
--yes.`,
		Args: usageArgs(cobra.RangeArgs(1, 2)), ValidArgsFunction: c.completeTenants(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return usageError("keys shred destroys keys for good: add --yes")
			}
			return c.keys(cmd.Context(), args[0], strings.Join(args[1:], ""), true)
		},
	}
	g := group("keys", "Rotate a tenant's keys, or shred a subject's or a tenant's", rotate, shred)
	g.PersistentFlags().BoolVar(&yes, "yes", false, "confirm a shred: the data it covers becomes unreadable for good")
	return g
}

// keys rotates tenant's keys, or shreds its subject's (all its keys when
// subject is empty), and records what it did in the tenant's audit
// trail.
func (c *cli) keys(ctx context.Context, tenant, subject string, shred bool) error {
	keys, db, closeKeys, err := openKeyring(ctx, &c.svc, false)
	if err != nil {
		return err
	}
	defer closeKeys()
	oplog, err := openOperatorLog(ctx, db.DB, c.svc.data)
	if err != nil {
		return err
	}
	out := c.out()
	if err := requireTenants(ctx, db.DB, tenant); err != nil {
		return err
	}
	if !shred {
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
	if subject != "" {
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

func (c *cli) auditCommand() *cobra.Command {
	verify := &cobra.Command{
		Use:   "verify [TENANT ...]",
		Short: "Verify the hash chain of each tenant's audit trail, held to its signed checkpoints",
		Long: `Verify the hash chain of each tenant's privacy audit trail (every
tenant's, or those named), held to the signed checkpoints audit checkpoint
took before, so that a trail cut back is found. It writes nothing.`,
		ValidArgsFunction: c.completeTenants(-1),
		RunE:              func(cmd *cobra.Command, tenants []string) error { return c.audit(cmd.Context(), tenants, false) },
	}
	checkpoint := &cobra.Command{
		Use:   "checkpoint [TENANT ...]",
		Short: "Verify each tenant's audit trail, then take a signed checkpoint of it",
		Long: `Verify each tenant's audit trail (every tenant's, or those named), then
append a signed checkpoint of it to <data>/audit-checkpoints.jsonl,
signed with SAASKIT_CHECKPOINT_KEY or <data>/checkpoint.key.`,
		ValidArgsFunction: c.completeTenants(-1),
		RunE:              func(cmd *cobra.Command, tenants []string) error { return c.audit(cmd.Context(), tenants, true) },
	}
	return group("audit", "Verify audit trails, and take signed checkpoints of them", verify, checkpoint)
}

// audit verifies the tenants' audit trails (every tenant's when none is
// named), or checkpoints them when takeCheckpoint is set.
func (c *cli) audit(ctx context.Context, tenants []string, takeCheckpoint bool) error {
	svc := &c.svc
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
	out := c.out()
	if takeCheckpoint {
		return checkpoint(ctx, trail, cps, key, tenants, out)
	}
	taken, err := cps.Read()
	if err != nil {
		return err
	}
	var reports []audit.Report
	broken := 0
	bar := countBar(c.stderr, "verifying audit trails", len(tenants), !c.json)
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

// completeTenants completes tenant IDs from the service's tenant store,
// for at most max arguments (-1: any number).
func (c *cli) completeTenants(max int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if max >= 0 && len(args) >= max {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		db, err := c.svc.openReadOnly(cmd.Context())
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer db.Close()
		ids, _ := allTenants(cmd.Context(), db.DB)
		return slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(args, id) }), cobra.ShellCompDirectiveNoFileComp
	}
}
