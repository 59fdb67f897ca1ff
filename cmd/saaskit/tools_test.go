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
	keys, closeKeys, err := openKeyring(ctx, data, true)
	require.NoError(t, err)
	ada := skcrypto.Scope{Tenant: "acme", Subject: "ada"}
	ct, err := keys.Encrypt(ctx, ada, []byte("ada@example.com"), nil)
	require.NoError(t, err)
	closeKeys()

	out, err := saaskit(t, "keys", "--data", data, "--json", "rotate", "acme")
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

	keys, closeKeys, err = openKeyring(ctx, data, false)
	require.NoError(t, err)
	got, err := keys.Decrypt(ctx, ada, ct, nil)
	require.NoError(t, err, "the rotated key still decrypts")
	assert.Equal(t, "ada@example.com", string(got))
	closeKeys()

	out, err = saaskit(t, "keys", "--data", data, "--yes", "shred", "acme", "ada")
	require.NoError(t, err)
	assert.Equal(t, "1 keys destroyed\n", out)
	keys, closeKeys, err = openKeyring(ctx, data, false)
	require.NoError(t, err)
	defer closeKeys()
	_, err = keys.Decrypt(ctx, ada, ct, nil)
	assert.ErrorIs(t, err, skcrypto.ErrKeyDestroyed)

	_, err = saaskit(t, "keys", "--data", dataDir(t), "rotate", "acme")
	assert.ErrorContains(t, err, "no service database")
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
}
