package sqldb

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
)

// Dialect names the SQL engine behind a [DB] and writes the few pieces of
// SQL that differ between engines.
type Dialect int

const (
	// SQLite is the embedded engine, through modernc.org/sqlite.
	SQLite Dialect = iota + 1
	// Postgres is PostgreSQL, through pgx's database/sql driver.
	Postgres
)

// String returns "sqlite" or "postgres", or "Dialect(n)" for an unknown value.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// Rebind rewrites a query written with '?' placeholders for the dialect.
// For Postgres each '?' becomes $1, $2, ... in order; a '?' inside a
// single-quoted string literal ('it”s?') is left alone. Other dialects get
// the query unchanged. Rebind does not understand comments, double-quoted
// identifiers, dollar quoting or backslash escapes (E'...'): keep '?' out of
// those.
func (d Dialect) Rebind(query string) string {
	if d != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			// A doubled quote inside a literal closes and reopens it, so
			// toggling on every quote stays correct.
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// JSONType is the column type for JSON documents: JSONB on Postgres, TEXT
// on SQLite.
func (d Dialect) JSONType() string {
	if d == Postgres {
		return "JSONB"
	}
	return "TEXT"
}

// TimeType is the column type for instants: TIMESTAMPTZ on Postgres,
// TIMESTAMP on SQLite (which the SQLite driver scans into time.Time).
func (d Dialect) TimeType() string {
	if d == Postgres {
		return "TIMESTAMPTZ"
	}
	return "TIMESTAMP"
}

// SkipLocked is the suffix of a SELECT that claims rows from a work queue:
// " FOR UPDATE SKIP LOCKED" on Postgres, so concurrent workers skip rows
// another transaction holds, and "" on SQLite, where a write transaction
// already excludes every other writer.
func (d Dialect) SkipLocked() string {
	if d == Postgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// Upsert returns an INSERT of cols into table that, when a row with the
// same conflict columns exists, updates that row's other columns instead:
//
//	INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO UPDATE SET b = excluded.b
//
// When every column is a conflict column the statement is ON CONFLICT DO
// NOTHING. The query is rebound for the dialect, with one placeholder per
// column in the order of cols. The names are written as given, unquoted
// and unchecked: pass identifiers from code, never from users.
func (d Dialect) Upsert(table string, conflict []string, cols []string) string {
	isConflict := make(map[string]bool, len(conflict))
	for _, c := range conflict {
		isConflict[c] = true
	}
	var set []string
	for _, c := range cols {
		if !isConflict[c] {
			set = append(set, c+" = excluded."+c)
		}
	}
	action := "DO NOTHING"
	if len(set) > 0 {
		action = "DO UPDATE SET " + strings.Join(set, ", ")
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")
	q := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES (" + marks + ")" +
		" ON CONFLICT (" + strings.Join(conflict, ", ") + ") " + action
	return d.Rebind(q)
}

// DialectOf tells the dialect of db from its driver: modernc.org/sqlite or
// pgx's database/sql driver. Any other driver is an error.
func DialectOf(db *sql.DB) (Dialect, error) {
	if db == nil {
		return 0, fmt.Errorf("sqldb: dialect of a nil *sql.DB: %w", ErrUnsupported)
	}
	switch drv := db.Driver().(type) {
	case *sqlite.Driver:
		return SQLite, nil
	case *stdlib.Driver:
		return Postgres, nil
	default:
		return 0, fmt.Errorf("sqldb: driver %T is neither modernc.org/sqlite nor pgx stdlib: %w", drv, ErrUnsupported)
	}
}
