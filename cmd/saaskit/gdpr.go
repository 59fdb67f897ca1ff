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
	"strings"
	"text/tabwriter"
	"time"

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

// sources makes the map's tables gdpr sources over db.
func (m sourceMap) sources(db *sql.DB) ([]gdpr.Source, error) {
	var out []gdpr.Source
	for i, t := range m.resolved {
		src, err := sqlsource.New(db, t)
		if err != nil {
			return nil, fmt.Errorf("tables[%d] (%s): %w", i, t.Table, err)
		}
		out = append(out, src)
	}
	return out, nil
}

// gdprCommand submits, processes and lists data-subject requests over the
// service's database.
func gdprCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, svc, asJSON := dataFlags("gdpr", stderr)
	mapFile := fs.String("map", "", "the JSON file naming the tables that hold personal data (export, erase)")
	regime := fs.String("regime", string(gdpr.GDPR), "the law whose deadlines apply (gdpr, ccpa, ...)")
	format := fs.String("format", string(gdpr.JSON), "export format: json or zip")
	outFile := fs.String("out", "", "export: write the package here (default stdout)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cmd, rest := subcommand(fs)
	switch {
	case cmd == "status" && (len(rest) == 1 || len(rest) == 2):
	case (cmd == "export" || cmd == "erase") && len(rest) >= 2:
		if *mapFile == "" {
			return usageError("gdpr %s needs --map FILE: the tables that hold personal data", cmd)
		}
	default:
		return usageError("%s", usage)
	}
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
	out := printer{w: stdout, json: *asJSON}
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
	m, err := readSourceMap(*mapFile)
	if err != nil {
		return usageError("--map: %v", err)
	}
	sources, err := m.sources(db.DB)
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
	req, err := engine.Submit(ctx, tenant, kind, gdpr.Regime(*regime), subject, "operator command line")
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
		if err := export(ctx, engine, tenant, id, gdpr.Format(*format), *outFile, stdout); err != nil {
			return fmt.Errorf("request %s stays verified, not completed: %w (see gdpr status %s %s)", id, err, tenant, id)
		}
	}
	if req, err = engine.Process(ctx, tenant, id); err != nil {
		return fmt.Errorf("request %s: %w (see gdpr status %s %s)", id, err, tenant, id)
	}
	if cmd == "erase" {
		return out.print(req, func(w io.Writer) { fmt.Fprintf(w, "erasure %s: %s\n", req.ID, req.State) })
	}
	if *outFile != "" {
		fmt.Fprintf(stderr, "export %s written to %s\n", id, *outFile)
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
