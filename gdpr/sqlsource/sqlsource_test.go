package sqlsource_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/cryptotest"
	cryptomem "github.com/saaskit/saaskit/crypto/memstore"
	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/gdprtest"
	"github.com/saaskit/saaskit/gdpr/sqlsource"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
)

func seedContacts(t *testing.T, db *sqldb.DB) {
	t.Helper()
	_, err := db.Exec(`CREATE TABLE contacts (
		id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, user_id TEXT, email TEXT, name TEXT, city TEXT, score INTEGER)`)
	require.NoError(t, err)
	for _, row := range [][]any{
		{"c1", "acme", "usr_ada", "ada@example.com", "Ada", "London", 7},
		{"c2", "acme", "usr_ada", "ada@work.example", "Ada L.", "Paris", 9},
		{"c3", "acme", "usr_bob", "bob@example.com", "Bob", "Rome", 3},
		{"c4", "globex", "usr_ada", "other@example.com", "Not our Ada", "Oslo", 1},
	} {
		_, err := db.Exec(db.Dialect.Rebind("INSERT INTO contacts (id, tenant_id, user_id, email, name, city, score) VALUES (?, ?, ?, ?, ?, ?, ?)"), row...)
		require.NoError(t, err)
	}
}

func contact(t *testing.T, db *sqldb.DB, id string) (userID, email, name, city sql.NullString) {
	t.Helper()
	require.NoError(t, db.QueryRow(db.Dialect.Rebind("SELECT user_id, email, name, city FROM contacts WHERE id = ?"), id).Scan(&userID, &email, &name, &city))
	return
}

var ada = gdpr.Subject{Identities: []gdpr.Identity{{Kind: "user_id", Value: "usr_ada"}}}

func TestTableSource(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		seedContacts(t, db)
		key := []byte("0123456789abcdef0123456789abcdef")
		src, err := sqlsource.New(db.DB, sqlsource.Table{
			Table: "contacts", IdentityColumn: "user_id", IdentityKind: "user_id", KeyColumn: "id",
			Columns: []string{"id", "email", "name", "city"},
			Erase: map[string]sqlsource.Strategy{
				"email": sqlsource.Hash(key), "name": sqlsource.Fixed("[erased]"), "city": sqlsource.Null(), "user_id": sqlsource.Random(),
			},
		})
		require.NoError(t, err)

		var got []map[string]any
		require.NoError(t, src.Export(ctx, "acme", ada, func(r any) error {
			got = append(got, r.(map[string]any))
			return nil
		}))
		require.Len(t, got, 2, "only acme's rows of this subject")
		assert.ElementsMatch(t, []any{"ada@example.com", "ada@work.example"}, []any{got[0]["email"], got[1]["email"]})

		res, err := src.Erase(ctx, "acme", ada)
		require.NoError(t, err)
		assert.Equal(t, 2, res.Records)
		userID, email, name, city := contact(t, db, "c1")
		assert.Len(t, email.String, 64, "the email is an HMAC now")
		assert.NotEqual(t, "ada@example.com", email.String)
		assert.Equal(t, "[erased]", name.String)
		assert.False(t, city.Valid, "nulled")
		assert.Len(t, userID.String, 32, "the identity itself is replaced, so the rows are no longer the subject's")
		_, email2, _, _ := contact(t, db, "c2")
		assert.NotEqual(t, email.String, email2.String, "hashes per value")

		_, bobEmail, _, _ := contact(t, db, "c3")
		assert.Equal(t, "bob@example.com", bobEmail.String, "other subjects untouched")
		_, otherEmail, _, _ := contact(t, db, "c4")
		assert.Equal(t, "other@example.com", otherEmail.String, "other tenants untouched")

		res, err = src.Erase(ctx, "acme", ada)
		require.NoError(t, err, "erasing again is harmless")
		assert.Zero(t, res.Records)

		deleter, err := sqlsource.New(db.DB, sqlsource.Table{Name: "contacts-delete", Table: "contacts", IdentityColumn: "user_id", IdentityKind: "user_id"})
		require.NoError(t, err)
		res, err = deleter.Erase(ctx, "globex", ada)
		require.NoError(t, err)
		assert.Equal(t, 1, res.Records)
		var n int
		require.NoError(t, db.QueryRow("SELECT count(*) FROM contacts").Scan(&n))
		assert.Equal(t, 3, n)
	})
}

func TestTableSourceValidation(t *testing.T) {
	db := sqldbtest.OpenSQLite(t)
	for name, tbl := range map[string]sqlsource.Table{
		"bad table":           {Table: "contacts; DROP TABLE x", IdentityColumn: "user_id", IdentityKind: "user_id"},
		"bad column":          {Table: "contacts", IdentityColumn: "user id", IdentityKind: "user_id"},
		"bad kind":            {Table: "contacts", IdentityColumn: "user_id", IdentityKind: "User"},
		"hash without key":    {Table: "contacts", IdentityColumn: "user_id", IdentityKind: "user_id", Erase: map[string]sqlsource.Strategy{"email": sqlsource.Hash([]byte("0123456789abcdef"))}},
		"short hash key":      {Table: "contacts", IdentityColumn: "user_id", IdentityKind: "user_id", KeyColumn: "id", Erase: map[string]sqlsource.Strategy{"email": sqlsource.Hash([]byte("short"))}},
		"strategy missing":    {Table: "contacts", IdentityColumn: "user_id", IdentityKind: "user_id", Erase: map[string]sqlsource.Strategy{"email": {}}},
		"bad strategy column": {Table: "contacts", IdentityColumn: "user_id", IdentityKind: "user_id", Erase: map[string]sqlsource.Strategy{"e-mail": sqlsource.Null()}},
		"reserved table name": {Table: "manifest", IdentityColumn: "user_id", IdentityKind: "user_id"},
		"reserved name":       {Name: "manifest", Table: "contacts", IdentityColumn: "user_id", IdentityKind: "user_id"},
		"bad name":            {Name: "Contacts", Table: "contacts", IdentityColumn: "user_id", IdentityKind: "user_id"},
	} {
		_, err := sqlsource.New(db.DB, tbl)
		assert.ErrorIs(t, err, gdpr.ErrInvalid, name)
	}
	_, err := sqlsource.New(db.DB, sqlsource.Table{Name: "manifest-rows", Table: "manifest", IdentityColumn: "user_id", IdentityKind: "user_id"})
	assert.NoError(t, err, "a table named manifest is a source under another name")
}

// TestBinaryColumnsExportAsBase64: bytes that are not text (an encrypted
// column) are exported as base64 and said to be binary, never as
// garbled text; text stored as bytes stays text.
func TestBinaryColumnsExportAsBase64(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		blob := "BLOB"
		if db.Dialect == sqldb.Postgres {
			blob = "BYTEA"
		}
		_, err := db.Exec(`CREATE TABLE secrets (tenant_id TEXT, user_id TEXT, sealed ` + blob + `, label ` + blob + `)`)
		require.NoError(t, err)
		ciphertext := []byte{0x01, 0xff, 0x00, 0x9c, 'x'}
		_, err = db.Exec(db.Dialect.Rebind("INSERT INTO secrets VALUES (?, ?, ?, ?)"), "acme", "usr_ada", ciphertext, []byte("plain words"))
		require.NoError(t, err)
		src, err := sqlsource.New(db.DB, sqlsource.Table{Table: "secrets", IdentityColumn: "user_id", IdentityKind: "user_id"})
		require.NoError(t, err)
		var got map[string]any
		require.NoError(t, src.Export(ctx, "acme", ada, func(r any) error { got = r.(map[string]any); return nil }))
		sealed, ok := got["sealed"].(sqlsource.Binary)
		require.True(t, ok, "the ciphertext is %T %v", got["sealed"], got["sealed"])
		assert.Equal(t, "Af8AnHg=", sealed.Base64)
		assert.Contains(t, sealed.Note, "not decrypted")
		assert.Equal(t, "plain words", got["label"])
	})
}

// TestEncryptedColumnsExportDecrypted: a column encrypted under the
// subject's key is exported as its plaintext; once the key is shredded,
// as base64 said to be undecryptable, never as raw ciphertext.
func TestEncryptedColumnsExportDecrypted(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		st := cryptomem.New()
		keys, err := skcrypto.NewKeyring(cryptotest.NewRootKey(t), st, st, skcrypto.Options{})
		require.NoError(t, err)
		blob := "BLOB"
		if db.Dialect == sqldb.Postgres {
			blob = "BYTEA"
		}
		_, err = db.Exec(`CREATE TABLE members (tenant_id TEXT, id TEXT, email ` + blob + `)`)
		require.NoError(t, err)
		scope := skcrypto.Scope{Tenant: "acme", Subject: "usr_ada"}
		ct, err := keys.Encrypt(ctx, scope, []byte("ada@example.com"), []byte("members.email:usr_ada"))
		require.NoError(t, err)
		_, err = db.Exec(db.Dialect.Rebind("INSERT INTO members VALUES (?, ?, ?)"), "acme", "usr_ada", ct)
		require.NoError(t, err)
		decrypt := func(ctx context.Context, tenantID string, row map[string]any, ciphertext []byte) ([]byte, error) {
			id := row["id"].(string)
			return keys.Decrypt(ctx, skcrypto.Scope{Tenant: tenantID, Subject: id}, ciphertext, []byte("members.email:"+id))
		}
		src, err := sqlsource.New(db.DB, sqlsource.Table{Table: "members", IdentityColumn: "id", IdentityKind: "user_id",
			Decrypt: map[string]sqlsource.Decrypter{"email": decrypt}})
		require.NoError(t, err)
		export := func() map[string]any {
			var got map[string]any
			require.NoError(t, src.Export(ctx, "acme", ada, func(r any) error { got = r.(map[string]any); return nil }))
			return got
		}
		assert.Equal(t, "ada@example.com", export()["email"])

		_, err = keys.ShredSubject(ctx, "acme", "usr_ada")
		require.NoError(t, err)
		email, ok := export()["email"].(sqlsource.Binary)
		require.True(t, ok, "a shredded value is %T", export()["email"])
		assert.Equal(t, base64.StdEncoding.EncodeToString(ct), email.Base64)
		assert.Contains(t, email.Note, "not decrypted")
		assert.Contains(t, email.Note, "destroyed")

		_, err = sqlsource.New(db.DB, sqlsource.Table{Table: "members", IdentityColumn: "id", IdentityKind: "user_id",
			Decrypt: map[string]sqlsource.Decrypter{"email; DROP": decrypt}})
		assert.ErrorIs(t, err, gdpr.ErrInvalid, "a decrypted column's name is checked as the others are")
	})
}

// TestHashMasksOnce: erasing again, as a step run again after a crash
// does, leaves Hash's pseudonyms as they are, so they still join with
// the same value hashed once elsewhere; a value that only looks like a
// pseudonym is hashed all the same.
func TestHashMasksOnce(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		seedContacts(t, db)
		lookalike := strings.Repeat("ab", 32) // 64 hex digits, not a pseudonym
		_, err := db.Exec(db.Dialect.Rebind("UPDATE contacts SET city = ? WHERE id = ?"), lookalike, "c2")
		require.NoError(t, err)
		key := []byte("0123456789abcdef0123456789abcdef")
		src, err := sqlsource.New(db.DB, sqlsource.Table{ // the rows stay the subject's, pseudonymized
			Table: "contacts", IdentityColumn: "user_id", IdentityKind: "user_id", KeyColumn: "id",
			Erase: map[string]sqlsource.Strategy{"email": sqlsource.Hash(key), "city": sqlsource.Hash(key), "name": sqlsource.Fixed("[erased]")},
		})
		require.NoError(t, err)

		_, err = src.Erase(ctx, "acme", ada)
		require.NoError(t, err)
		_, email1, _, city1 := contact(t, db, "c1")
		_, email2, _, city2 := contact(t, db, "c2")
		assert.Equal(t, sqlsource.Pseudonym(key, []byte("ada@example.com")), email1.String, "joins with the value hashed once")
		assert.Equal(t, sqlsource.Pseudonym(key, []byte(lookalike)), city2.String, "a lookalike is hashed")

		for range 2 {
			_, err = src.Erase(ctx, "acme", ada)
			require.NoError(t, err)
		}
		_, again1, _, againCity1 := contact(t, db, "c1")
		_, again2, _, againCity2 := contact(t, db, "c2")
		assert.Equal(t, []string{email1.String, city1.String, email2.String, city2.String},
			[]string{again1.String, againCity1.String, again2.String, againCity2.String}, "erasing again changed nothing")
		assert.Len(t, email1.String, 64)
		assert.NotEqual(t, sqlsource.Pseudonym([]byte("another key, 32 bytes long......"), []byte("ada@example.com")), email1.String)
	})
}

// TestTableSourceCounts: a table source is a gdpr.Counter of the
// subject's rows, so a step run again after a lost checkpoint still
// reports the rows the first run erased.
func TestTableSourceCounts(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		seedContacts(t, db)
		src, err := sqlsource.New(db.DB, sqlsource.Table{Table: "contacts", IdentityColumn: "user_id", IdentityKind: "user_id"})
		require.NoError(t, err)
		counter, ok := src.(gdpr.Counter)
		require.True(t, ok)
		n, err := counter.Count(ctx, "acme", ada)
		require.NoError(t, err)
		assert.Equal(t, 2, n, "acme's rows of ada")
		n, err = counter.Count(ctx, "acme", gdpr.Subject{Identities: []gdpr.Identity{{Kind: "email", Value: "ada@example.com"}}})
		require.NoError(t, err)
		assert.Zero(t, n, "a subject known by another identity has no rows here")
	})
}

// TestSourceConformance runs the gdpr.Source suite on a table whose
// erasure replaces the subject's identity, on both engines.
func TestSourceConformance(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		n := 0
		gdprtest.RunSourceTests(t, func(t *testing.T) gdprtest.SourceFixture {
			n++
			table := fmt.Sprintf("profiles_%d", n)
			_, err := db.Exec("CREATE TABLE " + table + " (id VARCHAR(64) PRIMARY KEY, tenant_id TEXT NOT NULL, user_id TEXT, email TEXT)")
			require.NoError(t, err)
			src, err := sqlsource.New(db.DB, sqlsource.Table{
				Table: table, IdentityColumn: "user_id", IdentityKind: gdpr.SubjectKey, KeyColumn: "id",
				Columns: []string{"id", "email"},
				Erase:   map[string]sqlsource.Strategy{"email": sqlsource.Null(), "user_id": sqlsource.Random()},
			})
			require.NoError(t, err)
			rows := 0
			return gdprtest.SourceFixture{Source: src, Add: func(t *testing.T, tenant string, s gdpr.Subject) {
				rows++
				_, err := db.Exec(db.Dialect.Rebind("INSERT INTO "+table+" (id, tenant_id, user_id, email) VALUES (?, ?, ?, ?)"),
					fmt.Sprintf("p%d", rows), tenant, s.Value(gdpr.SubjectKey), s.Value(gdpr.SubjectKey)+"@example.com")
				require.NoError(t, err)
			}}
		})
	})
}
