// Package sqlstore keeps backup job leases in SQLite or PostgreSQL
// (table backup_leases), so that several processes sharing a database
// never run the same backup job at once.
//
//	leases, err := sqlstore.New(db, nil)
//	if err != nil { ... }
//	if err := leases.Migrate(ctx); err != nil { ... }
//	sched, err := backup.NewScheduler(b, jobs, backup.SchedulerOptions{Leases: leases})
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/internal/sqldb"
)

//go:embed migrations
var migrations embed.FS

// Leases are backup.Leases in a database.
type Leases struct {
	db  *sqldb.DB
	now func() time.Time
}

var _ backup.Leases = (*Leases)(nil)

// New returns Leases over db (modernc.org/sqlite or pgx's stdlib); now
// defaults to time.Now. Call Migrate before use.
func New(db *sql.DB, now func() time.Time) (*Leases, error) {
	d, err := sqldb.DialectOf(db)
	if err != nil {
		return nil, fmt.Errorf("backup sqlstore: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Leases{db: &sqldb.DB{DB: db, Dialect: d}, now: now}, nil
}

// Migrate creates or upgrades the table; idempotent.
func (l *Leases) Migrate(ctx context.Context) error {
	if err := l.db.MigrateEmbedded(ctx, "backup", migrations, "migrations"); err != nil {
		return fmt.Errorf("backup sqlstore: %w", err)
	}
	return nil
}

// Acquire implements backup.Leases in one statement: the row is taken
// when absent, expired, or already the holder's.
func (l *Leases) Acquire(ctx context.Context, job, holder string, ttl time.Duration) (bool, error) {
	now := sqldb.Timestamp(l.now())
	res, err := l.db.ExecContext(ctx, l.db.Dialect.Rebind(`INSERT INTO backup_leases (job, holder, until) VALUES (?, ?, ?)
		ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, until = excluded.until
		WHERE backup_leases.until <= ? OR backup_leases.holder = ?`), job, holder, now.Add(ttl), now, holder)
	if err != nil {
		return false, fmt.Errorf("backup sqlstore: acquire %s: %w", job, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Release implements backup.Leases.
func (l *Leases) Release(ctx context.Context, job, holder string) error {
	_, err := l.db.ExecContext(ctx, l.db.Dialect.Rebind("DELETE FROM backup_leases WHERE job = ? AND holder = ?"), job, holder)
	if err != nil {
		return fmt.Errorf("backup sqlstore: release %s: %w", job, err)
	}
	return nil
}
