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
