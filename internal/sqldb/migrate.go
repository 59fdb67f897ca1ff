package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrNewerSchema reports a database migrated by a newer build than the one
// running: it records a migration version the running code does not know.
var ErrNewerSchema = errors.New("database schema is newer than this build")

// Migration is one versioned step of a component's schema.
type Migration struct {
	// Version orders migrations; it is positive and unique per component.
	Version int
	// Name describes the step: for the file 0001_init.sql, "init".
	Name string
	// SQL is run as one Exec without arguments; it may hold several
	// statements separated by semicolons.
	SQL string
}

// file is the name of the file m was loaded from, for errors.
func (m Migration) file() string {
	return fmt.Sprintf("%04d_%s.sql", m.Version, m.Name)
}

// migrationFile matches NNNN_name.sql.
var migrationFile = regexp.MustCompile(`^([0-9]+)_([A-Za-z0-9_-]+)\.sql$`)

// LoadMigrations reads the migrations in directory dir of fsys, typically an
// embed.FS: files named NNNN_name.sql (0001_init.sql), sorted by version.
// Subdirectories and files not ending in .sql are ignored. A .sql file with
// another name, two files with one version, or a directory without
// migrations is an error.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("sqldb: load migrations: %w", err)
	}
	var ms []Migration
	files := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m := migrationFile.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("sqldb: load migrations: file %s: name must be NNNN_name.sql (digits, underscore, letters, digits, _ or -)", e.Name())
		}
		v, err := strconv.Atoi(m[1])
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("sqldb: load migrations: file %s: version must be a positive integer", e.Name())
		}
		if prev, ok := files[v]; ok {
			return nil, fmt.Errorf("sqldb: load migrations: files %s and %s: duplicate version %d", prev, e.Name(), v)
		}
		files[v] = e.Name()
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sqldb: load migrations: file %s: %w", e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: m[2], SQL: string(body)})
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("sqldb: load migrations: directory %q holds no NNNN_name.sql files", dir)
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	return ms, nil
}

// migrationLockKey is the Postgres advisory lock that serialises Migrate
// across processes.
var migrationLockKey = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("saaskit_migrations"))
	return int64(h.Sum64())
}()

// Migrate brings component's schema up to date: in one transaction it runs,
// in version order, every migration not yet recorded in the table
// saaskit_migrations, and records it. Calling it again is a no-op, and
// processes may call it at once: on Postgres an advisory lock serialises
// them, on SQLite the immediate write transaction does.
//
// A migration must be able to run inside a transaction (no CREATE INDEX
// CONCURRENTLY). Migrate refuses, with [ErrNewerSchema], a database that
// records a version of component newer than any in migrations.
func (db *DB) Migrate(ctx context.Context, component string, migrations []Migration) (err error) {
	if component == "" {
		return errors.New("sqldb: migrate: component is empty")
	}
	ms, err := sortedMigrations(component, migrations)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqldb: migrate %s: begin: %w", component, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if db.Dialect == Postgres {
		// Before CREATE TABLE too: two sessions creating the table at once
		// can fail on the catalog's unique index.
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
			return fmt.Errorf("sqldb: migrate %s: lock: %w", component, err)
		}
	}
	create := `CREATE TABLE IF NOT EXISTS saaskit_migrations (
	component TEXT NOT NULL,
	version INTEGER NOT NULL,
	name TEXT NOT NULL,
	applied_at ` + db.Dialect.TimeType() + ` NOT NULL,
	PRIMARY KEY (component, version)
)`
	if _, err := tx.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("sqldb: migrate %s: create saaskit_migrations: %w", component, err)
	}
	applied, err := appliedVersions(ctx, db.Dialect, tx, component)
	if err != nil {
		return err
	}
	latest := ms[len(ms)-1]
	if len(applied) > 0 {
		if newest := slices.Max(applied); newest > latest.Version {
			return fmt.Errorf("sqldb: migrate %s: database has version %d, newer than the latest known %d (%s): %w",
				component, newest, latest.Version, latest.file(), ErrNewerSchema)
		}
	}
	record := db.Dialect.Rebind("INSERT INTO saaskit_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)")
	for _, m := range ms {
		if slices.Contains(applied, m.Version) {
			continue
		}
		if strings.TrimSpace(m.SQL) != "" {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("sqldb: migrate %s: version %d (%s): %w", component, m.Version, m.file(), err)
			}
		}
		if _, err := tx.ExecContext(ctx, record, component, m.Version, m.Name, Timestamp(time.Now())); err != nil {
			return fmt.Errorf("sqldb: migrate %s: record version %d (%s): %w", component, m.Version, m.file(), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqldb: migrate %s: commit: %w", component, err)
	}
	return nil
}

// sortedMigrations checks ms and returns a sorted copy.
func sortedMigrations(component string, ms []Migration) ([]Migration, error) {
	if len(ms) == 0 {
		return nil, fmt.Errorf("sqldb: migrate %s: no migrations", component)
	}
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version <= 0 {
			return nil, fmt.Errorf("sqldb: migrate %s: version %d (%s): version must be positive", component, m.Version, m.file())
		}
		if i > 0 && ms[i-1].Version == m.Version {
			return nil, fmt.Errorf("sqldb: migrate %s: %s and %s: duplicate version %d", component, ms[i-1].file(), m.file(), m.Version)
		}
	}
	return ms, nil
}

// appliedVersions lists the versions of component recorded in tx.
func appliedVersions(ctx context.Context, d Dialect, tx *sql.Tx, component string) ([]int, error) {
	rows, err := tx.QueryContext(ctx, d.Rebind("SELECT version FROM saaskit_migrations WHERE component = ?"), component)
	if err != nil {
		return nil, fmt.Errorf("sqldb: migrate %s: read saaskit_migrations: %w", component, err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("sqldb: migrate %s: read saaskit_migrations: %w", component, err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqldb: migrate %s: read saaskit_migrations: %w", component, err)
	}
	return vs, nil
}

// MigrateEmbedded applies the migrations of component found in
// fsys under root/<dialect> (root/sqlite, root/postgres): the layout
// every SQL adapter embeds.
func (db *DB) MigrateEmbedded(ctx context.Context, component string, fsys fs.FS, root string) error {
	migs, err := LoadMigrations(fsys, root+"/"+db.Dialect.String())
	if err != nil {
		return err
	}
	return db.Migrate(ctx, component, migs)
}
