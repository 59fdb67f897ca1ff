package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/textfield"
	"github.com/saaskit/saaskit/webhook"
)

var _ webhook.ResendQueue = (*Store)(nil)

// Messages implements webhook.ResendQueue: a walk of the
// (tenant_id, created_at, id) index from the page's start.
func (s *Store) Messages(ctx context.Context, tenantID string, f webhook.MessageFilter) ([]*webhook.Message, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if !textfield.Storable(tenantID) {
		return nil, nil // no message can have it
	}
	query, args := messagesQuery(tenantID, f)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	out, err := collectMessages(rows)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	return out, nil
}

// messagesQuery is the query of Messages.
func messagesQuery(tenantID string, f webhook.MessageFilter) (string, []any) {
	query := `SELECT ` + messageColumns + ` FROM webhook_messages WHERE tenant_id = ?`
	args := []any{tenantID}
	if f.EventType != "" {
		query += " AND event_type = ?"
		args = append(args, f.EventType)
	}
	if !f.Since.IsZero() {
		query += " AND created_at >= ?"
		args = append(args, sqldb.Timestamp(f.Since))
	}
	if !f.Until.IsZero() {
		query += " AND created_at < ?"
		args = append(args, sqldb.Timestamp(f.Until))
	}
	if f.After != nil {
		query += " AND (created_at, id) > (?, ?)" // a row value: both engines seek the index to it
		args = append(args, sqldb.Timestamp(f.After.CreatedAt), f.After.ID)
	}
	query += " ORDER BY created_at, id LIMIT ?"
	return query, append(args, f.EffectiveLimit())
}

// messageColumns are the columns of a message, as collectMessages reads
// them.
const messageColumns = "tenant_id, id, event_type, payload, subject, created_at, channels, ordering_key"

// collectMessages reads the rows of messageColumns.
func collectMessages(rows *sql.Rows) ([]*webhook.Message, error) {
	return collect(rows, func(row scanner) (*webhook.Message, error) {
		var (
			m                 webhook.Message
			payload, channels []byte
		)
		if err := row.Scan(&m.TenantID, &m.ID, &m.EventType, &payload, &m.Subject, &m.CreatedAt, &channels, &m.OrderingKey); err != nil {
			return nil, err
		}
		var err error
		if m.Channels, err = decodeChannels(channels); err != nil {
			return nil, fmt.Errorf("decode channels of message %s: %w", m.ID, err)
		}
		m.Payload, m.CreatedAt = payload, m.CreatedAt.UTC()
		return &m, nil
	})
}

// encodeChannels is the channels column of a list: a JSON array.
func encodeChannels(channels []string) string {
	if len(channels) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(channels) // strings always encode
	return string(b)
}

// decodeChannels reads a channels column; "[]" is nil, without a
// decoder, since most messages and endpoints have none.
func decodeChannels(b []byte) ([]string, error) {
	if string(b) == "[]" {
		return nil, nil
	}
	var channels []string
	err := json.Unmarshal(b, &channels)
	return channels, err
}

// Redeliver implements webhook.ResendQueue, in one transaction: the new
// deliveries take their place behind every delivery already queued to
// an ordered endpoint, as EnqueueTx's do.
func (s *Store) Redeliver(ctx context.Context, tenantID, messageID string, endpoints []*webhook.Endpoint, at time.Time) ([]*webhook.Delivery, error) {
	if !textfield.Storable(tenantID, messageID) {
		return nil, fmt.Errorf("message %s: %w", messageID, webhook.ErrNotFound)
	}
	var out []*webhook.Delivery
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var (
			expired bool
			key     string
		)
		err := tx.QueryRowContext(ctx, s.q(`SELECT length(payload) = 0, ordering_key FROM webhook_messages WHERE tenant_id = ? AND id = ?`),
			tenantID, messageID).Scan(&expired, &key)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("message %s: %w", messageID, webhook.ErrNotFound)
		case err != nil:
			return err
		case expired:
			return fmt.Errorf("message %s: its payload has expired: %w", messageID, webhook.ErrConflict)
		}
		msg := &webhook.Message{TenantID: tenantID, ID: messageID, OrderingKey: key}
		news := make([]newDelivery, len(endpoints))
		for i, ep := range endpoints {
			news[i] = newDelivery{msg, ep, at}
		}
		if err := s.lockOrdered(ctx, tx, news); err != nil {
			return err
		}
		ids, err := s.insertDeliveries(ctx, tx, news)
		if err != nil || len(ids) == 0 {
			return err
		}
		if err := s.notifyEnqueued(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT `+deliveryColumns+` FROM webhook_deliveries d
			JOIN webhook_messages m ON m.tenant_id = d.tenant_id AND m.id = d.message_id
			WHERE d.id IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+`) ORDER BY d.seq`), ids...)
		if err != nil {
			return err
		}
		out, err = collectDeliveries(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("redeliver: %w", err)
	}
	return out, nil
}
