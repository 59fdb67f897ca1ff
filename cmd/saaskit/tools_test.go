package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/gdpr/audit"
	auditstore "github.com/saaskit/saaskit/gdpr/audit/sqlstore"
	"github.com/saaskit/saaskit/tenancy"
	tenantstore "github.com/saaskit/saaskit/tenancy/sqlstore"
)

// The Standard Webhooks specification's example: secret, id, timestamp,
// payload and signature (github.com/standard-webhooks/standard-webhooks).
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = "1614265330"
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestWebhookSignAndVerify(t *testing.T) {
	out, err := saaskitWithInput(t, specBody, "webhook", "sign", "--secret", specSecret, "--id", specID, "--timestamp", specTimestamp, "--json")
	require.NoError(t, err)
	var h map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &h), out)
	assert.Equal(t, map[string]string{"webhook-id": specID, "webhook-timestamp": specTimestamp, "webhook-signature": specSignature}, h)

	// The specification's timestamp is years old: verify with a tolerance
	// that reaches it, and fail without one.
	verifyArgs := []string{"webhook", "verify", "--secret", specSecret, "--id", specID, "--timestamp", specTimestamp, "--signature", specSignature}
	out, err = saaskitWithInput(t, specBody, append(verifyArgs, "--tolerance", "87600h")...)
	require.NoError(t, err)
	assert.Equal(t, "valid\n", out)
	_, err = saaskitWithInput(t, specBody, verifyArgs...)
	assert.Equal(t, exitBad, exitCode(err), "%v", err)
	_, err = saaskitWithInput(t, `{"test": 2432232315}`, append(verifyArgs, "--tolerance", "87600h")...)
	assert.Equal(t, exitBad, exitCode(err), "%v", err)

	// The payload can come from a file, and the secret must be one.
	body := filepath.Join(t.TempDir(), "body.json")
	require.NoError(t, os.WriteFile(body, []byte(specBody), 0o600))
	out, err = saaskit(t, "webhook", "sign", "--secret", specSecret, "--id", specID, "--timestamp", specTimestamp, body)
	require.NoError(t, err)
	assert.Contains(t, out, "webhook-signature: "+specSignature+"\n")
	_, err = saaskit(t, "webhook", "sign", "--secret", "hunter2", "--id", specID, body)
	assert.Equal(t, exitUsage, exitCode(err), "%v", err)
	_, err = saaskit(t, "webhook", "verify", "--secret", specSecret, body)
	assert.ErrorContains(t, err, "needs --id, --timestamp and --signature")
}

func TestFlagsValidateAndEval(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "flags.json")
	require.NoError(t, os.WriteFile(good, []byte(`{"flags": {"new-checkout": {
		"state": "ENABLED", "defaultVariant": "off",
		"variants": {"on": true, "off": false},
		"targeting": {"if": [{"in": [{"var": "tenantId"}, ["acme"]]}, "on"]}}}}`), 0o600))
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"flags": {"broken": {"state": "ENABLED", "defaultVariant": "missing", "variants": {"on": true}}}}`), 0o600))

	out, err := saaskit(t, "flags", "validate", good)
	require.NoError(t, err)
	assert.Equal(t, "ok      "+good+"\n", out)
	out, err = saaskit(t, "flags", "validate", good, bad)
	assert.Equal(t, exitBad, exitCode(err), "%v", err)
	assert.Contains(t, out, "INVALID "+bad+": ")
	assert.Contains(t, out, "broken")

	out, err = saaskit(t, "flags", "eval", good, "new-checkout", "--context", `{"tenantId": "acme"}`, "--json")
	require.NoError(t, err)
	var e evaluation
	require.NoError(t, json.Unmarshal([]byte(out), &e), out)
	assert.Equal(t, true, e.Value)
	assert.Equal(t, "on", e.Variant)
	assert.Equal(t, "TARGETING_MATCH", e.Reason)

	out, err = saaskit(t, "flags", "eval", good, "new-checkout", "--context", `{"tenantId": "globex"}`)
	require.NoError(t, err)
	assert.Equal(t, "new-checkout = false (variant \"off\", reason DEFAULT)\n", out)

	_, err = saaskit(t, "flags", "eval", good, "no-such-flag")
	assert.Equal(t, exitBad, exitCode(err), "%v", err)
	assert.ErrorContains(t, err, "FLAG_NOT_FOUND")
	_, err = saaskit(t, "flags", "eval", good, "new-checkout", "--context", `[1]`)
	assert.Equal(t, exitUsage, exitCode(err), "%v", err)
}

func TestKeysRotateAndShred(t *testing.T) {
	ctx := context.Background()
	data := dataDir(t)
	keys, _, closeKeys, err := openKeyring(ctx, &service{data: data}, true)
	require.NoError(t, err)
	ada := skcrypto.Scope{Tenant: "acme", Subject: "ada"}
	ct, err := keys.Encrypt(ctx, ada, []byte("ada@example.com"), nil)
	require.NoError(t, err)
	closeKeys()
	seedTenants(t, data, "acme")

	// Help runs nothing; an unknown tenant is an error, and gets nothing.
	_, err = saaskit(t, "keys", "--data", data, "rotate", "--help")
	assert.Equal(t, 0, exitCode(err), "%v", err)
	_, err = saaskit(t, "keys", "--data", data, "rotate", "nosuchtenant")
	assert.Equal(t, exitFailed, exitCode(err))
	assert.ErrorContains(t, err, `no tenant "nosuchtenant"`)

	out, err := saaskit(t, "keys", "rotate", "acme", "--data", data, "--json") // flags anywhere
	require.NoError(t, err)
	var rotated struct {
		KEKVersion int `json:"kek_version"`
		Rewrapped  int
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rotated), out)
	assert.Equal(t, 2, rotated.KEKVersion)
	assert.Equal(t, 1, rotated.Rewrapped)

	_, err = saaskit(t, "keys", "--data", data, "shred", "acme", "ada")
	assert.Equal(t, exitUsage, exitCode(err))
	assert.ErrorContains(t, err, "--yes")

	keys, _, closeKeys, err = openKeyring(ctx, &service{data: data}, false)
	require.NoError(t, err)
	got, err := keys.Decrypt(ctx, ada, ct, nil)
	require.NoError(t, err, "the rotated key still decrypts")
	assert.Equal(t, "ada@example.com", string(got))
	closeKeys()

	// A subject's shred is refused, before anything is destroyed, when
	// the audit trail could not name the subject.
	_, err = saaskit(t, "keys", "--data", data, "--yes", "shred", "acme", "ada")
	assert.ErrorContains(t, err, "SAASKIT_PSEUDONYM_KEY")
	require.NoError(t, os.WriteFile(filepath.Join(data, "pseudonym.key"), []byte("a pseudonym key"), 0o600))

	out, err = saaskit(t, "keys", "--data", data, "--yes", "shred", "acme", "ada")
	require.NoError(t, err)
	assert.Equal(t, "1 keys destroyed\n", out)
	keys, _, closeKeys, err = openKeyring(ctx, &service{data: data}, false)
	require.NoError(t, err)
	defer closeKeys()
	_, err = keys.Decrypt(ctx, ada, ct, nil)
	assert.ErrorIs(t, err, skcrypto.ErrKeyDestroyed)

	records := trailRecords(t, data, "acme")
	require.Len(t, records, 2)
	assert.Equal(t, "keys rotated", records[0].Action)
	assert.Equal(t, map[string]string{"kek_version": "2", "rewrapped": "1"}, records[0].Details)
	assert.Equal(t, "keys shredded", records[1].Action)
	assert.Equal(t, operatorName(), records[1].Actor)
	assert.Equal(t, audit.Pseudonym([]byte("a pseudonym key"), "acme", "ada"), records[1].Subject)

	_, err = saaskit(t, "keys", "--data", dataDir(t), "rotate", "acme")
	assert.ErrorContains(t, err, "no saas.db in")
}

func TestAuditVerify(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	db, err := openDB(ctx, data, true)
	require.NoError(t, err)
	defer db.Close()
	tenants, err := tenantstore.New(db.DB)
	require.NoError(t, err)
	require.NoError(t, tenants.Migrate(ctx))
	st, err := auditstore.New(db.DB)
	require.NoError(t, err)
	require.NoError(t, st.Migrate(ctx))
	trail, err := audit.New(st, audit.Options{})
	require.NoError(t, err)
	for _, id := range []string{"acme", "globex"} {
		require.NoError(t, tenants.Create(ctx, &tenancy.Tenant{ID: id, Slug: id, Name: id}))
		for _, action := range []string{"dsr.received", "dsr.completed"} {
			_, err := trail.Append(ctx, id, audit.Record{Actor: "system", Action: action})
			require.NoError(t, err)
		}
	}

	out, err := saaskit(t, "audit", "--data", data, "verify")
	require.NoError(t, err)
	assert.Equal(t, "intact  acme: 2 records\nintact  globex: 2 records\n", out)

	_, err = db.ExecContext(ctx, "UPDATE gdpr_audit SET action = 'dsr.denied' WHERE tenant_id = 'globex' AND seq = 2")
	require.NoError(t, err)
	out, err = saaskit(t, "audit", "--data", data, "--json", "verify", "globex")
	assert.Equal(t, exitBad, exitCode(err), "%v", err)
	var reports []audit.Report
	require.NoError(t, json.Unmarshal([]byte(out), &reports), out)
	require.Len(t, reports, 1)
	assert.False(t, reports[0].OK)
	assert.EqualValues(t, 2, reports[0].BrokenAt)

	// A cut tail leaves a valid chain: only a checkpoint taken before
	// shows it.
	_, err = saaskit(t, "audit", "--data", data, "checkpoint", "acme")
	assert.ErrorContains(t, err, "needs a key")
	t.Setenv("SAASKIT_CHECKPOINT_KEY", "a checkpoint key of 32 bytes....")
	out, err = saaskit(t, "audit", "--data", data, "checkpoint", "acme")
	require.NoError(t, err)
	assert.Equal(t, "checkpoint  acme at record 2\n", out)
	_, err = db.ExecContext(ctx, "DELETE FROM gdpr_audit WHERE tenant_id = 'acme' AND seq = 2")
	require.NoError(t, err)
	out, err = saaskit(t, "audit", "--data", data, "verify", "acme")
	assert.Equal(t, exitBad, exitCode(err), "a cut tail passed: %s", out)
	assert.Contains(t, out, "BROKEN  acme")
	t.Setenv("SAASKIT_CHECKPOINT_KEY", "another key, of 32 bytes too....")
	_, err = saaskit(t, "audit", "--data", data, "verify", "acme")
	assert.ErrorContains(t, err, "signature", "a checkpoint under another key is not believed")

	_, err = saaskit(t, "audit", "--data", data, "verify", "nosuchtenant")
	assert.Equal(t, exitFailed, exitCode(err), "an unknown tenant is not intact")
	assert.ErrorContains(t, err, `no tenant "nosuchtenant"`)
}

func TestGDPRExportEraseStatus(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	db, err := openDB(ctx, data, true)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.ExecContext(ctx, `CREATE TABLE notes (tenant_id TEXT, id TEXT PRIMARY KEY, user_id TEXT, body TEXT);
		CREATE TABLE logins (tenant_id TEXT, user_id TEXT, ip TEXT);
		INSERT INTO notes VALUES ('acme', 'n1', 'usr_42', 'call me'), ('acme', 'n2', 'usr_7', 'keep me');
		INSERT INTO logins VALUES ('acme', 'usr_42', '192.0.2.1'), ('globex', 'usr_42', '192.0.2.9')`)
	require.NoError(t, err)
	seedTenants(t, data, "acme", "globex")
	dsr := filepath.Join(t.TempDir(), "dsr.json")
	require.NoError(t, os.WriteFile(dsr, []byte(`{"tables": [
		{"table": "notes", "identity_column": "user_id", "identity_kind": "user_id", "key_column": "id", "erase": {"body": "fixed:[erased]"}},
		{"table": "logins", "identity_column": "user_id", "identity_kind": "user_id"}]}`), 0o600))

	_, err = saaskit(t, "gdpr", "--data", data, "--map", dsr, "export", "acme", "user_id=usr_42")
	assert.ErrorContains(t, err, "SAASKIT_PSEUDONYM_KEY", "requests are not run unless the trail can record them")
	t.Setenv("SAASKIT_PSEUDONYM_KEY", "a pseudonym key")

	out, err := saaskit(t, "gdpr", "--data", data, "--map", dsr, "export", "acme", "user_id=usr_42")
	require.NoError(t, err)
	assert.Contains(t, out, "call me")
	assert.Contains(t, out, "192.0.2.1")
	assert.NotContains(t, out, "keep me")
	assert.NotContains(t, out, "192.0.2.9", "another tenant's rows stay out")

	out, err = saaskit(t, "gdpr", "--data", data, "--map", dsr, "erase", "acme", "user_id=usr_42")
	require.NoError(t, err)
	assert.Contains(t, out, ": completed\n")
	var body string
	require.NoError(t, db.QueryRowContext(ctx, "SELECT body FROM notes WHERE id = 'n1'").Scan(&body))
	assert.Equal(t, "[erased]", body)
	require.NoError(t, db.QueryRowContext(ctx, "SELECT body FROM notes WHERE id = 'n2'").Scan(&body))
	assert.Equal(t, "keep me", body)
	var logins int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM logins").Scan(&logins))
	assert.Equal(t, 1, logins, "globex's login stays")

	out, err = saaskit(t, "gdpr", "--data", data, "--json", "status", "acme")
	require.NoError(t, err)
	var reqs []struct{ Kind, State string }
	require.NoError(t, json.Unmarshal([]byte(out), &reqs), out)
	require.Len(t, reqs, 2)
	assert.ElementsMatch(t, []string{"access", "erasure"}, []string{reqs[0].Kind, reqs[1].Kind})
	assert.Equal(t, "completed", reqs[0].State)

	var actions []string
	for _, r := range trailRecords(t, data, "acme") {
		actions = append(actions, r.Action)
		assert.Equal(t, operatorName(), r.Actor)
		assert.Equal(t, audit.Pseudonym([]byte("a pseudonym key"), "acme", "usr_42"), r.Subject)
	}
	assert.Equal(t, []string{"request submitted", "request verified", "request completed",
		"request submitted", "request verified", "request completed"}, actions)

	// Bad input is named.
	_, err = saaskit(t, "gdpr", "--data", data, "erase", "acme", "user_id=usr_42")
	assert.ErrorContains(t, err, "needs --map")
	_, err = saaskit(t, "gdpr", "--data", data, "--map", dsr, "erase", "acme", "usr_42")
	assert.ErrorContains(t, err, "want KIND=VALUE")
	badMap := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(badMap, []byte(`{"tables": [{"table": "notes", "identity_column": "user_id", "identity_kind": "user_id", "erase": {"body": "burn"}}]}`), 0o600))
	_, err = saaskit(t, "gdpr", "--data", data, "--map", badMap, "erase", "acme", "user_id=usr_42")
	assert.Equal(t, exitUsage, exitCode(err))
	assert.ErrorContains(t, err, `column body: erase strategy "burn"`)

	// An export whose file cannot be written fails: no lost data
	// reported as success.
	if _, err := os.Stat("/dev/full"); err == nil {
		_, err = saaskit(t, "gdpr", "--data", data, "--map", dsr, "--out", "/dev/full", "export", "acme", "user_id=usr_7")
		assert.Error(t, err, "an export to a full device succeeded")
		assert.Equal(t, exitFailed, exitCode(err))
		assert.ErrorContains(t, err, "stays verified, not completed")
		out, err := saaskit(t, "gdpr", "--data", data, "--json", "status", "acme")
		require.NoError(t, err)
		var reqs []struct{ Kind, State string }
		require.NoError(t, json.Unmarshal([]byte(out), &reqs), out)
		require.Len(t, reqs, 3)
		assert.Contains(t, []string{reqs[0].State, reqs[1].State, reqs[2].State}, "verified", "the failed export's request was completed")
	}
}

// trailRecords reads a tenant's audit trail from a data directory.
func trailRecords(t *testing.T, data, tenant string) []audit.Record {
	t.Helper()
	ctx := context.Background()
	db, err := openDB(ctx, data, false)
	require.NoError(t, err)
	defer db.Close()
	trail, _, err := auditTrail(db.DB)
	require.NoError(t, err)
	var records []audit.Record
	for r, err := range trail.Records(ctx, tenant, 0) {
		require.NoError(t, err)
		records = append(records, r)
	}
	return records
}
