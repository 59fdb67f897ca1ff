// Package sqlitecheck checks a restored SQLite database, for restore
// drills: backup.DrillOptions{Check: sqlitecheck.Integrity}.
package sqlitecheck

import (
	"context"
	"fmt"
	"strings"

	"github.com/saaskit/saaskit/internal/sqldb"
)

// Integrity opens the database file at path and runs PRAGMA
// integrity_check, which reads every page; anything but "ok" is an
// error listing what SQLite found.
func Integrity(ctx context.Context, path string) error {
	db, err := sqldb.Open(ctx, "sqlite:"+path)
	if err != nil {
		return fmt.Errorf("open restored database: %w", err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return err
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("integrity check failed: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Query returns a check that runs Integrity and then query on the
// restored database, which must succeed and return at least one row: a
// table the application cannot run without, a row every deployment
// has. For example:
//
//	backup.DrillOptions{Check: sqlitecheck.Query("SELECT 1 FROM tenants LIMIT 1")}
func Query(query string, args ...any) func(ctx context.Context, path string) error {
	return func(ctx context.Context, path string) error {
		if err := Integrity(ctx, path); err != nil {
			return err
		}
		db, err := sqldb.Open(ctx, "sqlite:"+path)
		if err != nil {
			return fmt.Errorf("open restored database: %w", err)
		}
		defer db.Close()
		rows, err := db.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("check query: %w", err)
		}
		defer rows.Close()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return fmt.Errorf("check query: %w", err)
			}
			return fmt.Errorf("check query %q returned no row", query)
		}
		return rows.Err()
	}
}
