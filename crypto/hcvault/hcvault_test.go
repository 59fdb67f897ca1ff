package hcvault_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/hcvault"
	"github.com/saaskit/saaskit/crypto/memstore"
)

// fakeTransit is a local stand-in for Vault's Transit secrets engine: the
// two endpoints the Tink client calls, PUT /v1/MOUNT/encrypt/NAME and
// PUT /v1/MOUNT/decrypt/NAME, with Vault's JSON shapes. It really
// encrypts, with AES-256-GCM per key, binding the associated data.
type fakeTransit struct {
	token string
	mu    sync.Mutex
	keys  map[string]cipher.AEAD // by "MOUNT/NAME"
	calls []string               // "PUT /v1/..." in order
	adArg []string               // the associated-data parameter name sent
}

func newFakeTransit(t *testing.T, token string, keys ...string) (*fakeTransit, *httptest.Server) {
	t.Helper()
	f := &fakeTransit{token: token, keys: map[string]cipher.AEAD{}}
	for _, k := range keys {
		key := make([]byte, 32)
		_, err := rand.Read(key)
		require.NoError(t, err)
		b, err := aes.NewCipher(key)
		require.NoError(t, err)
		f.keys[k], err = cipher.NewGCM(b)
		require.NoError(t, err)
	}
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func vaultError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string][]string{"errors": {msg}})
}

func (f *fakeTransit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	if r.Header.Get("X-Vault-Token") != f.token {
		vaultError(w, http.StatusForbidden, "permission denied")
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if r.Method != http.MethodPut || !ok {
		vaultError(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	i := strings.LastIndex(path, "/")
	j := strings.LastIndex(path[:max(i, 0)], "/")
	if i < 0 || j < 0 {
		vaultError(w, http.StatusNotFound, "no handler for route")
		return
	}
	mount, op, name := path[:j], path[j+1:i], path[i+1:]
	gcm, ok := f.keys[mount+"/"+name]
	if !ok {
		vaultError(w, http.StatusBadRequest, "encryption key not found")
		return
	}
	var req map[string]string
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		vaultError(w, http.StatusBadRequest, "invalid request body")
		return
	}
	adName := "associated_data"
	if _, legacy := req["context"]; legacy {
		adName = "context"
	}
	f.adArg = append(f.adArg, adName)
	ad, err := base64.StdEncoding.DecodeString(req[adName])
	if err != nil {
		vaultError(w, http.StatusBadRequest, "invalid associated data")
		return
	}
	var data map[string]string
	switch op {
	case "encrypt":
		pt, err := base64.StdEncoding.DecodeString(req["plaintext"])
		if err != nil {
			vaultError(w, http.StatusBadRequest, "invalid plaintext")
			return
		}
		nonce := make([]byte, gcm.NonceSize())
		_, _ = rand.Read(nonce)
		ct := gcm.Seal(nonce, nonce, pt, ad)
		data = map[string]string{"ciphertext": "vault:v1:" + base64.StdEncoding.EncodeToString(ct), "key_version": "1"}
	case "decrypt":
		raw, ok := strings.CutPrefix(req["ciphertext"], "vault:v1:")
		ct, err := base64.StdEncoding.DecodeString(raw)
		if !ok || err != nil || len(ct) < gcm.NonceSize() {
			vaultError(w, http.StatusBadRequest, "invalid ciphertext")
			return
		}
		pt, err := gcm.Open(nil, ct[:gcm.NonceSize()], ct[gcm.NonceSize():], ad)
		if err != nil {
			vaultError(w, http.StatusBadRequest, "cipher: message authentication failed")
			return
		}
		data = map[string]string{"plaintext": base64.StdEncoding.EncodeToString(pt)}
	default:
		vaultError(w, http.StatusNotFound, "no handler for route")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"request_id": "fake", "data": data})
}

func TestNewValidatesPrefix(t *testing.T) {
	tests := []struct {
		name, prefix string
	}{
		{"empty", ""},
		{"no scheme", "vault.example.com:8200/transit/keys/k"},
		{"other scheme", "gcp-kms://projects/p"},
		{"upper-case scheme", "HCVAULT://vault.example.com/transit/keys/k"},
		{"no host", "hcvault:///transit/keys/k"},
		{"scheme only", "hcvault://"},
		{"user info", "hcvault://root:pw@vault.example.com/transit/keys/k"},
		{"query", "hcvault://vault.example.com/transit/keys/k?x=1"},
		{"bad escape", "hcvault://vault.example.com/%zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := hcvault.New(tt.prefix, hcvault.Options{Token: "t"})
			require.ErrorIs(t, err, hcvault.ErrInvalid)
			assert.Contains(t, err.Error(), "key uri prefix")
			assert.NotContains(t, err.Error(), "pw", "no credentials in errors")
		})
	}
	_, err := hcvault.New("hcvault://vault.example.com", hcvault.Options{Address: "ftp://vault"})
	require.ErrorIs(t, err, hcvault.ErrInvalid)
	assert.Contains(t, err.Error(), "address")
}

func TestSupported(t *testing.T) {
	c, err := hcvault.New("hcvault://vault.example.com:8200/transit/", hcvault.Options{Token: "t"})
	require.NoError(t, err)
	tests := []struct {
		uri  string
		want bool
	}{
		{"hcvault://vault.example.com:8200/transit/keys/root", true},
		{"hcvault://vault.example.com:8200/transit/keys/tenant-a", true},
		{"hcvault://vault.example.com:8200/other/keys/root", false},
		{"hcvault://other.example.com:8200/transit/keys/root", false},
		{"gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k", false},
		{"", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, c.Supported(tt.uri), tt.uri)
	}

	for _, uri := range []string{
		"hcvault://other.example.com:8200/transit/keys/root", // not this client's
		"hcvault://vault.example.com:8200/transit/root",      // no /keys/ segment
	} {
		_, err := c.GetAEAD(uri)
		assert.ErrorIs(t, err, hcvault.ErrInvalid, uri)
	}
}

// newClient points a client at the fake: key URIs name the real Vault
// host, and Address and HTTPClient route the requests to the test server.
func newClient(t *testing.T, srv *httptest.Server, opts hcvault.Options) *hcvault.Client {
	t.Helper()
	opts.Address = srv.URL
	opts.HTTPClient = srv.Client()
	c, err := hcvault.New("hcvault://vault.example.com:8200/", opts)
	require.NoError(t, err)
	return c
}

const keyURI = "hcvault://vault.example.com:8200/transit/keys/root"

func TestRoundTripThroughFakeTransit(t *testing.T) {
	fake, srv := newFakeTransit(t, "s.test-token", "transit/root")
	c := newClient(t, srv, hcvault.Options{Token: "s.test-token"})
	a, err := c.GetAEAD(keyURI)
	require.NoError(t, err)

	ct, err := a.Encrypt([]byte("root secret"), []byte("ad"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(ct), "vault:v1:"), "Vault's ciphertext format")
	pt, err := a.Decrypt(ct, []byte("ad"))
	require.NoError(t, err)
	assert.Equal(t, "root secret", string(pt))

	_, err = a.Decrypt(ct, []byte("other ad"))
	assert.ErrorContains(t, err, "message authentication failed", "associated data is bound")

	empty, err := a.Encrypt(nil, nil)
	require.NoError(t, err)
	pt, err = a.Decrypt(empty, nil)
	require.NoError(t, err)
	assert.Empty(t, pt)

	fake.mu.Lock()
	defer fake.mu.Unlock()
	assert.Equal(t, []string{
		"PUT /v1/transit/encrypt/root", "PUT /v1/transit/decrypt/root", "PUT /v1/transit/decrypt/root",
		"PUT /v1/transit/encrypt/root", "PUT /v1/transit/decrypt/root",
	}, fake.calls)
	for _, n := range fake.adArg {
		assert.Equal(t, "associated_data", n)
	}
}

func TestNestedMountAndLegacyContext(t *testing.T) {
	fake, srv := newFakeTransit(t, "tok", "team/transit/root")
	c := newClient(t, srv, hcvault.Options{Token: "tok", LegacyContext: true})
	a, err := c.GetAEAD("hcvault://vault.example.com:8200/team/transit/keys/root")
	require.NoError(t, err)
	ct, err := a.Encrypt([]byte("x"), []byte("ctx"))
	require.NoError(t, err)
	_, err = a.Decrypt(ct, []byte("ctx"))
	require.NoError(t, err)

	fake.mu.Lock()
	defer fake.mu.Unlock()
	assert.Equal(t, []string{"PUT /v1/team/transit/encrypt/root", "PUT /v1/team/transit/decrypt/root"}, fake.calls)
	assert.Equal(t, []string{"context", "context"}, fake.adArg)
}

func TestVaultErrorsSurface(t *testing.T) {
	_, srv := newFakeTransit(t, "right-token", "transit/root")

	a, err := newClient(t, srv, hcvault.Options{Token: "wrong-token"}).GetAEAD(keyURI)
	require.NoError(t, err, "GetAEAD does not contact Vault")
	_, err = a.Encrypt([]byte("x"), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "permission denied")
	assert.NotContains(t, err.Error(), "right-token")

	b, err := newClient(t, srv, hcvault.Options{Token: "right-token"}).GetAEAD("hcvault://vault.example.com:8200/transit/keys/absent")
	require.NoError(t, err)
	_, err = b.Encrypt([]byte("x"), nil)
	assert.ErrorContains(t, err, "encryption key not found")
}

func TestTokenFromEnvironment(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "env-token")
	_, srv := newFakeTransit(t, "env-token", "transit/root")
	a, err := newClient(t, srv, hcvault.Options{}).GetAEAD(keyURI)
	require.NoError(t, err)
	ct, err := a.Encrypt([]byte("x"), nil)
	require.NoError(t, err)
	_, err = a.Decrypt(ct, nil)
	require.NoError(t, err)
}

func TestKeyringOverVault(t *testing.T) {
	ctx := context.Background()
	_, srv := newFakeTransit(t, "tok", "transit/root")
	root, err := newClient(t, srv, hcvault.Options{Token: "tok"}).GetAEAD(keyURI)
	require.NoError(t, err)
	s := memstore.New()
	k, err := skcrypto.NewKeyring(root, s, s, skcrypto.Options{})
	require.NoError(t, err)
	acme := skcrypto.Scope{Tenant: "acme"}
	ct, err := k.Encrypt(ctx, acme, []byte("card 4242"), []byte("payments.card"))
	require.NoError(t, err)
	pt, err := k.Decrypt(ctx, acme, ct, []byte("payments.card"))
	require.NoError(t, err)
	assert.Equal(t, "card 4242", string(pt))

	// A restarted service unwraps the tenant key through Vault again.
	root2, err := newClient(t, srv, hcvault.Options{Token: "tok"}).GetAEAD(keyURI)
	require.NoError(t, err)
	k2, err := skcrypto.NewKeyring(root2, s, s, skcrypto.Options{})
	require.NoError(t, err)
	pt, err = k2.Decrypt(ctx, acme, ct, []byte("payments.card"))
	require.NoError(t, err)
	assert.Equal(t, "card 4242", string(pt))
}
