package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/sqlsource"
	gdprstore "github.com/saaskit/saaskit/gdpr/sqlstore"
)

// sourceMap is the --map file: which of the service's tables hold
// personal data, and how each is exported and erased.
type sourceMap struct {
	Tables []tableMap `json:"tables"`

	resolved []sqlsource.Table // Tables as sqlsource takes them, made by parseSourceMap
}

type tableMap struct {
	Name           string            `json:"name"`
	Table          string            `json:"table"`
	TenantColumn   string            `json:"tenant_column"`
	IdentityColumn string            `json:"identity_column"`
	IdentityKind   string            `json:"identity_kind"`
	KeyColumn      string            `json:"key_column"`
	Columns        []string          `json:"columns"`
	Erase          map[string]string `json:"erase"` // column: "null", "random", "shredded" or "fixed:TEXT"
	Categories     []string          `json:"categories"`
	After          []string          `json:"after"`
	// Decrypt names the columns encrypted under the service's keyring.
	Decrypt map[string]decryptMap `json:"decrypt"`
}

// decryptMap says how a column was encrypted: under the key of the
// subject whose ID is in SubjectColumn, with AssociatedData, in which
// {column} stands for that column's value in the row.
type decryptMap struct {
	SubjectColumn  string `json:"subject_column"`
	AssociatedData string `json:"associated_data"`
}

// placeholder is a {column} in associated data.
var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

// columns are the columns the decryption reads from the row.
func (d decryptMap) columns() []string {
	cols := []string{d.SubjectColumn}
	for _, p := range placeholder.FindAllString(d.AssociatedData, -1) {
		cols = append(cols, p[1:len(p)-1])
	}
	return cols
}

// decrypter decrypts the column with keys; without keys, it fails
// saying why they are missing (keysErr), and the export shows the value
// as base64.
func (d decryptMap) decrypter(keys *skcrypto.Keyring, keysErr error) sqlsource.Decrypter {
	return func(ctx context.Context, tenantID string, row map[string]any, ciphertext []byte) ([]byte, error) {
		if keys == nil {
			return nil, fmt.Errorf("the service's keyring is not open: %w", keysErr)
		}
		aad := placeholder.ReplaceAllStringFunc(d.AssociatedData, func(p string) string { return columnText(row[p[1:len(p)-1]]) })
		scope := skcrypto.Scope{Tenant: tenantID, Subject: columnText(row[d.SubjectColumn])}
		return keys.Decrypt(ctx, scope, ciphertext, []byte(aad))
	}
}

// columnText is a column's value as text.
func columnText(v any) string {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case string:
		return v
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// readSourceMap reads and checks a --map file, naming what is wrong.
func readSourceMap(name string) (sourceMap, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return sourceMap{}, err
	}
	m, err := parseSourceMap(data)
	if err != nil {
		return m, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

func parseSourceMap(data []byte) (sourceMap, error) {
	var m sourceMap
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, err
	}
	if len(m.Tables) == 0 {
		return m, errors.New("no tables")
	}
	for i, t := range m.Tables {
		erase := map[string]sqlsource.Strategy{}
		for col, s := range t.Erase {
			st, err := strategy(s)
			if err != nil {
				return m, fmt.Errorf("tables[%d] (%s) column %s: %w", i, t.Table, col, err)
			}
			erase[col] = st
		}
		for col, d := range t.Decrypt {
			if d.SubjectColumn == "" {
				return m, fmt.Errorf("tables[%d] (%s) decrypt %s: subject_column is needed: the column holding whose key encrypted it", i, t.Table, col)
			}
			for _, c := range d.columns() {
				if len(t.Columns) > 0 && !slices.Contains(t.Columns, c) {
					return m, fmt.Errorf("tables[%d] (%s) decrypt %s: column %q is not among the exported columns", i, t.Table, col, c)
				}
			}
		}
		m.resolved = append(m.resolved, sqlsource.Table{Name: t.Name, Table: t.Table, TenantColumn: t.TenantColumn,
			IdentityColumn: t.IdentityColumn, IdentityKind: t.IdentityKind, KeyColumn: t.KeyColumn,
			Columns: t.Columns, Erase: erase, Categories: t.Categories, After: t.After})
	}
	return m, nil
}

func strategy(s string) (sqlsource.Strategy, error) {
	switch {
	case s == "null":
		return sqlsource.Null(), nil
	case s == "random":
		return sqlsource.Random(), nil
	case s == "shredded":
		return sqlsource.Shredded(), nil
	case strings.HasPrefix(s, "fixed:"):
		return sqlsource.Fixed(strings.TrimPrefix(s, "fixed:")), nil
	}
	return sqlsource.Strategy{}, fmt.Errorf("erase strategy %q: want null, random, shredded or fixed:TEXT", s)
}

// encrypts says whether any of the map's columns is encrypted.
func (m sourceMap) encrypts() bool {
	return slices.ContainsFunc(m.Tables, func(t tableMap) bool { return len(t.Decrypt) > 0 })
}

// sources makes the map's tables gdpr sources over db, decrypting their
// encrypted columns with keys (or saying why they are not, keysErr).
func (m sourceMap) sources(db *sql.DB, keys *skcrypto.Keyring, keysErr error) ([]gdpr.Source, error) {
	var out []gdpr.Source
	for i, t := range m.resolved {
		if d := m.Tables[i].Decrypt; len(d) > 0 {
			t.Decrypt = map[string]sqlsource.Decrypter{}
			for col, how := range d {
				t.Decrypt[col] = how.decrypter(keys, keysErr)
			}
		}
		src, err := sqlsource.New(db, t)
		if err != nil {
			return nil, fmt.Errorf("tables[%d] (%s): %w", i, t.Table, err)
		}
		out = append(out, src)
	}
	return out, nil
}

// gdprFlags are the flags of the gdpr commands.
type gdprFlags struct {
	mapFile, regime string
	format, out     string // export's
}

func (c *cli) gdprCommand() *cobra.Command {
	var gf gdprFlags
	export := &cobra.Command{
		Use:   "export TENANT KIND=VALUE ... --map FILE [--format json|zip] [--out FILE]",
		Short: "Export a data subject's data, as an operator-verified access request",
		Args:  usageArgs(cobra.MinimumNArgs(2)), ValidArgsFunction: c.completeTenants(1),
		RunE: func(cmd *cobra.Command, args []string) error { return c.gdpr(cmd.Context(), "export", args, &gf) },
	}
	export.Flags().StringVar(&gf.format, "format", string(gdpr.JSON), "export format: json or zip")
	export.Flags().StringVar(&gf.out, "out", "", "write the package here (default stdout)")
	erase := &cobra.Command{
		Use:   "erase TENANT KIND=VALUE ... --map FILE",
		Short: "Erase a data subject's data, as an operator-verified erasure request",
		Args:  usageArgs(cobra.MinimumNArgs(2)), ValidArgsFunction: c.completeTenants(1),
		RunE: func(cmd *cobra.Command, args []string) error { return c.gdpr(cmd.Context(), "erase", args, &gf) },
	}
	status := &cobra.Command{
		Use:   "status TENANT [REQUEST_ID]",
		Short: "List a tenant's data-subject requests with their due dates, or show one",
		Args:  usageArgs(cobra.RangeArgs(1, 2)), ValidArgsFunction: c.completeTenants(1),
		RunE: func(cmd *cobra.Command, args []string) error { return c.gdpr(cmd.Context(), "status", args, &gf) },
	}
	g := group("gdpr", "Export or erase a data subject's data; list data-subject requests", export, erase, status)
	g.PersistentFlags().StringVar(&gf.mapFile, "map", "", "the JSON file naming the tables that hold personal data (export, erase)")
	g.PersistentFlags().StringVar(&gf.regime, "regime", string(gdpr.GDPR), "the law whose deadlines apply (gdpr, ccpa, ...)")
	return g
}

// gdpr runs the gdpr command cmd (export, erase or status) with its
// arguments: the tenant, then identities or a request ID.
func (c *cli) gdpr(ctx context.Context, cmd string, rest []string, gf *gdprFlags) error {
	if cmd != "status" && gf.mapFile == "" {
		return usageError("gdpr %s needs --map FILE: the tables that hold personal data", cmd)
	}
	svc := &c.svc
	db, err := svc.openDB(ctx, false)
	if err != nil {
		return err
	}
	defer db.Close()
	requests, err := gdprstore.New(db.DB)
	if err == nil {
		err = requests.Migrate(ctx)
	}
	if err != nil {
		return err
	}
	out := c.out()
	tenant := rest[0]
	if err := requireTenants(ctx, db.DB, tenant); err != nil {
		return err
	}
	if cmd == "status" {
		return gdprStatus(ctx, requests, tenant, rest[1:], out)
	}
	subject, err := parseSubject(rest[1:])
	if err != nil {
		return err
	}
	m, err := readSourceMap(gf.mapFile)
	if err != nil {
		return usageError("--map: %v", err)
	}
	var keys *skcrypto.Keyring
	var keysErr error
	if m.encrypts() && cmd == "export" {
		if keys, keysErr = c.serviceKeyring(ctx, db.DB); keys != nil {
			defer keys.Close()
		}
	}
	sources, err := m.sources(db.DB, keys, keysErr)
	if err != nil {
		return usageError("--map: %v", err)
	}
	oplog, err := openOperatorLog(ctx, db.DB, svc.data)
	if err != nil {
		return err
	}
	key, err := oplog.pseudonymKey()
	if err != nil {
		return err
	}
	record := gdpr.Audit(oplog.trail, key, func(*gdpr.Request) string { return oplog.actor })
	engine, err := gdpr.New(requests, gdpr.Options{OnChange: record}, sources...)
	if err != nil {
		return err
	}
	kind := gdpr.Erasure
	if cmd == "export" {
		kind = gdpr.Access
	}
	req, err := engine.Submit(ctx, tenant, kind, gdpr.Regime(gf.regime), subject, "operator command line")
	if err != nil {
		return err
	}
	id := req.ID
	// The operator running this has verified the subject's identity.
	if _, err = engine.Verify(ctx, tenant, id); err != nil {
		return fmt.Errorf("request %s: %w (see gdpr status %s %s)", id, err, tenant, id)
	}
	// An access request is completed only once its export is written:
	// a failed export leaves it verified, for another try.
	if cmd == "export" {
		if err := export(ctx, engine, tenant, id, gdpr.Format(gf.format), gf.out, c.stdout); err != nil {
			return fmt.Errorf("request %s stays verified, not completed: %w (see gdpr status %s %s)", id, err, tenant, id)
		}
	}
	if req, err = engine.Process(ctx, tenant, id); err != nil {
		return fmt.Errorf("request %s: %w (see gdpr status %s %s)", id, err, tenant, id)
	}
	if cmd == "erase" {
		return out.print(req, func(w io.Writer) { fmt.Fprintf(w, "erasure %s: %s\n", req.ID, req.State) })
	}
	if gf.out != "" {
		fmt.Fprintf(c.stderr, "export %s written to %s\n", id, gf.out)
	}
	return nil
}

// export writes request id's export to the file at path, or to stdout
// when path is empty. A failed close can be lost data: it fails the
// export too.
func export(ctx context.Context, engine *gdpr.Engine, tenant, id string, format gdpr.Format, path string, stdout io.Writer) error {
	if path == "" {
		return engine.Export(ctx, tenant, id, format, stdout)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = engine.Export(ctx, tenant, id, format, f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write %s: %w", path, cerr)
	}
	return err
}

// parseSubject reads identities given as KIND=VALUE.
func parseSubject(args []string) (gdpr.Subject, error) {
	var s gdpr.Subject
	for _, a := range args {
		kind, value, ok := strings.Cut(a, "=")
		if !ok || kind == "" || value == "" {
			return s, usageError("identity %q: want KIND=VALUE, such as user_id=usr_42 or email=ada@example.com", a)
		}
		s.Identities = append(s.Identities, gdpr.Identity{Kind: kind, Value: value})
	}
	return s, nil
}

func gdprStatus(ctx context.Context, requests gdpr.Store, tenant string, ids []string, out printer) error {
	var list []*gdpr.Request
	if len(ids) == 1 {
		r, err := requests.Get(ctx, tenant, ids[0])
		if err != nil {
			return err
		}
		list = []*gdpr.Request{r}
	} else {
		var err error
		if list, err = requests.List(ctx, tenant, gdpr.RequestFilter{}); err != nil {
			return err
		}
	}
	now := time.Now()
	return out.print(list, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tSTATE\tRECEIVED\tDUE\t")
		for _, r := range list {
			late := ""
			if r.CompletedAt.IsZero() && r.State != gdpr.Denied && now.After(r.DueAt) {
				late = "OVERDUE"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Kind, r.State, r.ReceivedAt.Format(time.DateOnly), r.DueAt.Format(time.DateOnly), late)
		}
		tw.Flush()
	})
}
