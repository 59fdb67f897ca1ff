// Package sqlstore keeps autotls certificates, private keys and ACME
// accounts in SQLite or PostgreSQL, as a certmagic.Storage that every
// replica on the database shares: a certificate one replica obtains,
// the others load instead of ordering it again, and certmagic's locks
// keep two replicas from ordering the same name at once.
//
//	st, err := sqlstore.Open(ctx, "sqlite:data/saas.db", keyring.AEAD(skcrypto.Scope{Tenant: "platform"}), sqlstore.Options{})
//	if err != nil { ... }
//	defer st.Close()
//	m, err := autotls.New(autotls.Options{Storage: st, ...})
//
// Every value is sealed with the AEAD given to New or Open (a
// crypto.Keyring's AEAD, or any tink.AEAD), with its key as associated
// data: certificates are public, but sealing all values keeps one rule
// for private keys, ACME account keys and whatever else certmagic
// stores, and a value copied to another key fails to open.
//
// Locks are rows with an expiry (Options.LockTTL) that the holder pushes
// forward while it holds them, so the lock of a process that died frees
// itself. A process waiting for a lock polls every
// Options.PollInterval.
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/saaskit/saaskit/internal/sqldb"
)

//go:embed migrations
var migrations embed.FS

// ErrInvalid means a constructor argument or option is unusable; the
// message names it.
var ErrInvalid = errors.New("autotls sqlstore: invalid argument")

// Options configure a Storage. The zero value works.
type Options struct {
	// LockTTL is how long a lock stays held after its holder last
	// renewed it; holders renew it every LockTTL/3. Default 1 minute.
	LockTTL time.Duration
	// PollInterval is how often Lock tries again to take a lock that
	// another holds. Default 1 second.
	PollInterval time.Duration
	// Now is the clock for modification times and lock expiry. Default
	// time.Now. Processes sharing a database need clocks that agree
	// within a fraction of LockTTL.
	Now func() time.Time
}

// Storage is a certmagic.Storage on a SQL database. It is safe for
// concurrent use, and several processes may use one database at once.
type Storage struct {
	db    *sqldb.DB
	owned bool
	aead  tink.AEAD
	opts  Options

	mu    sync.Mutex
	held  map[string]heldLock // locks this Storage holds, by name
	token string              // random prefix of this Storage's lock owners
	seq   uint64
}

// heldLock is a lock this Storage holds: its owner value and the stop
// of the goroutine renewing it.
type heldLock struct {
	owner string
	stop  chan struct{}
	done  chan struct{}
}

var (
	_ certmagic.Storage          = (*Storage)(nil)
	_ certmagic.TryLocker        = (*Storage)(nil)
	_ certmagic.LockLeaseRenewer = (*Storage)(nil)
)

// New returns a Storage over db, which must come from modernc.org/sqlite
// or github.com/jackc/pgx/v5/stdlib, sealing values with aead (required).
// Call Migrate before use.
func New(db *sql.DB, aead tink.AEAD, opts Options) (*Storage, error) {
	d, err := sqldb.DialectOf(db)
	if err != nil {
		return nil, fmt.Errorf("autotls sqlstore: %w", err)
	}
	return newStorage(&sqldb.DB{DB: db, Dialect: d}, aead, opts)
}

// Open opens the database at dsn (sqlite:PATH, postgres://...), migrates
// it and returns a Storage that Close closes.
func Open(ctx context.Context, dsn string, aead tink.AEAD, opts Options) (*Storage, error) {
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("autotls sqlstore: %w", err)
	}
	s, err := newStorage(db, aead, opts)
	if err == nil {
		s.owned = true
		err = s.Migrate(ctx)
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func newStorage(db *sqldb.DB, aead tink.AEAD, opts Options) (*Storage, error) {
	if aead == nil {
		return nil, fmt.Errorf("%w: aead is nil: private keys must be sealed", ErrInvalid)
	}
	if opts.LockTTL < 0 || opts.PollInterval < 0 {
		return nil, fmt.Errorf("%w: Options.LockTTL and Options.PollInterval must not be negative", ErrInvalid)
	}
	if opts.LockTTL == 0 {
		opts.LockTTL = time.Minute
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return &Storage{db: db, aead: aead, opts: opts, held: map[string]heldLock{}, token: hex.EncodeToString(b)}, nil
}

// Migrate creates or upgrades the tables autotls_items and
// autotls_locks. It is idempotent and safe to run from several
// processes at once.
func (s *Storage) Migrate(ctx context.Context) error {
	if err := s.db.MigrateEmbedded(ctx, "autotls", migrations, "migrations"); err != nil {
		return fmt.Errorf("autotls sqlstore: %w", err)
	}
	return nil
}

// Close releases the locks this Storage holds and closes the database
// if Open opened it.
func (s *Storage) Close() error {
	s.mu.Lock()
	names := make([]string, 0, len(s.held))
	for name := range s.held {
		names = append(names, name)
	}
	s.mu.Unlock()
	var errs []error
	for _, name := range names {
		errs = append(errs, s.Unlock(context.Background(), name))
	}
	if s.owned {
		errs = append(errs, s.db.Close())
	}
	return errors.Join(errs...)
}

func (s *Storage) q(query string) string { return s.db.Dialect.Rebind(query) }

// below returns the bounds of the keys under dir: [dir/, dir0), '0'
// being the byte after '/'. The empty dir holds every key.
func below(dir string) (lo, hi string) {
	if dir == "" {
		return "", "\U0010FFFF"
	}
	return dir + "/", dir + "0"
}

// Store implements certmagic.Storage.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	sealed, err := s.aead.Encrypt(value, []byte("autotls:"+key))
	if err != nil {
		return fmt.Errorf("autotls sqlstore: seal %s: %w", key, err)
	}
	_, err = s.db.ExecContext(ctx, s.db.Dialect.Upsert("autotls_items", []string{"key"}, []string{"key", "value", "size", "modified"}),
		key, sealed, len(value), sqldb.Timestamp(s.opts.Now()))
	if err != nil {
		return fmt.Errorf("autotls sqlstore: store %s: %w", key, err)
	}
	return nil
}

// Load implements certmagic.Storage; a missing key is fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	var sealed []byte
	err := s.db.QueryRowContext(ctx, s.q("SELECT value FROM autotls_items WHERE key = ?"), key).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("autotls sqlstore: load %s: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("autotls sqlstore: load %s: %w", key, err)
	}
	value, err := s.aead.Decrypt(sealed, []byte("autotls:"+key))
	if err != nil {
		return nil, fmt.Errorf("autotls sqlstore: open %s: %w", key, err)
	}
	return value, nil
}

// Delete implements certmagic.Storage: it deletes key and every key
// under it; a missing key is no error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	lo, hi := below(key)
	_, err := s.db.ExecContext(ctx, s.q("DELETE FROM autotls_items WHERE key = ? OR (key >= ? AND key < ?)"), key, lo, hi)
	if err != nil {
		return fmt.Errorf("autotls sqlstore: delete %s: %w", key, err)
	}
	return nil
}

// Exists implements certmagic.Storage: key is a value or a directory.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// Stat implements certmagic.Storage; a missing key is fs.ErrNotExist.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	info := certmagic.KeyInfo{Key: key, IsTerminal: true}
	err := s.db.QueryRowContext(ctx, s.q("SELECT size, modified FROM autotls_items WHERE key = ?"), key).Scan(&info.Size, &info.Modified)
	if errors.Is(err, sql.ErrNoRows) {
		lo, hi := below(key)
		var n int
		err = s.db.QueryRowContext(ctx, s.q("SELECT COUNT(*) FROM autotls_items WHERE key >= ? AND key < ?"), lo, hi).Scan(&n)
		if err == nil && n == 0 {
			err = fs.ErrNotExist
		}
		info = certmagic.KeyInfo{Key: key}
	}
	if err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("autotls sqlstore: stat %s: %w", key, err)
	}
	return info, nil
}

// List implements certmagic.Storage: the keys and directories right
// under dir, or all of them below it when recursive, sorted; a dir with
// nothing under it is fs.ErrNotExist.
func (s *Storage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	lo, hi := below(dir)
	rows, err := s.db.QueryContext(ctx, s.q("SELECT key FROM autotls_items WHERE key >= ? AND key < ? ORDER BY key"), lo, hi)
	if err != nil {
		return nil, fmt.Errorf("autotls sqlstore: list %s: %w", dir, err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	var keys []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err != nil {
			return nil, fmt.Errorf("autotls sqlstore: list %s: %w", dir, err)
		}
		rest := strings.TrimPrefix(key, lo)
		for i, c := range rest {
			if c == '/' {
				add(lo + rest[:i])
				if !recursive {
					break
				}
			}
		}
		if recursive || !strings.Contains(rest, "/") {
			add(key)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("autotls sqlstore: list %s: %w", dir, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("autotls sqlstore: list %s: %w", dir, fs.ErrNotExist)
	}
	slices.Sort(keys)
	return keys, nil
}

// checkKey refuses keys that the directory semantics cannot hold.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") || strings.Contains(key, "//") {
		return fmt.Errorf("%w: key %q must be non-empty, without leading, trailing or double '/'", ErrInvalid, key)
	}
	return nil
}

// Lock implements certmagic.Locker: it waits, polling every
// Options.PollInterval, until it takes the lock or ctx ends.
func (s *Storage) Lock(ctx context.Context, name string) error {
	for {
		ok, err := s.TryLock(ctx, name)
		if ok || err != nil {
			return err
		}
		t := time.NewTimer(s.opts.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("autotls sqlstore: lock %s: %w", name, ctx.Err())
		case <-t.C:
		}
	}
}

// TryLock implements certmagic.TryLocker: it takes the lock if it is
// free or expired, and reports whether it did.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	s.mu.Lock()
	if _, ok := s.held[name]; ok {
		s.mu.Unlock()
		return false, nil // held, or being taken, by another caller of this process
	}
	s.seq++
	h := heldLock{owner: fmt.Sprintf("%s-%d", s.token, s.seq), stop: make(chan struct{}), done: make(chan struct{})}
	s.held[name] = h // reserved: other callers here wait for it
	s.mu.Unlock()

	now := sqldb.Timestamp(s.opts.Now())
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO autotls_locks (name, owner, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
		WHERE autotls_locks.expires_at <= ?`), name, h.owner, now.Add(s.opts.LockTTL), now)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil || n == 0 {
		s.mu.Lock()
		delete(s.held, name)
		s.mu.Unlock()
		if err != nil {
			return false, fmt.Errorf("autotls sqlstore: lock %s: %w", name, err)
		}
		return false, nil
	}
	go s.keepAlive(name, h)
	return true, nil
}

// keepAlive renews a held lock every LockTTL/3 until it is released.
func (s *Storage) keepAlive(name string, h heldLock) {
	defer close(h.done)
	t := time.NewTicker(s.opts.LockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			_ = s.RenewLockLease(context.Background(), name, s.opts.LockTTL)
		}
	}
}

// RenewLockLease implements certmagic.LockLeaseRenewer: the held lock
// name expires lease from now.
func (s *Storage) RenewLockLease(ctx context.Context, name string, lease time.Duration) error {
	s.mu.Lock()
	h, ok := s.held[name]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("autotls sqlstore: renew lock %s: not held", name)
	}
	res, err := s.db.ExecContext(ctx, s.q("UPDATE autotls_locks SET expires_at = ? WHERE name = ? AND owner = ?"),
		sqldb.Timestamp(s.opts.Now().Add(lease)), name, h.owner)
	if err != nil {
		return fmt.Errorf("autotls sqlstore: renew lock %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("autotls sqlstore: renew lock %s: lost: it expired and another took it", name)
	}
	return nil
}

// Unlock implements certmagic.Locker.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	h, ok := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("autotls sqlstore: unlock %s: not held", name)
	}
	close(h.stop)
	<-h.done
	if _, err := s.db.ExecContext(ctx, s.q("DELETE FROM autotls_locks WHERE name = ? AND owner = ?"), name, h.owner); err != nil {
		return fmt.Errorf("autotls sqlstore: unlock %s: %w", name, err)
	}
	return nil
}
