// Package sqlsource makes an application's own SQL tables (SQLite or
// PostgreSQL) gdpr sources: export a subject's rows, erase them by
// deleting rows or masking columns (null, fixed, random, a keyed
// pseudonym, or left to crypto-shredding), restrict them through a flag
// column, and expire them for retention through a time column. Erasing
// again is harmless: a pseudonym is never hashed a second time.
//
//	notes, err := sqlsource.New(db, sqlsource.Table{
//		Table: "notes", IdentityColumn: "user_id", IdentityKind: "user_id",
//		Erase: map[string]sqlsource.Strategy{"body": sqlsource.Fixed("[erased]")},
//	})
//	engine, err := gdpr.New(requests, gdpr.Options{}, notes)
package sqlsource

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/internal/sqldb"
)

// Strategy is what erasure does to one column of an application table.
type Strategy struct {
	kind  string
	value any
	key   []byte
}

// Null is the column strategy of Table.Erase that sets the column NULL.
func Null() Strategy { return Strategy{kind: "null"} }

// Fixed is the strategy that sets a constant ("[erased]", 0, ...).
func Fixed(v any) Strategy { return Strategy{kind: "fixed", value: v} }

// Random is the strategy that sets 16 random bytes in hex, per row.
func Random() Strategy { return Strategy{kind: "random"} }

// Hash is the strategy that sets a keyed pseudonym of the value (see
// Pseudonym): joins still work, the value is gone.
func Hash(key []byte) Strategy { return Strategy{kind: "hash", key: key} }

// Shredded marks a column encrypted under the subject's key (package
// crypto): gdprsource.Crypto's shredding makes it unreadable, so erasure
// leaves it as it is.
func Shredded() Strategy { return Strategy{kind: "shredded"} }

// Table is a gdpr.Source over one table of the application's database.
type Table struct {
	// Name of the source; default the table's name. It must be a valid
	// source name (gdpr.CheckSourceName): a table named like a reserved
	// name, such as manifest, needs another Name.
	Name string
	// Table holds the personal data.
	Table string
	// TenantColumn scopes every query to the tenant. Default "tenant_id".
	TenantColumn string
	// IdentityColumn holds the subject's IdentityKind identity.
	IdentityColumn string
	IdentityKind   string
	// KeyColumn is the table's primary key; required when a strategy
	// works row by row (Random, Hash).
	KeyColumn string
	// Columns exported; default every column.
	Columns []string
	// Erase maps columns to strategies; rows are updated in place. When
	// empty, erasure deletes the subject's rows.
	Erase map[string]Strategy
	// Categories of data in the table, and sources to erase it after.
	Categories []string
	After      []string
	// TimeColumn, when set, dates each row for retention sweeps: rows
	// older than a policy's age are erased as Erase says (deleted when
	// Erase is empty), whether they name a subject or not (a NULL
	// IdentityColumn, such as a visitor's row with only an IP
	// address); a hold on a subject spares that subject's rows only.
	TimeColumn string
	// RestrictColumn, when set, is a boolean column that a restriction
	// request sets and a lifted one clears; the application must skip
	// restricted rows when processing.
	RestrictColumn string
	// Decrypt maps encrypted columns to what decrypts them for export.
	// A value that cannot be decrypted (its key shredded or out of
	// reach) is exported as Binary, saying why.
	Decrypt map[string]Decrypter
}

// Decrypter decrypts one column's value of a row for an export: row
// holds the exported columns' values as the database returned them, to
// find the key's subject and the associated data by.
type Decrypter func(ctx context.Context, tenantID string, row map[string]any, ciphertext []byte) ([]byte, error)

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// New checks t and returns it as a gdpr.Source over db
// (modernc.org/sqlite or pgx's stdlib).
func New(db *sql.DB, t Table) (gdpr.Source, error) {
	d, err := sqldb.DialectOf(db)
	if err != nil {
		return nil, fmt.Errorf("gdpr sqlsource: %w", err)
	}
	if t.TenantColumn == "" {
		t.TenantColumn = "tenant_id"
	}
	if t.Name == "" {
		t.Name = t.Table
	}
	if err := gdpr.CheckSourceName(t.Name); err != nil {
		return nil, fmt.Errorf("table source: %w", err)
	}
	names := append([]string{t.Table, t.TenantColumn, t.IdentityColumn}, t.Columns...)
	for _, optional := range []string{t.KeyColumn, t.TimeColumn, t.RestrictColumn} {
		if optional != "" {
			names = append(names, optional)
		}
	}
	names = append(names, slices.Collect(maps.Keys(t.Erase))...)
	for _, n := range append(names, slices.Collect(maps.Keys(t.Decrypt))...) {
		if !identifier.MatchString(n) {
			return nil, fmt.Errorf("%w: table source %q: %q is not a plain SQL identifier", gdpr.ErrInvalid, t.Name, n)
		}
	}
	if t.TimeColumn != "" && t.IdentityKind != gdpr.SubjectKey {
		// Legal holds name subjects by SubjectKey: retention must see it.
		return nil, fmt.Errorf("%w: table source %q: retention (TimeColumn) needs the subject key (IdentityKind %q) to honour legal holds", gdpr.ErrInvalid, t.Name, gdpr.SubjectKey)
	}
	if !gdpr.ValidIdentityKind(t.IdentityKind) {
		return nil, fmt.Errorf("%w: table source %q: identity kind %q", gdpr.ErrInvalid, t.Name, t.IdentityKind)
	}
	for col, s := range t.Erase {
		switch s.kind {
		case "null", "fixed", "shredded":
		case "random", "hash":
			if t.TimeColumn != "" {
				return nil, fmt.Errorf("%w: table source %q: column %s: retention (TimeColumn) masks with Null or Fixed only", gdpr.ErrInvalid, t.Name, col)
			}
			if t.KeyColumn == "" {
				return nil, fmt.Errorf("%w: table source %q: column %s's strategy works row by row and needs KeyColumn", gdpr.ErrInvalid, t.Name, col)
			}
			if s.kind == "hash" && len(s.key) < 16 {
				return nil, fmt.Errorf("%w: table source %q: column %s: a hash key needs at least 16 bytes", gdpr.ErrInvalid, t.Name, col)
			}
		default:
			return nil, fmt.Errorf("%w: table source %q: column %s has no strategy", gdpr.ErrInvalid, t.Name, col)
		}
	}
	return &sqlTable{db: &sqldb.DB{DB: db, Dialect: d}, t: t}, nil
}

type sqlTable struct {
	db *sqldb.DB
	t  Table
}

var (
	_ gdpr.Restricter = (*sqlTable)(nil)
	_ gdpr.Expirer    = (*sqlTable)(nil)
	_ gdpr.Counter    = (*sqlTable)(nil)
)

// Count implements gdpr.Counter: the subject's rows, which Erase
// deletes or masks.
func (s *sqlTable) Count(ctx context.Context, tenantID string, subj gdpr.Subject) (int, error) {
	id := subj.Value(s.t.IdentityKind)
	if id == "" {
		return 0, nil
	}
	var n int
	err := s.db.QueryRowContext(ctx, s.db.Dialect.Rebind("SELECT count(*) FROM "+s.t.Table+s.where()), tenantID, id).Scan(&n)
	return n, err
}

// Restrict implements gdpr.Restricter through RestrictColumn.
func (s *sqlTable) Restrict(ctx context.Context, tenantID string, subj gdpr.Subject, restricted bool) error {
	id := subj.Value(s.t.IdentityKind)
	if s.t.RestrictColumn == "" || id == "" {
		return nil
	}
	_, err := s.db.ExecContext(ctx, s.db.Dialect.Rebind("UPDATE "+s.t.Table+" SET "+s.t.RestrictColumn+" = ?"+s.where()), restricted, tenantID, id)
	return err
}

// Expire implements gdpr.Expirer through TimeColumn: the expired rows of
// subjects not held are erased one subject at a time, as Erase does, and
// so are the expired rows that name no subject (a NULL IdentityColumn),
// which only a tenant-wide hold (held("")) spares.
func (s *sqlTable) Expire(ctx context.Context, tenantID, category string, before time.Time, held func(string) bool) (int, error) {
	if s.t.TimeColumn == "" {
		return 0, nil
	}
	rows, err := s.db.QueryContext(ctx, s.db.Dialect.Rebind("SELECT DISTINCT "+s.t.IdentityColumn+" FROM "+s.t.Table+
		" WHERE "+s.t.TenantColumn+" = ? AND "+s.t.TimeColumn+" < ?"), tenantID, sqldb.Timestamp(before))
	if err != nil {
		return 0, err
	}
	var subjects []sql.NullString
	for rows.Next() {
		var id sql.NullString
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		if !held(id.String) { // a NULL subject is held only with the tenant
			subjects = append(subjects, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	total := 0
	for _, id := range subjects {
		n, err := s.expireSubject(ctx, tenantID, id, before)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// expireSubject erases one subject's rows older than before, or, for a
// NULL id, the old rows that name no subject.
func (s *sqlTable) expireSubject(ctx context.Context, tenantID string, id sql.NullString, before time.Time) (int, error) {
	where := s.where()
	args := []any{tenantID, id.String, sqldb.Timestamp(before)}
	if !id.Valid {
		where = " WHERE " + s.t.TenantColumn + " = ? AND " + s.t.IdentityColumn + " IS NULL"
		args = []any{tenantID, sqldb.Timestamp(before)}
	}
	where += " AND " + s.t.TimeColumn + " < ?"
	if len(s.t.Erase) == 0 {
		res, err := s.db.ExecContext(ctx, s.db.Dialect.Rebind("DELETE FROM "+s.t.Table+where), args...)
		if err != nil {
			return 0, err
		}
		n, _ := res.RowsAffected()
		return int(n), nil
	}
	sets, setArgs := s.constantSets()
	if len(sets) == 0 {
		return 0, nil
	}
	res, err := s.db.ExecContext(ctx, s.db.Dialect.Rebind("UPDATE "+s.t.Table+" SET "+strings.Join(sets, ", ")+where), append(setArgs, args...)...)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

func (s *sqlTable) Info() gdpr.SourceInfo {
	return gdpr.SourceInfo{Name: s.t.Name, Categories: s.t.Categories, After: s.t.After}
}

func (s *sqlTable) where() string {
	return " WHERE " + s.t.TenantColumn + " = ? AND " + s.t.IdentityColumn + " = ?"
}

// Binary is how an export shows bytes that are not text, such as an
// encrypted column that this source cannot decrypt: base64, said so,
// never as garbled text.
type Binary struct {
	Base64 string `json:"base64"`
	Note   string `json:"note"`
}

// exportBytes is a column's bytes as an export shows them: text as text,
// anything else as Binary.
func exportBytes(b []byte) any {
	if utf8.Valid(b) && !bytes.ContainsRune(b, 0) {
		return string(b)
	}
	return binary(b, "binary data, possibly encrypted: not decrypted by this export")
}

func binary(b []byte, note string) Binary {
	return Binary{Base64: base64.StdEncoding.EncodeToString(b), Note: note}
}

// exportDecrypted is an encrypted column's value as an export shows it:
// its plaintext, or, when it cannot be decrypted, the ciphertext as
// Binary, saying why.
func exportDecrypted(ctx context.Context, decrypt Decrypter, tenantID string, row map[string]any, v any) any {
	var ct []byte
	switch v := v.(type) {
	case []byte:
		ct = v
	case string:
		ct = []byte(v)
	default: // NULL
		return v
	}
	pt, err := decrypt(ctx, tenantID, row, ct)
	if err != nil {
		return binary(ct, "encrypted, not decrypted: "+err.Error())
	}
	return exportBytes(pt)
}

// Export implements gdpr.Source: each row as a column → value object.
// Encrypted columns are exported decrypted, text columns as text, and
// bytes that are not text as Binary.
func (s *sqlTable) Export(ctx context.Context, tenantID string, subj gdpr.Subject, emit func(any) error) error {
	id := subj.Value(s.t.IdentityKind)
	if id == "" {
		return nil
	}
	cols := "*"
	if len(s.t.Columns) > 0 {
		cols = strings.Join(s.t.Columns, ", ")
	}
	rows, err := s.db.QueryContext(ctx, s.db.Dialect.Rebind("SELECT "+cols+" FROM "+s.t.Table+s.where()), tenantID, id)
	if err != nil {
		return err
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return err
	}
	for rows.Next() {
		vals := make([]any, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		raw := make(map[string]any, len(names))
		for i, n := range names {
			raw[n] = vals[i]
		}
		rec := make(map[string]any, len(names))
		for n, v := range raw {
			if decrypt, ok := s.t.Decrypt[n]; ok {
				v = exportDecrypted(ctx, decrypt, tenantID, raw, v)
			} else if b, ok := v.([]byte); ok {
				v = exportBytes(b)
			}
			rec[n] = v
		}
		if err := emit(rec); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Erase implements gdpr.Source.
func (s *sqlTable) Erase(ctx context.Context, tenantID string, subj gdpr.Subject) (gdpr.Erased, error) {
	id := subj.Value(s.t.IdentityKind)
	if id == "" {
		return gdpr.Erased{}, nil
	}
	if len(s.t.Erase) == 0 {
		res, err := s.db.ExecContext(ctx, s.db.Dialect.Rebind("DELETE FROM "+s.t.Table+s.where()), tenantID, id)
		if err != nil {
			return gdpr.Erased{}, err
		}
		n, _ := res.RowsAffected()
		return gdpr.Erased{Records: int(n), Note: "rows deleted"}, nil
	}
	var n int
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = s.mask(ctx, tx, tenantID, id)
		return err
	})
	return gdpr.Erased{Records: n, Note: "columns masked"}, err
}

// mask applies the column strategies: the constant ones in one UPDATE,
// the per-row ones row by row. The identity column, if masked, goes
// last, since it is how the rows are found.
func (s *sqlTable) mask(ctx context.Context, tx *sql.Tx, tenantID, id string) (int, error) {
	sets, args := s.constantSets()
	var perRow []string
	for _, col := range slices.Sorted(maps.Keys(s.t.Erase)) {
		if k := s.t.Erase[col].kind; k == "random" || k == "hash" {
			perRow = append(perRow, col)
		}
	}
	touched := map[string]bool{}
	if len(perRow) > 0 {
		keys, err := s.rowKeys(ctx, tx, tenantID, id, perRow)
		if err != nil {
			return 0, err
		}
		for _, row := range keys {
			var rowSets []string
			var rowArgs []any
			for i, col := range perRow {
				if v, done := s.t.Erase[col].apply(row.values[i]); !done {
					rowSets = append(rowSets, col+" = ?")
					rowArgs = append(rowArgs, v)
				}
			}
			if len(rowSets) == 0 {
				continue // masked already, by an earlier run
			}
			q := "UPDATE " + s.t.Table + " SET " + strings.Join(rowSets, ", ") + " WHERE " + s.t.TenantColumn + " = ? AND " + s.t.KeyColumn + " = ?"
			if _, err := tx.ExecContext(ctx, s.db.Dialect.Rebind(q), append(rowArgs, tenantID, row.key)...); err != nil {
				return 0, err
			}
			touched[fmt.Sprint(row.key)] = true
		}
		if slices.Contains(perRow, s.t.IdentityColumn) {
			return len(touched), s.updateByKeys(ctx, tx, tenantID, keys, sets, args)
		}
	}
	if len(sets) == 0 {
		return len(touched), nil
	}
	res, err := tx.ExecContext(ctx, s.db.Dialect.Rebind("UPDATE "+s.t.Table+" SET "+strings.Join(sets, ", ")+s.where()), append(args, tenantID, id)...)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return max(int(n), len(touched)), nil
}

// constantSets is the SET clauses, and their arguments, of the
// strategies that give every row the same value (Null, Fixed).
func (s *sqlTable) constantSets() (sets []string, args []any) {
	for _, col := range slices.Sorted(maps.Keys(s.t.Erase)) {
		switch st := s.t.Erase[col]; st.kind {
		case "null":
			sets = append(sets, col+" = NULL")
		case "fixed":
			sets = append(sets, col+" = ?")
			args = append(args, st.value)
		}
	}
	return sets, args
}

type rowKey struct {
	key    any
	values []any
}

func (s *sqlTable) rowKeys(ctx context.Context, tx *sql.Tx, tenantID, id string, cols []string) ([]rowKey, error) {
	rows, err := tx.QueryContext(ctx, s.db.Dialect.Rebind("SELECT "+s.t.KeyColumn+", "+strings.Join(cols, ", ")+" FROM "+s.t.Table+s.where()), tenantID, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rowKey
	for rows.Next() {
		r := rowKey{values: make([]any, len(cols))}
		ptrs := []any{&r.key}
		for i := range r.values {
			ptrs = append(ptrs, &r.values[i])
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// updateByKeys applies the constant strategies to rows found earlier,
// when the identity column itself was masked row by row.
func (s *sqlTable) updateByKeys(ctx context.Context, tx *sql.Tx, tenantID string, keys []rowKey, sets []string, args []any) error {
	if len(sets) == 0 {
		return nil
	}
	q := s.db.Dialect.Rebind("UPDATE " + s.t.Table + " SET " + strings.Join(sets, ", ") + " WHERE " + s.t.TenantColumn + " = ? AND " + s.t.KeyColumn + " = ?")
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, q, append(slices.Clone(args), tenantID, k.key)...); err != nil {
			return err
		}
	}
	return nil
}

// apply computes a per-row strategy's new value; done reports that old
// already is what the strategy leaves (NULL, or a Hash pseudonym under
// its key), to be left as it is: erasing again, after a crash or for a
// later request, never hashes a pseudonym again.
func (st Strategy) apply(old any) (v any, done bool) {
	if st.kind == "hash" {
		switch old := old.(type) {
		case nil:
			return nil, true
		case []byte:
			if isPseudonym(st.key, string(old)) {
				return old, true
			}
			return Pseudonym(st.key, old), false
		case string:
			if isPseudonym(st.key, old) {
				return old, true
			}
		}
		return Pseudonym(st.key, []byte(fmt.Sprint(old))), false
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b), false
}

// Pseudonym is what Hash(key) sets a value to: 64 lowercase hex digits,
// the first 24 bytes of HMAC-SHA256(key, value) followed by 8 bytes
// that mark them as a pseudonym under key (the first 8 of
// HMAC-SHA256(key, "saaskit pseudonym" 0x00 and those 24 bytes)). The
// mark lets erasing again recognise a value it already hashed and leave
// it, so a step run twice gives what it gives once; an original value
// is taken for a pseudonym by chance once in 2^64. Non-text values are
// hashed as fmt.Sprint prints them.
func Pseudonym(key, value []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(value)
	sum := m.Sum(nil)[:24]
	return hex.EncodeToString(append(sum, pseudonymMark(key, sum)...))
}

// pseudonymMark is the 8 bytes that follow a pseudonym's 24.
func pseudonymMark(key, sum []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("saaskit pseudonym\x00"))
	m.Write(sum)
	return m.Sum(nil)[:8]
}

// isPseudonym reports whether v is a Pseudonym under key.
func isPseudonym(key []byte, v string) bool {
	if len(v) != 64 || strings.ToLower(v) != v {
		return false
	}
	b, err := hex.DecodeString(v)
	return err == nil && hmac.Equal(b[24:], pseudonymMark(key, b[:24]))
}
