package webhook_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
)

// testCA issues client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key}
}

// issue returns a client certificate for name and its key, as PEM.
func (ca *testCA) issue(t *testing.T, name string) (certPEM, keyPEM string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

// TestEndpointClientCertificates: each endpoint presents its own client
// certificate to a receiver that requires one, on connections of its
// own even to the same host; an endpoint without one is refused.
func TestEndpointClientCertificates(t *testing.T) {
	ca := newTestCA(t)
	clients := x509.NewCertPool()
	clients.AddCert(ca.cert)
	var (
		mu    sync.Mutex
		peers = map[string][]string{} // webhook-id: client certificate names
	)
	receiver := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		peers[r.Header.Get("webhook-id")] = append(peers[r.Header.Get("webhook-id")], r.TLS.PeerCertificates[0].Subject.CommonName)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	receiver.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients}
	receiver.StartTLS()
	t.Cleanup(receiver.Close)
	roots := x509.NewCertPool()
	roots.AddCert(receiver.Certificate())

	f := newDeliveryFixture(t)
	f.opts.Client = newClient(t, webhook.DeliveryClientOptions{AllowCIDRs: loopback, RootCAs: roots})
	f.opts.PerEndpoint, f.opts.MaxAttempts = 1, 1
	ctx := context.Background()
	for _, name := range []string{"alpha", "beta"} {
		cert, key := ca.issue(t, name)
		_, _, err := f.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: receiver.URL, EventTypes: []string{name},
			Auth: &webhook.EndpointAuth{ClientCertificate: cert, ClientKey: key}})
		require.NoError(t, err)
	}
	_, _, err := f.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: receiver.URL, EventTypes: []string{"plain"}})
	require.NoError(t, err)
	f.run(t)
	for i := range 3 {
		for _, typ := range []string{"alpha", "beta", "plain"} {
			_, err := f.d.Send(ctx, &webhook.Message{ID: typ + string(rune('0'+i)), TenantID: "acme", EventType: typ, Payload: []byte(`{}`)})
			require.NoError(t, err)
		}
	}
	f.waitFor(t, "acme", webhook.StateSucceeded, 6)
	dead := f.waitFor(t, "acme", webhook.StateDead, 3)
	for _, d := range dead {
		assert.Contains(t, d.Message.ID, "plain", "only the endpoint without a certificate is refused")
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range 3 {
		for _, name := range []string{"alpha", "beta"} {
			assert.Equal(t, []string{name}, peers[name+string(rune('0'+i))], "message %s%d presented another endpoint's certificate", name, i)
		}
	}

	for name, auth := range map[string]webhook.EndpointAuth{
		"key of another certificate": {ClientCertificate: certOf(ca.issue(t, "x")), ClientKey: keyOf(ca.issue(t, "y"))},
		"not PEM":                    {ClientCertificate: "nope", ClientKey: "nope"},
		"a key alone":                {ClientKey: keyOf(ca.issue(t, "z"))},
	} {
		_, _, err := f.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: receiver.URL, Auth: &auth})
		assert.ErrorIs(t, err, webhook.ErrInvalid, name)
	}
	cert, key := ca.issue(t, "plain-http")
	_, _, err = f.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "http://hooks.example.com/", Auth: &webhook.EndpointAuth{ClientCertificate: cert, ClientKey: key}})
	assert.ErrorIs(t, err, webhook.ErrInvalid, "a client certificate over plain http")
}

func certOf(cert, _ string) string { return cert }
func keyOf(_, key string) string   { return key }
