package health

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SQL checks a database: it pings it, then runs SELECT 1, which goes
// through a connection and the query path a ping may skip. SELECT 1 works
// on SQLite, PostgreSQL, MySQL and SQL Server; write a CheckFunc of your
// own for a database that needs another query.
func SQL(db *sql.DB) CheckFunc {
	return func(ctx context.Context) error {
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("ping: %w", err)
		}
		var one int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return fmt.Errorf("select 1: %w", err)
		}
		return nil
	}
}

// Cipher is the part of tink.AEAD that the AEAD check uses; tink.AEAD and
// saaskit's crypto ScopedAEAD (Keyring.AEAD) satisfy it.
type Cipher interface {
	// Encrypt seals plaintext, bound to associatedData.
	Encrypt(plaintext, associatedData []byte) ([]byte, error)
	// Decrypt opens what Encrypt sealed with the same associatedData.
	Decrypt(ciphertext, associatedData []byte) ([]byte, error)
}

// roundTripAD is the associated data of the AEAD check's round trip.
var roundTripAD = []byte("saaskit health check")

// AEAD checks a key service: it encrypts 16 random bytes, decrypts them
// and compares, so a KMS, a keyring and its key store are all exercised.
// With a crypto Keyring, give it a scope of its own, such as
// keyring.AEAD(skcrypto.Scope{Tenant: "health"}), so the check never
// touches a customer's keys. Cipher takes no context: the Checker's
// timeout still bounds how long a probe waits.
func AEAD(a Cipher) CheckFunc {
	return func(ctx context.Context) error {
		want := make([]byte, 16)
		_, _ = rand.Read(want) // never fails
		ct, err := a.Encrypt(want, roundTripAD)
		if err != nil {
			return fmt.Errorf("encrypt: %w", err)
		}
		got, err := a.Decrypt(ct, roundTripAD)
		if err != nil {
			return fmt.Errorf("decrypt: %w", err)
		}
		if !bytes.Equal(got, want) {
			return errors.New("decrypt returned other bytes than were encrypted")
		}
		return nil
	}
}

// Queue checks a work queue's backlog. stats reports how many items wait
// (depth) and how long the oldest has waited (oldest; zero when none).
//
// The check warns when depth is over maxDepth or oldest is over maxAge,
// and fails when either is over twice its threshold, or when stats fails.
// A value at its threshold passes; a threshold of zero or less is not
// checked. Choose maxAge as the delay the service promises (say a minute
// for webhooks) and maxDepth as what the workers clear in about that
// time: the warning then says "falling behind", the failure "a backlog
// that will not clear soon".
//
// For a webhook Dispatcher:
//
//	health.Queue(func(ctx context.Context) (int, time.Duration, error) {
//		s, err := d.QueueStats(ctx)
//		if err != nil || s.OldestDue.IsZero() {
//			return s.Due, 0, err
//		}
//		return s.Due, time.Since(s.OldestDue), nil
//	}, 10000, time.Minute)
func Queue(stats func(ctx context.Context) (depth int, oldest time.Duration, err error), maxDepth int, maxAge time.Duration) CheckFunc {
	return func(ctx context.Context) error {
		depth, oldest, err := stats(ctx)
		if err != nil {
			return fmt.Errorf("queue stats: %w", err)
		}
		var problems []string
		fail := false
		// Over twice the threshold is compared as v-max > max so a large
		// threshold cannot overflow.
		if maxDepth > 0 && depth > maxDepth {
			twice := depth-maxDepth > maxDepth
			fail = fail || twice
			problems = append(problems, fmt.Sprintf("depth %d is over %s%d", depth, twiceText(twice), maxDepth))
		}
		if maxAge > 0 && oldest > maxAge {
			twice := oldest-maxAge > maxAge
			fail = fail || twice
			problems = append(problems, fmt.Sprintf("oldest item waited %s, over %s%s", oldest.Round(time.Millisecond), twiceText(twice), maxAge))
		}
		switch {
		case len(problems) == 0:
			return nil
		case fail:
			return errors.New("queue backlog: " + strings.Join(problems, "; "))
		default:
			return fmt.Errorf("%w: queue backlog: %s", ErrWarn, strings.Join(problems, "; "))
		}
	}
}

func twiceText(twice bool) string {
	if twice {
		return "twice "
	}
	return ""
}
