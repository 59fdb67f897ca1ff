// Package sqlstore keeps audit trails in SQLite or PostgreSQL (table
// gdpr_audit): an audit.Store.
//
//	st, err := sqlstore.New(db)
//	if err != nil { ... }
//	if err := st.Migrate(ctx); err != nil { ... }
//	trail, err := audit.New(st, audit.Options{CheckpointKey: key})
//
// The primary key (tenant_id, seq) is what keeps a chain from forking:
// of two appenders that read the same end of the chain, the second to
// insert violates it, gets audit.ErrConflict, and the Trail retries. Many
// processes may share one database.
//
// The store only inserts. Anyone who can write to the table can still
// change it; Trail.Verify detects that (and checkpoints kept elsewhere
// detect a cut or rewritten end).
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/gdpr/audit"
	"github.com/saaskit/saaskit/internal/sqldb"
)

//go:embed migrations
var migrations embed.FS

// Store is an audit.Store in a database.
type Store struct {
	db *sqldb.DB
}

var _ audit.Store = (*Store)(nil)

// New returns a Store over db, from modernc.org/sqlite or pgx's stdlib.
// Call Migrate before use.
func New(db *sql.DB) (*Store, error) {
	d, err := sqldb.DialectOf(db)
	if err != nil {
		return nil, fmt.Errorf("gdpr audit sqlstore: %w", err)
	}
	return &Store{db: &sqldb.DB{DB: db, Dialect: d}}, nil
}

// Migrate creates or upgrades the table; idempotent.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.db.MigrateEmbedded(ctx, "gdpr_audit", migrations, "migrations"); err != nil {
		return fmt.Errorf("gdpr audit sqlstore: %w", err)
	}
	return nil
}

func (s *Store) q(query string) string { return s.db.Dialect.Rebind(query) }

// columns of gdpr_audit, in the order of row's fields.
const columns = `tenant_id, seq, at, actor, action, subject, request_id, request_kind, request_channel,
	request_received_at, request_responded_at, request_response, request_denial_basis, details, prev_hash, hash`

// Append implements audit.Store.
func (s *Store) Append(ctx context.Context, r audit.Record) error {
	if r.Seq == 0 {
		return fmt.Errorf("%w: Seq: must be at least 1", audit.ErrInvalid)
	}
	conflict := fmt.Errorf("tenant %s: record %d does not follow the end of the chain: %w", r.TenantID, r.Seq, audit.ErrConflict)
	if r.Seq == 1 && r.PrevHash != audit.ZeroHash {
		return conflict
	}
	args, err := encode(r)
	if err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		if r.Seq > 1 {
			var prev string
			err := tx.QueryRowContext(ctx, s.q("SELECT hash FROM gdpr_audit WHERE tenant_id = ? AND seq = ?"), r.TenantID, r.Seq-1).Scan(&prev)
			if errors.Is(err, sql.ErrNoRows) || err == nil && prev != r.PrevHash {
				return conflict
			}
			if err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, s.q("INSERT INTO gdpr_audit ("+columns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"), args...)
		return err
	})
	switch {
	case errors.Is(err, audit.ErrConflict):
		return err
	case sqldb.IsUniqueViolation(err):
		return conflict
	case err != nil:
		return fmt.Errorf("gdpr audit sqlstore: append: %w", err)
	}
	return nil
}

// List implements audit.Store.
func (s *Store) List(ctx context.Context, tenantID string, afterSeq uint64, limit int) ([]audit.Record, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: limit: must be positive, is %d", audit.ErrInvalid, limit)
	}
	rows, err := s.db.QueryContext(ctx, s.q("SELECT "+columns+" FROM gdpr_audit WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?"),
		tenantID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("gdpr audit sqlstore: list: %w", err)
	}
	defer rows.Close()
	var out []audit.Record
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("gdpr audit sqlstore: list: %w", err)
	}
	return out, nil
}

// Last implements audit.Store.
func (s *Store) Last(ctx context.Context, tenantID string) (audit.Record, error) {
	row := s.db.QueryRowContext(ctx, s.q("SELECT "+columns+" FROM gdpr_audit WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1"), tenantID)
	r, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Record{}, fmt.Errorf("tenant %s: no records: %w", tenantID, audit.ErrNotFound)
	}
	return r, err
}

// encode returns the column values of r, in the order of columns.
func encode(r audit.Record) ([]any, error) {
	details := []byte("{}")
	if len(r.Details) > 0 {
		var err error
		if details, err = json.Marshal(r.Details); err != nil {
			return nil, fmt.Errorf("gdpr audit sqlstore: details: %w", err)
		}
	}
	var id, kind, channel, response, basis sql.NullString
	var received, responded sql.NullTime
	if q := r.Request; q != nil {
		id, kind, channel = sql.NullString{String: q.ID, Valid: true}, sql.NullString{String: q.Kind, Valid: true}, sql.NullString{String: q.Channel, Valid: true}
		response, basis = sql.NullString{String: string(q.Response), Valid: true}, sql.NullString{String: q.DenialBasis, Valid: true}
		received, responded = nullTime(q.ReceivedAt), nullTime(q.RespondedAt)
	}
	return []any{r.TenantID, r.Seq, sqldb.Timestamp(r.Time), r.Actor, r.Action, r.Subject,
		id, kind, channel, received, responded, response, basis, string(details), r.PrevHash, r.Hash}, nil
}

// nullTime is NULL for the zero time.
func nullTime(t time.Time) sql.NullTime {
	if t.IsZero() {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: sqldb.Timestamp(t), Valid: true}
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scan reads a row of columns.
func scan(row scanner) (audit.Record, error) {
	var r audit.Record
	var id, kind, channel, response, basis sql.NullString
	var received, responded sql.NullTime
	var details string
	err := row.Scan(&r.TenantID, &r.Seq, &r.Time, &r.Actor, &r.Action, &r.Subject,
		&id, &kind, &channel, &received, &responded, &response, &basis, &details, &r.PrevHash, &r.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return r, err
	}
	if err != nil {
		return r, fmt.Errorf("gdpr audit sqlstore: read record: %w", err)
	}
	r.Time = r.Time.UTC()
	if kind.Valid {
		r.Request = &audit.Request{ID: id.String, Kind: kind.String, Channel: channel.String,
			Response: audit.Response(response.String), DenialBasis: basis.String}
		if received.Valid {
			r.Request.ReceivedAt = received.Time.UTC()
		}
		if responded.Valid {
			r.Request.RespondedAt = responded.Time.UTC()
		}
	}
	if err := json.Unmarshal([]byte(details), &r.Details); err != nil {
		return r, fmt.Errorf("gdpr audit sqlstore: record %d: details: %w", r.Seq, err)
	}
	if len(r.Details) == 0 {
		r.Details = nil
	}
	return r, nil
}
