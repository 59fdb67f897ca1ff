package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tink-crypto/tink-go/v2/tink"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/localkms"
	cryptostore "github.com/saaskit/saaskit/crypto/sqlstore"
	"github.com/saaskit/saaskit/internal/sqldb"
)

// The databases of a service's data directory.
const (
	serviceDB = "saas.db"
	// backupKeysDB keeps the backup key apart from the database it
	// protects, so that losing that database does not lose its backups.
	backupKeysDB = "backup-keys.db"
)

// service is where a service keeps its state: its data directory (the
// root keyset, backups, the backup key store, and saas.db) and, when it
// runs on PostgreSQL, the database that then holds what saas.db would.
type service struct{ data, db string }

// openDB opens the service's database: PostgreSQL when the service runs
// on it, else saas.db in the data directory, made if create is set.
func (s *service) openDB(ctx context.Context, create bool) (*sqldb.DB, error) {
	if s.db != "" {
		return sqldb.Open(ctx, s.db)
	}
	return openDBFile(ctx, s.data, serviceDB, create)
}

// openDB opens saas.db in dataDir, made if create is set.
func openDB(ctx context.Context, dataDir string, create bool) (*sqldb.DB, error) {
	return (&service{data: dataDir}).openDB(ctx, create)
}

// openDBFile opens the data directory's database file, made if create
// is set.
func openDBFile(ctx context.Context, dataDir, file string, create bool) (*sqldb.DB, error) {
	path, err := dataFile(dataDir, file, create)
	if err != nil {
		return nil, err
	}
	return sqldb.Open(ctx, "sqlite:"+path)
}

// dataFile is the path of file in the data directory, which must exist,
// as must the file unless create is set.
func dataFile(dataDir, file string, create bool) (string, error) {
	if _, err := os.Stat(dataDir); err != nil {
		return "", fmt.Errorf("data directory: %w (name the service's with --data)", err)
	}
	path := filepath.Join(dataDir, file)
	if _, err := os.Stat(path); err != nil && !create {
		return "", fmt.Errorf("no %s in %s: %w", file, dataDir, err)
	}
	return path, nil
}

// openReadOnly opens the service's database for reading only: a
// checking command never writes to it.
func (s *service) openReadOnly(ctx context.Context) (*sqldb.DB, error) {
	if s.db != "" {
		return sqldb.Open(ctx, s.db)
	}
	path, err := dataFile(s.data, serviceDB, false)
	if err != nil {
		return nil, err
	}
	return sqldb.Open(ctx, "file:"+path+"?mode=ro")
}

// openKeyring opens the service's keyring: its root keyset, and the key
// store in its database, which it returns open too.
func openKeyring(ctx context.Context, svc *service, create bool) (*skcrypto.Keyring, *sqldb.DB, func(), error) {
	root, err := rootKey(svc.data)
	if err != nil {
		return nil, nil, nil, err
	}
	db, err := svc.openDB(ctx, create)
	if err != nil {
		return nil, nil, nil, err
	}
	return keyringOn(ctx, root, db)
}

// openBackupKeyring opens the keyring of the backup key: the root
// keyset, and the key store in backup-keys.db in the data directory.
func openBackupKeyring(ctx context.Context, dataDir string) (*skcrypto.Keyring, func(), error) {
	root, err := rootKey(dataDir)
	if err != nil {
		return nil, nil, err
	}
	db, err := openDBFile(ctx, dataDir, backupKeysDB, true)
	if err != nil {
		return nil, nil, err
	}
	keys, _, closeKeys, err := keyringOn(ctx, root, db)
	return keys, closeKeys, err
}

// rootKey opens the root keyset of the data directory with the
// passphrase of SAASKIT_ROOT_PASSPHRASE, else of the demo's file.
func rootKey(dataDir string) (tink.AEAD, error) {
	passphrase := []byte(os.Getenv("SAASKIT_ROOT_PASSPHRASE"))
	if len(passphrase) == 0 {
		p, err := os.ReadFile(filepath.Join(dataDir, "root.passphrase"))
		if err != nil {
			return nil, errors.New("set SAASKIT_ROOT_PASSPHRASE (the root key's passphrase); no demo passphrase file either")
		}
		passphrase = p
	}
	kms, err := localkms.New(passphrase, localkms.Options{})
	if err != nil {
		return nil, err
	}
	root, err := kms.GetAEAD(localkms.NewKeyURI(filepath.Join(dataDir, "root.keyset")))
	if err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	return root, nil
}

// keyringOn opens a keyring under root with its key store in db, and
// closes db if it cannot.
func keyringOn(ctx context.Context, root tink.AEAD, db *sqldb.DB) (*skcrypto.Keyring, *sqldb.DB, func(), error) {
	keys, err := keyringOver(ctx, root, db.DB)
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return keys, db, func() { keys.Close(); db.Close() }, nil
}

// keyringOver opens a keyring under root with its key store in db.
func keyringOver(ctx context.Context, root tink.AEAD, db *sql.DB) (*skcrypto.Keyring, error) {
	st, err := cryptostore.New(db)
	if err == nil {
		err = st.Migrate(ctx)
	}
	if err != nil {
		return nil, err
	}
	return skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
}

// serviceKeyring opens the service's keyring over its open database db.
func (c *cli) serviceKeyring(ctx context.Context, db *sql.DB) (*skcrypto.Keyring, error) {
	root, err := rootKey(c.svc.data)
	if err != nil {
		return nil, err
	}
	return keyringOver(ctx, root, db)
}

// printer writes results as text or JSON.
type printer struct {
	w    io.Writer
	json bool
}

func (p printer) print(v any, text func(io.Writer)) error {
	if p.json {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(p.w)
	return nil
}
