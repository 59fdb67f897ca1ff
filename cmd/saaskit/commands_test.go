package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/flags"
	flagstore "github.com/saaskit/saaskit/flags/sqlstore"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/tenancy"
	tenantstore "github.com/saaskit/saaskit/tenancy/sqlstore"
)

// commandPaths lists every command of the tree, as the words that run
// it.
func commandPaths(cmd *cobra.Command, path []string) [][]string {
	var all [][]string
	for _, sub := range cmd.Commands() {
		if sub.Hidden {
			continue
		}
		p := append(append([]string{}, path...), sub.Name())
		all = append(all, p)
		all = append(all, commandPaths(sub, p)...)
	}
	return all
}

// TestHelpRunsNothing: every command and subcommand has -h and --help,
// which print its usage, exit 0 and touch nothing, wherever on the
// line they stand; a group without its command, an unknown command and
// an unknown flag are usage errors.
func TestHelpRunsNothing(t *testing.T) {
	data := t.TempDir()
	paths := commandPaths(newRoot(&cli{}), nil)
	require.Greater(t, len(paths), 20)
	for _, path := range paths {
		for _, help := range []string{"-h", "--help"} {
			for _, args := range [][]string{append(path, help), append([]string{help}, path...), append(path, "acme", help, "--data", data)} {
				out, err := saaskit(t, args...)
				require.NoError(t, err, "%v", args)
				assert.Contains(t, out, "Usage:", "%v", args)
			}
		}
		_, err := saaskit(t, append(path, "--no-such-flag")...)
		assert.Equal(t, exitUsage, exitCode(err), "%v: %v", path, err)
	}
	entries, err := os.ReadDir(data)
	require.NoError(t, err)
	assert.Empty(t, entries, "help wrote to the data directory")

	for _, group := range [][]string{{}, {"backup"}, {"webhook"}, {"flags"}, {"keys"}, {"audit"}, {"gdpr"}} {
		_, err := saaskit(t, group...)
		assert.Equal(t, exitUsage, exitCode(err), "%v alone: %v", group, err)
		_, err = saaskit(t, append(group, "explode")...)
		assert.Equal(t, exitUsage, exitCode(err), "%v explode: %v", group, err)
		assert.ErrorContains(t, err, `unknown command "explode"`)
	}

	out, err := saaskit(t, "completion", "bash")
	require.NoError(t, err)
	assert.Contains(t, out, "bash completion")
	out, err = saaskit(t, "--version")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(out, "saaskit "), out)
}

// service is a service's state for the commands' tests: its data
// directory, the global flags that reach it, and its open database.
type testService struct {
	data  string
	flags []string
	db    *sqldb.DB
}

// cmd runs a command against the service, flags last.
func (s testService) cmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return saaskit(t, append(args, s.flags...)...)
}

// newTestService makes a service on engine (sqlite or postgres) with
// tenants acme and globex, a table of members whose email is encrypted
// under the member's key, and a flag on a ring.
func newTestService(t *testing.T, engine string) testService {
	ctx := context.Background()
	s := testService{data: dataDir(t)}
	s.flags = []string{"--data", s.data}
	if engine == "postgres" {
		s.db = sqldbtest.OpenPostgres(t)
		s.flags = append(s.flags, "--db", sqldbtest.DSN(t, s.db))
	} else {
		db, err := openDB(ctx, s.data, true)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		s.db = db
	}
	require.NoError(t, os.WriteFile(filepath.Join(s.data, "pseudonym.key"), []byte("a pseudonym key"), 0o600))
	t.Setenv("SAASKIT_CHECKPOINT_KEY", "a checkpoint key of 32 bytes....")

	tenants, err := tenantstore.New(s.db.DB)
	require.NoError(t, err)
	require.NoError(t, tenants.Migrate(ctx))
	for _, id := range []string{"acme", "globex"} {
		require.NoError(t, tenants.Create(ctx, &tenancy.Tenant{ID: id, Slug: id, Name: id}))
	}

	root, err := rootKey(s.data)
	require.NoError(t, err)
	keys, err := keyringOver(ctx, root, s.db.DB)
	require.NoError(t, err)
	defer keys.Close()
	blob := "BLOB"
	if s.db.Dialect == sqldb.Postgres {
		blob = "BYTEA"
	}
	_, err = s.db.ExecContext(ctx, "CREATE TABLE members (tenant_id TEXT, id TEXT PRIMARY KEY, email "+blob+")")
	require.NoError(t, err)
	for _, id := range []string{"usr_ada", "usr_bob"} {
		ct, err := keys.Encrypt(ctx, skcrypto.Scope{Tenant: "acme", Subject: id}, []byte(id+"@example.com"), []byte("members.email:"+id))
		require.NoError(t, err)
		_, err = s.db.ExecContext(ctx, s.db.Dialect.Rebind("INSERT INTO members VALUES ('acme', ?, ?)"), id, ct)
		require.NoError(t, err)
	}

	st, err := flagstore.New(s.db.DB, flagstore.Options{})
	require.NoError(t, err)
	require.NoError(t, st.Migrate(ctx))
	require.NoError(t, st.SetRing(ctx, "ada", "internal", "", "acme"))
	f, err := flags.RolloutFlag(flags.Rollout{Ring: "internal"})
	require.NoError(t, err)
	require.NoError(t, st.PutFlag(ctx, "ada", "invoices", f))
	return s
}

// TestEveryCommandOnBothEngines runs every command that works on the
// service's state against a service on SQLite and one on PostgreSQL,
// with the exit status of success, a failure and a usage error.
func TestEveryCommandOnBothEngines(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			s := newTestService(t, engine)
			status := func(want int, args ...string) string {
				t.Helper()
				out, err := s.cmd(t, args...)
				require.Equal(t, want, exitCode(err), "%v: %v\n%s", args, err, out)
				return out
			}
			dsr := filepath.Join(t.TempDir(), "dsr.json")
			require.NoError(t, os.WriteFile(dsr, []byte(`{"tables": [{"table": "members", "identity_column": "id",
				"identity_kind": "user_id", "decrypt": {"email": {"subject_column": "id", "associated_data": "members.email:{id}"}}}]}`), 0o600))

			// Completion offers the service's tenants, and its backups.
			out, err := saaskit(t, append(append([]string{"__complete"}, s.flags...), "keys", "rotate", "")...)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(out, "acme\nglobex\n"), out)

			// keys
			assert.Contains(t, status(0, "keys", "rotate", "acme"), "KEK version 2 is primary")
			status(exitFailed, "keys", "rotate", "nosuchtenant")
			status(exitUsage, "keys", "rotate")
			status(exitUsage, "keys", "shred", "acme", "usr_bob")

			// gdpr: the export decrypts what the rotation rewrapped.
			out = status(0, "gdpr", "export", "acme", "user_id=usr_ada", "--map", dsr)
			assert.Contains(t, out, "usr_ada@example.com")
			status(exitUsage, "gdpr", "export", "acme", "--map", dsr)
			status(exitUsage, "gdpr", "export", "acme", "user_id=usr_ada")
			status(exitFailed, "gdpr", "export", "nosuchtenant", "user_id=usr_ada", "--map", dsr)
			status(0, "gdpr", "erase", "acme", "user_id=usr_bob", "--map", dsr)
			var reqs []struct{ Kind, State string }
			require.NoError(t, json.Unmarshal([]byte(status(0, "gdpr", "status", "acme", "--json")), &reqs))
			assert.Len(t, reqs, 2)
			status(exitFailed, "gdpr", "status", "nosuchtenant")

			// A shredded subject's email exports as base64, said so.
			status(0, "keys", "shred", "acme", "usr_ada", "--yes")
			out = status(0, "gdpr", "export", "acme", "user_id=usr_ada", "--map", dsr)
			assert.NotContains(t, out, "usr_ada@example.com")
			assert.Contains(t, out, "destroyed")
			var pkg struct {
				Sources map[string][]map[string]any `json:"sources"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &pkg), out)
			require.Len(t, pkg.Sources["members"], 1)
			email, ok := pkg.Sources["members"][0]["email"].(map[string]any)
			require.True(t, ok, "the email is %v", pkg.Sources["members"][0]["email"])
			_, err = base64.StdEncoding.DecodeString(email["base64"].(string))
			assert.NoError(t, err)

			// audit: checkpoints, then a cut tail is found.
			status(0, "audit", "checkpoint")
			assert.Contains(t, status(0, "audit", "verify"), "intact  acme")
			status(exitFailed, "audit", "verify", "nosuchtenant")
			_, err = s.db.ExecContext(context.Background(), "DELETE FROM gdpr_audit WHERE tenant_id = 'acme' AND seq = (SELECT MAX(seq) FROM gdpr_audit WHERE tenant_id = 'acme')")
			require.NoError(t, err)
			assert.Contains(t, status(exitBad, "audit", "verify", "acme"), "BROKEN  acme")

			// flags, from the service's store, rings included.
			assert.Contains(t, status(0, "flags", "eval", "invoices", "--context", `{"tenantId": "acme"}`), "invoices = true")
			assert.Contains(t, status(0, "flags", "eval", "invoices", "--context", `{"tenantId": "globex"}`), "invoices = false")
			status(exitBad, "flags", "eval", "nosuchflag")
			status(exitUsage, "flags", "eval", "invoices", "--context", "[1]")

			// flags stale: nothing to tell without usage; then invoices
			// served only "on" for the last 40 days.
			assert.Contains(t, status(0, "flags", "stale"), "nothing can be told yet")
			st, err := flagstore.New(s.db.DB, flagstore.Options{})
			require.NoError(t, err)
			for d := 1; d <= 40; d++ {
				at := time.Now().AddDate(0, 0, -d)
				require.NoError(t, st.AddUsage(context.Background(), []flags.UsageRecord{{Flag: "invoices", Variant: "on", Day: at, Evaluations: 5, Last: at}}))
			}
			assert.Regexp(t, `invoices\s+rolled-out\s+served only "on"`, status(0, "flags", "stale"))
			var stale []flags.StaleFlag
			require.NoError(t, json.Unmarshal([]byte(status(0, "flags", "stale", "--days", "7", "--json")), &stale))
			require.Len(t, stale, 1)
			assert.Equal(t, flags.StaleRolledOut, stale[0].Kind)
			status(exitUsage, "flags", "stale", "--days", "0")

			// backup: the service's database, by default.
			var m struct{ ID, Source string }
			require.NoError(t, json.Unmarshal([]byte(status(0, "backup", "run", "--json")), &m))
			assert.Contains(t, status(0, "backup", "list"), m.ID)
			out, err = saaskit(t, append(append([]string{"__complete"}, s.flags...), "backup", "verify", "")...)
			require.NoError(t, err)
			assert.Contains(t, out, m.ID+"\t"+m.Source)
			assert.Contains(t, status(0, "backup", "verify"), "ok      "+m.ID)
			restored := filepath.Join(t.TempDir(), "restored")
			status(0, "backup", "restore", m.ID, "--to", restored)
			status(exitFailed, "backup", "restore", m.ID, "--to", restored)
			status(exitUsage, "backup", "restore", m.ID)
			status(exitUsage, "backup", "run", "--dir", t.TempDir(), "--file", dsr)
			status(exitUsage, "backup", "verify", "--level", "most")
			got, err := os.ReadFile(restored)
			require.NoError(t, err)
			if engine == "postgres" {
				_, err = os.Stat(filepath.Join(s.data, "saas.db"))
				assert.ErrorIs(t, err, os.ErrNotExist, "a saas.db was made beside the PostgreSQL database")
				assert.Equal(t, "postgres:saas", m.Source)
				assert.True(t, bytes.HasPrefix(got, []byte("PGDMP")), "a pg_dump archive")
				assert.Contains(t, string(got), "tenancy_tenants", "of the service's schema")
			} else {
				assert.Equal(t, "sqlite:saas.db", m.Source)
				db, err := sqldb.Open(context.Background(), "sqlite:"+restored)
				require.NoError(t, err)
				defer db.Close()
				var n int
				require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM tenancy_tenants").Scan(&n))
				assert.Equal(t, 2, n)
			}
			stored := filepath.Join(s.data, "backups", "data", m.ID)
			b, err := os.ReadFile(stored)
			require.NoError(t, err)
			b[len(b)/2] ^= 0x10
			require.NoError(t, os.WriteFile(stored, b, 0o600))
			assert.Contains(t, status(exitBad, "backup", "verify"), "FAILED  "+m.ID)
		})
	}
}
