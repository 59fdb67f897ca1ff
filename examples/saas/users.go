package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strings"

	"github.com/tink-crypto/tink-go/v2/tink"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/localkms"
	cryptostore "github.com/saaskit/saaskit/crypto/sqlstore"
	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/problem"
	"github.com/saaskit/saaskit/sqlopen"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/versioning"
)

// users keeps each tenant's users with their email encrypted under a key
// of their own (so one user can be erased by shredding it) and a blind
// index to find them by email without the database seeing it.
type users struct {
	db     *sql.DB
	keys   *skcrypto.Keyring
	hooks  *hooks
	logger *slog.Logger
	// erasable is the privacy engine's check of legal holds
	// (gdpr.Engine.CheckErasable), set once the engine exists.
	erasable func(ctx context.Context, tenantID string, s gdpr.Subject) error
}

// The email and the profile (names) are encrypted under the user's key.
const usersSchema = `CREATE TABLE IF NOT EXISTS demo_users (
	tenant_id   TEXT NOT NULL,
	id          TEXT NOT NULL,
	email       BLOB NOT NULL,
	email_index BLOB NOT NULL,
	profile     BLOB,
	PRIMARY KEY (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS demo_users_email ON demo_users (tenant_id, email_index);`

// user is the user resource at the head version; older versions are
// derived by the migrations in versions.go.
type user struct {
	ID        string `json:"id"`
	Email     string `json:"email_address,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Erased    bool   `json:"erased,omitempty"`
}

// newUser is the body of POST /api/users at the head version.
type newUser struct {
	Email     string `json:"email_address"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
}

// profile is the encrypted part of a user besides the email.
type profile struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

// openKeyring makes the keyring whose root key is a passphrase-protected
// keyset file in the data directory. The passphrase comes from
// SAASKIT_ROOT_PASSPHRASE; without it the demo keeps a random one beside
// the keyset, which only a demo should do.
func openKeyring(ctx context.Context, db *sql.DB, dataDir string) (*skcrypto.Keyring, tink.AEAD, error) {
	passphrase := []byte(os.Getenv("SAASKIT_ROOT_PASSPHRASE"))
	if len(passphrase) == 0 {
		var err error
		if passphrase, err = demoPassphrase(filepath.Join(dataDir, "root.passphrase")); err != nil {
			return nil, nil, err
		}
	}
	kms, err := localkms.New(passphrase, localkms.Options{Create: true})
	if err != nil {
		return nil, nil, err
	}
	root, err := kms.GetAEAD(localkms.NewKeyURI(filepath.Join(dataDir, "root.keyset")))
	if err != nil {
		return nil, nil, err
	}
	st, err := cryptostore.New(db)
	if err != nil {
		return nil, nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		return nil, nil, err
	}
	schema, addProfile := usersSchema, "ALTER TABLE demo_users ADD COLUMN profile BLOB"
	if d, _ := sqlopen.DialectOf(db); d == sqlopen.Postgres {
		schema = strings.ReplaceAll(schema, "BLOB", "BYTEA")
		addProfile = "ALTER TABLE demo_users ADD COLUMN IF NOT EXISTS profile BYTEA"
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, nil, fmt.Errorf("users table: %w", err)
	}
	// Databases from before profiles existed gain the column.
	if _, err := db.ExecContext(ctx, addProfile); err != nil && !strings.Contains(err.Error(), "duplicate column") {
		return nil, nil, fmt.Errorf("users table: %w", err)
	}
	keys, err := skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
	return keys, root, err
}

// openBackupKeyring opens the keyring of the backup key, under the same
// root key but with its key store in <data>/backup-keys.db: apart from
// the database the backups protect, which they must outlive. A real
// service keeps it apart too: another database, or its KMS.
func openBackupKeyring(ctx context.Context, root tink.AEAD, dataDir string) (*skcrypto.Keyring, func() error, error) {
	db, err := sqlopen.Open(ctx, "sqlite:"+filepath.Join(dataDir, "backup-keys.db"))
	if err != nil {
		return nil, nil, err
	}
	st, err := cryptostore.New(db)
	if err == nil {
		err = st.Migrate(ctx)
	}
	var keys *skcrypto.Keyring
	if err == nil {
		keys, err = skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
	}
	if err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("backup keyring: %w", err)
	}
	return keys, func() error { return errors.Join(keys.Close(), db.Close()) }, nil
}

func demoPassphrase(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		return b, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	p := []byte(hex.EncodeToString(randomBytes(32)))
	if err := os.WriteFile(path, p, 0o600); err != nil {
		return nil, fmt.Errorf("demo passphrase: %w", err)
	}
	return p, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// rebind writes a query's '?' placeholders as db's driver wants them
// ($1, $2, ... on PostgreSQL).
func rebind(db *sql.DB, query string) string {
	d, _ := sqlopen.DialectOf(db)
	return d.Rebind(query)
}

func normalizeEmail(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(s)
	return s, err == nil && a.Address == s && len(s) <= 254
}

// create handles POST /api/users {"email_address", "first_name",
// "last_name"} (at the head version).
func (u *users) create(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	var req newUser
	if !readJSON(w, r, 4<<10, &req, "{email_address, first_name, last_name}") {
		return
	}
	email, ok := normalizeEmail(req.Email)
	if !ok {
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Detail: "email_address must be a single address"})
		return
	}
	if len(req.FirstName) > 100 || len(req.LastName) > 100 {
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Detail: "first_name and last_name are at most 100 bytes"})
		return
	}
	id := "usr_" + hex.EncodeToString(randomBytes(8))
	scope := skcrypto.Scope{Tenant: t.ID, Subject: id}
	ct, err := u.keys.Encrypt(r.Context(), scope, []byte(email), []byte("demo_users.email:"+id))
	if err != nil {
		u.fail(w, r, err)
		return
	}
	plain, _ := json.Marshal(profile{FirstName: req.FirstName, LastName: req.LastName})
	prof, err := u.keys.Encrypt(r.Context(), scope, plain, []byte("demo_users.profile:"+id))
	if err != nil {
		u.fail(w, r, err)
		return
	}
	idx, err := u.keys.BlindIndex(r.Context(), t.ID, "demo_users.email", []byte(email))
	if err != nil {
		u.fail(w, r, err)
		return
	}
	created := user{ID: id, Email: email, FirstName: req.FirstName, LastName: req.LastName}
	// The user row and its user.created event commit together.
	tx, err := u.db.BeginTx(r.Context(), nil)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(r.Context(), rebind(u.db, "INSERT INTO demo_users (tenant_id, id, email, email_index, profile) VALUES (?, ?, ?, ?, ?)"), t.ID, id, ct, idx, prof); err != nil {
		u.fail(w, r, err)
		return
	}
	if err := u.hooks.emit(r.Context(), tx, t.ID, "user.created", id, id, created); err != nil {
		u.fail(w, r, err)
		return
	}
	if err := tx.Commit(); err != nil {
		u.fail(w, r, err)
		return
	}
	u.hooks.sent() // the events committed: deliver them now, not at the next poll
	versioning.SetType(r.Context(), "user")
	writeJSON(w, http.StatusCreated, created)
}

// find handles GET /api/users?email=...: a lookup by blind index.
func (u *users) find(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	email, ok := normalizeEmail(r.URL.Query().Get("email"))
	if !ok {
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Detail: "query parameter email must be a single address"})
		return
	}
	idx, err := u.keys.BlindIndex(r.Context(), t.ID, "demo_users.email", []byte(email))
	if err != nil {
		u.fail(w, r, err)
		return
	}
	rows, err := u.db.QueryContext(r.Context(), rebind(u.db, "SELECT id, email, profile FROM demo_users WHERE tenant_id = ? AND email_index = ?"), t.ID, idx)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	defer rows.Close()
	found := []user{}
	for rows.Next() {
		var id string
		var ct, prof []byte
		if err := rows.Scan(&id, &ct, &prof); err != nil {
			u.fail(w, r, err)
			return
		}
		found = append(found, user{ID: id})
		switch err := u.decrypt(r.Context(), t.ID, &found[len(found)-1], ct, prof); {
		case errors.Is(err, skcrypto.ErrKeyDestroyed):
			found[len(found)-1].Erased = true
		case err != nil:
			u.fail(w, r, err)
			return
		}
	}
	if err := rows.Err(); err != nil {
		u.fail(w, r, err)
		return
	}
	versioning.SetType(r.Context(), "user")
	writeJSON(w, http.StatusOK, found)
}

// decrypt fills a user's email and names from their ciphertexts.
func (u *users) decrypt(ctx context.Context, tenantID string, usr *user, email, prof []byte) error {
	scope := skcrypto.Scope{Tenant: tenantID, Subject: usr.ID}
	pt, err := u.keys.Decrypt(ctx, scope, email, []byte("demo_users.email:"+usr.ID))
	if err != nil {
		return err
	}
	usr.Email = string(pt)
	if prof == nil { // created before profiles existed
		return nil
	}
	pt, err = u.keys.Decrypt(ctx, scope, prof, []byte("demo_users.profile:"+usr.ID))
	if err != nil {
		return err
	}
	var p profile
	if err := json.Unmarshal(pt, &p); err != nil {
		return err
	}
	usr.FirstName, usr.LastName = p.FirstName, p.LastName
	return nil
}

// erase handles DELETE /api/users/{id}: crypto-shredding the user's key
// makes their email unreadable everywhere, backups included.
func (u *users) erase(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	id := r.PathValue("id")
	if ok, err := u.exists(r.Context(), t.ID, id); err != nil {
		u.fail(w, r, err)
		return
	} else if !ok {
		problem.Write(w, problem.Details{Status: http.StatusNotFound, Detail: "no such user"})
		return
	}
	// A legal hold placed through any replica stops the erasure.
	if err := u.erasable(r.Context(), t.ID, gdpr.Subject{Identities: []gdpr.Identity{{Kind: gdpr.SubjectKey, Value: id}}}); err != nil {
		if errors.Is(err, gdpr.ErrHeld) {
			problem.Write(w, problem.Details{Status: http.StatusConflict, Detail: err.Error()})
		} else {
			u.fail(w, r, err)
		}
		return
	}
	ev, err := u.keys.ShredSubject(r.Context(), t.ID, id)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	// Erase the user's webhook messages too: they carried the email.
	if _, err := u.hooks.d.EraseSubject(r.Context(), t.ID, id); err != nil {
		u.fail(w, r, err)
		return
	}
	// And the events about them that the outbox and the stream keep.
	if err := u.hooks.bus.erase(r.Context(), t.ID, id); err != nil {
		u.fail(w, r, err)
		return
	}
	if err := u.hooks.emit(r.Context(), nil, t.ID, "user.erased", "", id, map[string]string{"id": id}); err != nil {
		u.fail(w, r, err)
		return
	}
	u.logger.InfoContext(r.Context(), "user keys shredded", slog.String("user.id", id), slog.Any("key.ids", ev.KeyIDs))
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "shredded_keys": ev.KeyIDs, "at": ev.At})
}

// exists reports whether the tenant has the user.
func (u *users) exists(ctx context.Context, tenantID, id string) (bool, error) {
	var one int
	err := u.db.QueryRowContext(ctx, rebind(u.db, "SELECT 1 FROM demo_users WHERE tenant_id = ? AND id = ?"), tenantID, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (u *users) fail(w http.ResponseWriter, r *http.Request, err error) {
	u.logger.ErrorContext(r.Context(), "users request failed", slog.String("error", err.Error()))
	problem.Write(w, problem.Details{Status: http.StatusInternalServerError, Detail: "internal error"})
}
