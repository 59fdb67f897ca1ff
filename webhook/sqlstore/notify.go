package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/webhook"
)

// enqueuedChannel is the PostgreSQL notification channel on which every
// transaction that queues deliveries announces them as it commits.
const enqueuedChannel = "saaskit_webhook_enqueued"

// notifyEnqueued announces, when tx commits, that it queued deliveries.
// PostgreSQL sends one notification per channel per transaction however
// often it is called, and none if tx rolls back.
func (s *Store) notifyEnqueued(ctx context.Context, tx *sql.Tx) error {
	if s.db.Dialect != sqldb.Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_notify($1, '')", enqueuedChannel)
	return err
}

// Listen implements webhook.WakeQueue. On PostgreSQL it holds one
// connection of the pool LISTENing, calls wake once listening (for what
// was queued before) and then at every commit that queued deliveries,
// in any process, until ctx ends or the connection fails; the
// connection is then closed, never handed back to the pool still
// listening. On SQLite, which has no notifications, it returns
// ErrUnsupported: workers there find new work at their next poll, or
// at once in the process that sent it.
func (s *Store) Listen(ctx context.Context, wake func()) error {
	if s.db.Dialect != sqldb.Postgres {
		return fmt.Errorf("listen for new deliveries: %w", webhook.ErrUnsupported)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("listen for new deliveries: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("driver connection %T is not pgx's", dc)
		}
		pc := c.Conn()
		if _, err := pc.Exec(ctx, "LISTEN "+enqueuedChannel); err != nil {
			return errors.Join(err, driver.ErrBadConn)
		}
		wake()
		for {
			if _, err := pc.WaitForNotification(ctx); err != nil {
				return errors.Join(err, driver.ErrBadConn) // closes the connection: it is listening
			}
			wake()
		}
	})
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("listen for new deliveries: %w", err)
}
