// Package sqlstore keeps flag definitions in SQLite (embedded) or
// PostgreSQL, in the tables flags_definitions, flags_version and
// flags_audit. It is a flags.Source, and its admin operations (kill a
// flag, set a rollout percentage, add a tenant to a ring, put or delete
// a flag) write through the database with an audit row per change.
//
//	st, err := sqlstore.New(db, sqlstore.Options{})
//	if err != nil { ... }
//	if err := st.Migrate(ctx); err != nil { ... }
//	ev := flags.NewEvaluator(nil, flags.Options{})
//	go flags.Sync(ctx, ev, st, flags.SyncOptions{})
//	err = st.SetState(ctx, "ops@example.com", "new-invoices", flags.Disabled)
//
// # Flag sets
//
// Named flag sets (flags.Definitions.Sets) are stored part by part like
// the top-level flags, each row under its set (column flag_set, "" for
// the top-level flags); Edit changes them through Definitions.Sets, and
// the audit rows name the set.
//
// # Propagation
//
// On PostgreSQL every change commits with a NOTIFY on the channel
// saaskit_flags, which Watch LISTENs to: every process serves a change
// within a round trip of its commit. On SQLite (one machine) Watch polls
// the version row, every Options.Poll.
package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/internal/sqldb"
)

//go:embed migrations
var migrations embed.FS

// channel is the PostgreSQL NOTIFY channel of changes.
const channel = "saaskit_flags"

// Options configure a Store.
type Options struct {
	// Poll is how often Watch reads the version on SQLite, and how soon
	// it listens again after losing its PostgreSQL connection. Default 1s.
	Poll time.Duration
	// Now is the clock of audit rows. Default time.Now.
	Now func() time.Time
	// Logger records lost notifications. Default slog.Default().
	Logger *slog.Logger
}

// Store keeps flag definitions in a database.
type Store struct {
	db   *sqldb.DB
	opts Options
}

var _ flags.Source = (*Store)(nil)

// New returns a Store over db, from modernc.org/sqlite or pgx's stdlib.
// Call Migrate before use.
func New(db *sql.DB, opts Options) (*Store, error) {
	d, err := sqldb.DialectOf(db)
	if err != nil {
		return nil, fmt.Errorf("flags sqlstore: %w", err)
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Store{db: &sqldb.DB{DB: db, Dialect: d}, opts: opts}, nil
}

// Migrate creates or upgrades the tables; idempotent.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.db.MigrateEmbedded(ctx, "flags", migrations, "migrations"); err != nil {
		return fmt.Errorf("flags sqlstore: %w", err)
	}
	return nil
}

// part is one row: a flag, an evaluator, the set metadata ("" name) or
// the existence of a named flag set (kind "set"), in flag set set (""
// for the top-level flags).
type part struct{ set, kind, name string }

// read returns the stored definitions as rows of JSON bodies.
func read(ctx context.Context, q sqldb.Querier) (map[part]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT flag_set, kind, name, body FROM flags_definitions")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[part]string{}
	for rows.Next() {
		var p part
		var body string
		if err := rows.Scan(&p.set, &p.kind, &p.name, &body); err != nil {
			return nil, err
		}
		out[p] = body
	}
	return out, rows.Err()
}

// assemble builds a definitions document from rows.
func assemble(rows map[part]string) (flags.Definitions, error) {
	sets := map[string]*flags.Definitions{"": {Flags: map[string]flags.Flag{}}}
	for p, body := range rows {
		d := sets[p.set]
		if d == nil {
			d = &flags.Definitions{Flags: map[string]flags.Flag{}}
			sets[p.set] = d
		}
		var err error
		switch p.kind {
		case "flag":
			var f flags.Flag
			err = json.Unmarshal([]byte(body), &f)
			d.Flags[p.name] = f
		case "evaluator":
			var rule any
			err = json.Unmarshal([]byte(body), &rule)
			if d.Evaluators == nil {
				d.Evaluators = map[string]any{}
			}
			d.Evaluators[p.name] = rule
		case "metadata":
			err = json.Unmarshal([]byte(body), &d.Metadata)
		}
		if err != nil {
			return *sets[""], fmt.Errorf("stored %s %q: %w", p.kind, p.name, err)
		}
	}
	out := *sets[""]
	for name, d := range sets {
		if name == "" {
			continue
		}
		if out.Sets == nil {
			out.Sets = map[string]flags.Definitions{}
		}
		out.Sets[name] = *d
	}
	return out, nil
}

// disassemble splits definitions into rows.
func disassemble(d flags.Definitions) (map[part]string, error) {
	out := map[part]string{}
	put := func(p part, v any) error {
		b, err := json.Marshal(v)
		out[p] = string(b)
		return err
	}
	add := func(set string, d flags.Definitions) error {
		for name, f := range d.Flags {
			if err := put(part{set, "flag", name}, f); err != nil {
				return err
			}
		}
		for name, rule := range d.Evaluators {
			if err := put(part{set, "evaluator", name}, rule); err != nil {
				return err
			}
		}
		if len(d.Metadata) > 0 {
			if err := put(part{set, "metadata", ""}, d.Metadata); err != nil {
				return err
			}
		}
		return nil
	}
	if err := add("", d); err != nil {
		return nil, err
	}
	for name, sd := range d.Sets {
		out[part{name, "set", ""}] = "{}"
		if err := add(name, sd); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Load implements flags.Source.
func (s *Store) Load(ctx context.Context) ([]byte, error) {
	rows, err := read(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("flags sqlstore: load: %w", err)
	}
	d, err := assemble(rows)
	if err != nil {
		return nil, fmt.Errorf("flags sqlstore: load: %w", err)
	}
	return json.Marshal(d)
}

// Watch implements flags.Source: LISTEN on PostgreSQL, a poll of the
// version row on SQLite. It is armed when it returns: a change made
// after it returned is signalled (on PostgreSQL the LISTEN is in place,
// on SQLite the version is read), so a caller needs no pause before
// relying on it.
func (s *Store) Watch(ctx context.Context) (<-chan struct{}, error) {
	out := make(chan struct{}, 1)
	if s.db.Dialect == sqldb.Postgres {
		l, err := s.listenOn(ctx)
		if err != nil {
			return nil, fmt.Errorf("flags sqlstore: watch: %w", err)
		}
		go s.listen(ctx, l, out)
		return out, nil
	}
	var version int64
	if err := s.db.QueryRowContext(ctx, "SELECT version FROM flags_version WHERE id = 1").Scan(&version); err != nil {
		return nil, fmt.Errorf("flags sqlstore: watch: %w", err)
	}
	go s.poll(ctx, version, out)
	return out, nil
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// poll signals each change of the version row from last on.
func (s *Store) poll(ctx context.Context, last int64, out chan struct{}) {
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var v int64
		if err := s.db.QueryRowContext(ctx, "SELECT version FROM flags_version WHERE id = 1").Scan(&v); err == nil {
			if v != last {
				signal(out)
			}
			last = v
		}
	}
}

// listener is a connection held in LISTEN.
type listener struct {
	conn *sql.Conn
	pc   *pgx.Conn
}

// listenOn takes a connection from the pool and puts it in LISTEN.
func (s *Store) listenOn(ctx context.Context) (*listener, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	l := &listener{conn: conn}
	err = conn.Raw(func(dc any) error {
		l.pc = dc.(*stdlib.Conn).Conn()
		_, err := l.pc.Exec(ctx, "LISTEN "+channel)
		return err
	})
	if err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // never hand it back to the pool half set up
		_ = conn.Close()
		return nil, err
	}
	return l, nil
}

// listen signals each notification on l until ctx ends, listening again
// on a new connection, a poll apart, after a failure (and signalling,
// for what may have been missed).
func (s *Store) listen(ctx context.Context, l *listener, out chan struct{}) {
	for {
		err := s.wait(ctx, l, out)
		for ctx.Err() == nil {
			s.opts.Logger.WarnContext(ctx, "flags sqlstore: listening for changes failed; retrying", slog.String("error", err.Error()))
			signal(out)
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.opts.Poll):
			}
			if l, err = s.listenOn(ctx); err == nil {
				break
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// wait signals l's notifications until it fails. The connection is in
// LISTEN (or broken): it never goes back to the pool.
func (s *Store) wait(ctx context.Context, l *listener, out chan struct{}) error {
	defer l.conn.Close()
	return l.conn.Raw(func(any) error {
		for {
			if _, err := l.pc.WaitForNotification(ctx); err != nil {
				return errors.Join(err, driver.ErrBadConn)
			}
			signal(out)
		}
	})
}

// AuditEntry is one change: who, when, which action, and the part's
// JSON before and after ("" when it did not exist).
type AuditEntry struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Kind   string    `json:"kind"` // flag, evaluator, metadata or set
	Name   string    `json:"name"`
	// FlagSet is the flag set of the part: "" for top-level flags.
	FlagSet string `json:"flagSet,omitempty"`
	Before  string `json:"before"`
	After   string `json:"after"`
}

// Edit applies change to the stored definitions in one transaction:
// concurrent edits serialise, the result must compile, and every part
// that changed is written with an audit row naming actor and action. An
// edit that changes nothing writes nothing.
func (s *Store) Edit(ctx context.Context, actor, action string, change func(*flags.Definitions) error) error {
	if actor == "" || action == "" {
		return fmt.Errorf("flags sqlstore: an edit needs an actor and an action")
	}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE flags_version SET version = version + 1 WHERE id = 1"); err != nil {
			return err
		}
		before, err := read(ctx, tx)
		if err != nil {
			return err
		}
		d, err := assemble(before)
		if err != nil {
			return err
		}
		if err := change(&d); err != nil {
			return err
		}
		if _, err := flags.Compile(d); err != nil {
			return err
		}
		after, err := disassemble(d)
		if err != nil {
			return err
		}
		changed, err := s.write(ctx, tx, actor, action, before, after)
		if err != nil {
			return err
		}
		if !changed {
			return errUnchanged
		}
		if s.db.Dialect == sqldb.Postgres {
			_, err = tx.ExecContext(ctx, "SELECT pg_notify($1, '')", channel)
		}
		return err
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("flags sqlstore: %s: %w", action, err)
	}
	return nil
}

// errUnchanged rolls back an edit that changed nothing.
var errUnchanged = errors.New("unchanged")

// write stores the parts that differ and audits each.
func (s *Store) write(ctx context.Context, tx *sql.Tx, actor, action string, before, after map[part]string) (bool, error) {
	now := sqldb.Timestamp(s.opts.Now())
	keys := slices.Collect(maps.Keys(before))
	for p := range after {
		if _, ok := before[p]; !ok {
			keys = append(keys, p)
		}
	}
	slices.SortFunc(keys, func(a, b part) int {
		return cmp.Or(cmp.Compare(a.set, b.set), cmp.Compare(a.kind, b.kind), cmp.Compare(a.name, b.name))
	})
	upsert := s.db.Dialect.Upsert("flags_definitions", []string{"flag_set", "kind", "name"},
		[]string{"flag_set", "kind", "name", "body", "updated_at", "updated_by"})
	changed := false
	for _, p := range keys {
		was, existed := before[p]
		is, exists := after[p]
		if existed == exists && sameJSON(was, is) {
			continue
		}
		changed = true
		var err error
		if exists {
			_, err = tx.ExecContext(ctx, upsert, p.set, p.kind, p.name, is, now, actor)
		} else {
			_, err = tx.ExecContext(ctx, s.db.Dialect.Rebind("DELETE FROM flags_definitions WHERE flag_set = ? AND kind = ? AND name = ?"), p.set, p.kind, p.name)
		}
		if err != nil {
			return false, err
		}
		if _, err := tx.ExecContext(ctx, s.db.Dialect.Rebind(`INSERT INTO flags_audit (at, actor, action, flag_set, kind, name, before, after)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), now, actor, action, p.set, p.kind, p.name, nullable(was, existed), nullable(is, exists)); err != nil {
			return false, err
		}
	}
	return changed, nil
}

// sameJSON compares two JSON documents by value.
func sameJSON(a, b string) bool {
	if a == b {
		return true
	}
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

func nullable(s string, ok bool) sql.NullString { return sql.NullString{String: s, Valid: ok} }

// Audit returns the audit trail of one part (kind "flag" or
// "evaluator", and its name), or of everything when name is "", newest
// first, at most limit entries (default 100).
func (s *Store) Audit(ctx context.Context, kind, name string, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	q := "SELECT id, at, actor, action, flag_set, kind, name, before, after FROM flags_audit"
	var args []any
	if name != "" {
		q += " WHERE kind = ? AND name = ?"
		args = append(args, kind, name)
	}
	q += " ORDER BY id DESC LIMIT ?"
	rows, err := s.db.QueryContext(ctx, s.db.Dialect.Rebind(q), append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("flags sqlstore: audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var before, after sql.NullString
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.FlagSet, &e.Kind, &e.Name, &before, &after); err != nil {
			return nil, fmt.Errorf("flags sqlstore: audit: %w", err)
		}
		e.At, e.Before, e.After = e.At.UTC(), before.String, after.String
		out = append(out, e)
	}
	return out, rows.Err()
}

// Admin operations.

// PutFlag creates or replaces a flag.
func (s *Store) PutFlag(ctx context.Context, actor, key string, f flags.Flag) error {
	return s.Edit(ctx, actor, "put_flag", func(d *flags.Definitions) error {
		d.Flags[key] = f
		return nil
	})
}

// DeleteFlag removes a flag.
func (s *Store) DeleteFlag(ctx context.Context, actor, key string) error {
	return s.Edit(ctx, actor, "delete_flag", func(d *flags.Definitions) error {
		if _, ok := d.Flags[key]; !ok {
			return fmt.Errorf("%w: %q", flags.ErrNotFound, key)
		}
		delete(d.Flags, key)
		return nil
	})
}

// SetState turns a flag on or off: Disabled is the kill switch.
func (s *Store) SetState(ctx context.Context, actor, key string, state flags.State) error {
	return s.Edit(ctx, actor, "set_state", func(d *flags.Definitions) error { return d.SetState(key, state) })
}

// SetPercent sets a rollout flag's percentage.
func (s *Store) SetPercent(ctx context.Context, actor, key string, percent int) error {
	return s.Edit(ctx, actor, "set_percent", func(d *flags.Definitions) error { return d.SetPercent(key, percent) })
}

// SetRing defines a ring after another ("" for the first).
func (s *Store) SetRing(ctx context.Context, actor, ring, after string, tenants ...string) error {
	return s.Edit(ctx, actor, "set_ring", func(d *flags.Definitions) error { return d.SetRing(ring, after, tenants...) })
}

// AddToRing adds tenants to a ring.
func (s *Store) AddToRing(ctx context.Context, actor, ring string, tenants ...string) error {
	return s.Edit(ctx, actor, "add_to_ring", func(d *flags.Definitions) error { return d.AddToRing(ring, tenants...) })
}

// RemoveFromRing removes tenants from a ring.
func (s *Store) RemoveFromRing(ctx context.Context, actor, ring string, tenants ...string) error {
	return s.Edit(ctx, actor, "remove_from_ring", func(d *flags.Definitions) error { return d.RemoveFromRing(ring, tenants...) })
}
