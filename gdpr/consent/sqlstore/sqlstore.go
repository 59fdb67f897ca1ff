// Package sqlstore keeps the consent ledger in SQLite or PostgreSQL: a
// consent.Store over the tables gdpr_consent_purposes,
// gdpr_consent_notices, gdpr_consent_events (the append-only history)
// and gdpr_consent_state (each subject's current state per purpose,
// written in the transaction that appends the event).
//
//	store, err := sqlstore.New(db)
//	if err != nil { ... }
//	if err := store.Migrate(ctx); err != nil { ... }
//	ledger, err := consent.New(store, consent.Options{PseudonymKey: key})
//
// Appends for one subject and purpose serialize on their state row (an
// upsert that PostgreSQL locks and SQLite runs in its single writer), so
// any number of processes may share the database.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"strings"
	"time"

	"github.com/saaskit/saaskit/gdpr/consent"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/textfield"
)

//go:embed migrations
var migrations embed.FS

// Store is a consent.Store in a database.
type Store struct {
	db *sqldb.DB
}

var _ consent.Store = (*Store)(nil)

// New returns a Store over db, from modernc.org/sqlite or pgx's stdlib.
// Call Migrate before use.
func New(db *sql.DB) (*Store, error) {
	d, err := sqldb.DialectOf(db)
	if err != nil {
		return nil, fmt.Errorf("consent sqlstore: %w", err)
	}
	return &Store{db: &sqldb.DB{DB: db, Dialect: d}}, nil
}

// Migrate creates or upgrades the tables; idempotent.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.db.MigrateEmbedded(ctx, "gdpr_consent", migrations, "migrations"); err != nil {
		return fmt.Errorf("consent sqlstore: %w", err)
	}
	return nil
}

func (s *Store) q(query string) string { return s.db.Dialect.Rebind(query) }

// SavePurpose implements consent.Store.
func (s *Store) SavePurpose(ctx context.Context, p *consent.Purpose, n *consent.Notice) error {
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if p.Revision == 0 {
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO gdpr_consent_purposes
				(tenant_id, purpose_key, description, lifetime_ns, revision) VALUES (?, ?, ?, ?, 1)`),
				p.TenantID, p.Key, p.Description, int64(p.Lifetime))
			if sqldb.IsUniqueViolation(err) {
				return fmt.Errorf("purpose %q exists: %w", p.Key, consent.ErrConflict)
			}
			if err != nil {
				return err
			}
		} else {
			res, err := tx.ExecContext(ctx, s.q(`UPDATE gdpr_consent_purposes
				SET description = ?, lifetime_ns = ?, revision = revision + 1
				WHERE tenant_id = ? AND purpose_key = ? AND revision = ?`),
				p.Description, int64(p.Lifetime), p.TenantID, p.Key, p.Revision)
			if err != nil {
				return err
			}
			switch n, err := res.RowsAffected(); {
			case err != nil:
				return err
			case n == 0:
				return fmt.Errorf("purpose %q: revision %d is stale: %w", p.Key, p.Revision, consent.ErrConflict)
			}
		}
		if n == nil {
			return nil
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO gdpr_consent_notices
			(tenant_id, purpose_key, version, language, sha256, body, requires_reconsent, published_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
			p.TenantID, p.Key, n.Version, n.Language, n.SHA256, sql.NullString{String: n.Text, Valid: n.Text != ""},
			n.RequiresReconsent, sqldb.Timestamp(n.PublishedAt))
		if sqldb.IsUniqueViolation(err) {
			return fmt.Errorf("purpose %q: notice version %d (%s) exists: %w", p.Key, n.Version, n.Language, consent.ErrConflict)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("consent sqlstore: save purpose: %w", err)
	}
	p.Revision++
	return nil
}

// Purposes implements consent.Store.
func (s *Store) Purposes(ctx context.Context, tenantID string, keys ...string) ([]*consent.Purpose, error) {
	if !textfield.Storable(tenantID) || !textfield.Storable(keys...) {
		return nil, nil // no purpose can have it
	}
	where, args := "tenant_id = ?", []any{tenantID}
	if len(keys) > 0 {
		where += " AND purpose_key IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(keys)), ", ") + ")"
		for _, k := range keys {
			args = append(args, k)
		}
	}
	var out []*consent.Purpose
	byKey := map[string]*consent.Purpose{}
	err := s.each(ctx, "SELECT purpose_key, description, lifetime_ns, revision FROM gdpr_consent_purposes WHERE "+where+
		" ORDER BY purpose_key", args, func(rows *sql.Rows) error {
		p := &consent.Purpose{TenantID: tenantID}
		var lifetime int64
		if err := rows.Scan(&p.Key, &p.Description, &lifetime, &p.Revision); err != nil {
			return err
		}
		p.Lifetime = time.Duration(lifetime)
		out = append(out, p)
		byKey[p.Key] = p
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("consent sqlstore: purposes: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	err = s.each(ctx, "SELECT purpose_key, version, language, sha256, body, requires_reconsent, published_at FROM gdpr_consent_notices WHERE "+where+
		" ORDER BY purpose_key, version, language", args, func(rows *sql.Rows) error {
		n := &consent.Notice{}
		var body sql.NullString
		if err := rows.Scan(&n.Purpose, &n.Version, &n.Language, &n.SHA256, &body, &n.RequiresReconsent, &n.PublishedAt); err != nil {
			return err
		}
		n.Text, n.PublishedAt = body.String, n.PublishedAt.UTC()
		if p := byKey[n.Purpose]; p != nil { // a purpose saved between the two reads has no entry
			p.Notices = append(p.Notices, n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("consent sqlstore: notices: %w", err)
	}
	return out, nil
}

// each runs a query with '?' placeholders and calls fn on every row.
func (s *Store) each(ctx context.Context, query string, args []any, fn func(*sql.Rows) error) error {
	return eachRow(ctx, s.db, s.q(query), args, fn)
}

func eachRow(ctx context.Context, db sqldb.Querier, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Append implements consent.Store. The state row's upsert takes the next
// seq and, on PostgreSQL, locks the row until commit, so concurrent
// appends for one subject and purpose queue behind each other; it keeps
// the later of the two times, which the event then takes.
func (s *Store) Append(ctx context.Context, e *consent.Event) error {
	greatest := "GREATEST"
	if s.db.Dialect == sqldb.SQLite {
		greatest = "MAX" // SQLite's scalar max; UTC times compare as text
	}
	expires := nullTime(e.ExpiresAt)
	var seq int64
	var at time.Time
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.q(`INSERT INTO gdpr_consent_state
			(tenant_id, subject, purpose_key, seq, action, occurred_at, expires_at) VALUES (?, ?, ?, 1, ?, ?, ?)
			ON CONFLICT (tenant_id, subject, purpose_key) DO UPDATE SET
				seq = gdpr_consent_state.seq + 1, action = excluded.action, expires_at = excluded.expires_at,
				occurred_at = `+greatest+`(gdpr_consent_state.occurred_at, excluded.occurred_at)
			RETURNING seq, occurred_at`),
			e.TenantID, e.Subject, e.Purpose, string(e.Action), sqldb.Timestamp(e.At), expires).Scan(&seq, &at)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO gdpr_consent_events
			(tenant_id, subject, purpose_key, seq, action, occurred_at, notice_version, notice_language, notice_sha256, expires_at, source, proof)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			e.TenantID, e.Subject, e.Purpose, seq, string(e.Action), at,
			e.NoticeVersion, e.NoticeLanguage, e.NoticeHash, expires, e.Source, e.Proof)
		return err
	})
	if err != nil {
		return fmt.Errorf("consent sqlstore: append: %w", err)
	}
	e.Seq, e.At = seq, at.UTC()
	return nil
}

func nullTime(t time.Time) sql.NullTime {
	return sql.NullTime{Time: sqldb.Timestamp(t), Valid: !t.IsZero()}
}

// eventColumns are the columns scanEvent reads, from events aliased e.
const eventColumns = `e.purpose_key, e.seq, e.action, e.occurred_at, e.notice_version, e.notice_language,
	e.notice_sha256, e.expires_at, e.source, e.proof`

// Events implements consent.Store.
func (s *Store) Events(ctx context.Context, tenantID, subject string, f consent.EventFilter) ([]*consent.Event, error) {
	if !textfield.Storable(tenantID, subject, f.Purpose) {
		return nil, nil // no event can have it
	}
	query := "SELECT " + eventColumns + " FROM gdpr_consent_events e"
	if f.Current {
		query += ` JOIN gdpr_consent_state c ON c.tenant_id = e.tenant_id AND c.subject = e.subject
			AND c.purpose_key = e.purpose_key AND c.seq = e.seq`
	}
	query += " WHERE e.tenant_id = ? AND e.subject = ?"
	args := []any{tenantID, subject}
	if f.Purpose != "" {
		query += " AND e.purpose_key = ?"
		args = append(args, f.Purpose)
	}
	var out []*consent.Event
	err := s.each(ctx, query+" ORDER BY e.purpose_key, e.seq", args, func(rows *sql.Rows) error {
		e := &consent.Event{TenantID: tenantID, Subject: subject}
		var action string
		var expires sql.NullTime
		if err := rows.Scan(&e.Purpose, &e.Seq, &action, &e.At, &e.NoticeVersion, &e.NoticeLanguage,
			&e.NoticeHash, &expires, &e.Source, &e.Proof); err != nil {
			return err
		}
		e.Action, e.At = consent.Action(action), e.At.UTC()
		if expires.Valid {
			e.ExpiresAt = expires.Time.UTC()
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("consent sqlstore: events: %w", err)
	}
	return out, nil
}

// EraseSubject implements consent.Store.
func (s *Store) EraseSubject(ctx context.Context, tenantID, subject, pseudonym string) (int, error) {
	if !textfield.Storable(tenantID, subject) {
		return 0, nil // no event can have it
	}
	if !textfield.Storable(pseudonym) {
		return 0, fmt.Errorf("%w: pseudonym must be valid UTF-8 without NUL", consent.ErrInvalid)
	}
	erased := 0
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		erased = 0
		// Number the moved events after those the pseudonym has, per
		// purpose: the subject may have been erased before.
		offsets := map[string]int64{}
		err := eachRow(ctx, tx, s.q(`SELECT e.purpose_key, COALESCE(MAX(p.seq), 0)
			FROM gdpr_consent_events e LEFT JOIN gdpr_consent_events p
				ON p.tenant_id = e.tenant_id AND p.subject = ? AND p.purpose_key = e.purpose_key
			WHERE e.tenant_id = ? AND e.subject = ?
			GROUP BY e.purpose_key`), []any{pseudonym, tenantID, subject}, func(rows *sql.Rows) error {
			var key string
			var offset int64
			if err := rows.Scan(&key, &offset); err != nil {
				return err
			}
			offsets[key] = offset
			return nil
		})
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM gdpr_consent_state WHERE tenant_id = ? AND subject = ?"), tenantID, subject); err != nil {
			return err
		}
		for key, offset := range offsets {
			res, err := tx.ExecContext(ctx, s.q(`UPDATE gdpr_consent_events SET subject = ?, proof = '', seq = seq + ?
				WHERE tenant_id = ? AND subject = ? AND purpose_key = ?`), pseudonym, offset, tenantID, subject, key)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			erased += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("consent sqlstore: erase subject: %w", err)
	}
	return erased, nil
}
