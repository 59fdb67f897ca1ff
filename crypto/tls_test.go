package crypto_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/internal/testclock"
)

// ---- throwaway PKI -------------------------------------------------------

// tlsTestCA is a throwaway ECDSA P-256 certificate authority.
type tlsTestCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var tlsTestSerial atomic.Int64

// newTLSTestCA creates a self-signed CA valid from an hour ago for a day.
func newTLSTestCA(name string) (*tlsTestCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(tlsTestSerial.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tlsTestCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// tlsLeaf describes a certificate to issue.
type tlsLeaf struct {
	cn        string
	client    bool      // client auth instead of server auth
	notBefore time.Time // default: an hour ago
	notAfter  time.Time // default: in a day
}

// issue signs a leaf for 127.0.0.1 and localhost and returns the PEM
// certificate and PKCS#8 key.
func (ca *tlsTestCA) issue(l tlsLeaf) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if l.notBefore.IsZero() {
		l.notBefore = time.Now().Add(-time.Hour)
	}
	if l.notAfter.IsZero() {
		l.notAfter = time.Now().Add(24 * time.Hour)
	}
	usage := x509.ExtKeyUsageServerAuth
	if l.client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(tlsTestSerial.Add(1)),
		Subject:      pkix.Name{CommonName: l.cn},
		NotBefore:    l.notBefore,
		NotAfter:     l.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), nil
}

// writeTLSPair writes name.crt and name.key into dir (overwriting them).
func writeTLSPair(dir, name string, certPEM, keyPEM []byte) (certFile, keyFile string, err error) {
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// tlsPKI is everything the tests need on disk.
type tlsPKI struct {
	dir                            string
	ca, otherCA                    *tlsTestCA
	caFile, otherCAFile            string
	serverCert, serverKey          string // CN server-one
	clientCert, clientKey          string // signed by ca
	strangerCert, strangerKey      string // client cert signed by otherCA
	serverTwoCertPEM, serverTwoKey []byte // a second server pair, CN server-two
}

func newTLSPKI(t *testing.T) *tlsPKI {
	t.Helper()
	p := &tlsPKI{dir: t.TempDir()}
	var err error
	p.ca, err = newTLSTestCA("saaskit test CA")
	require.NoError(t, err)
	p.otherCA, err = newTLSTestCA("some other CA")
	require.NoError(t, err)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	require.NoError(t, os.WriteFile(p.caFile, p.ca.pem, 0o600))
	p.otherCAFile = filepath.Join(p.dir, "other-ca.pem")
	require.NoError(t, os.WriteFile(p.otherCAFile, p.otherCA.pem, 0o600))

	c, k, err := p.ca.issue(tlsLeaf{cn: "server-one"})
	require.NoError(t, err)
	p.serverCert, p.serverKey, err = writeTLSPair(p.dir, "server", c, k)
	require.NoError(t, err)
	c, k, err = p.ca.issue(tlsLeaf{cn: "client-alice", client: true})
	require.NoError(t, err)
	p.clientCert, p.clientKey, err = writeTLSPair(p.dir, "client", c, k)
	require.NoError(t, err)
	c, k, err = p.otherCA.issue(tlsLeaf{cn: "client-mallory", client: true})
	require.NoError(t, err)
	p.strangerCert, p.strangerKey, err = writeTLSPair(p.dir, "stranger", c, k)
	require.NoError(t, err)
	p.serverTwoCertPEM, p.serverTwoKey, err = p.ca.issue(tlsLeaf{cn: "server-two-replacement"})
	require.NoError(t, err)
	return p
}

// ---- servers, clients, clocks -----------------------------------------

// startTLSServer serves cfg with httptest. The handler answers with the
// client certificate's CommonName, or "anonymous".
func startTLSServer(t *testing.T, cfg *tls.Config) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
			return
		}
		_, _ = io.WriteString(w, "anonymous")
	}))
	srv.TLS = cfg
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// localhostURL points at srv by name. httptest.StartTLS puts its own
// certificate into Config.Certificates, and crypto/tls serves that one
// instead of GetCertificate to clients that send no SNI, which is every
// client dialling an IP address. Dialling by name sends SNI.
func localhostURL(srv *httptest.Server) string {
	return strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
}

// tlsGet fetches url with cfg and returns the body.
func tlsGet(cfg *tls.Config, url string) (string, *tls.ConnectionState, error) {
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true},
		Timeout:   10 * time.Second,
	}
	resp, err := client.Get(url)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), resp.TLS, err
}

// tlsDial makes one fresh handshake (no session resumption) to srv.
// A nil cfg.ServerName is set to "localhost" so SNI is sent (see
// localhostURL).
func tlsDial(srv *httptest.Server, cfg *tls.Config) (tls.ConnectionState, error) {
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = "localhost"
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", srv.Listener.Addr().String())
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState(), nil
}

// serverCN handshakes with srv and returns the served certificate's CN.
func serverCN(t *testing.T, srv *httptest.Server, client *tls.Config) string {
	t.Helper()
	st, err := tlsDial(srv, client)
	require.NoError(t, err)
	require.NotEmpty(t, st.PeerCertificates)
	return st.PeerCertificates[0].Subject.CommonName
}

// errorRecorder collects OnError calls, which may come from handshake
// goroutines.
type errorRecorder struct {
	mu   sync.Mutex
	errs []error
}

func (e *errorRecorder) record(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, err)
}

func (e *errorRecorder) all() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.errs...)
}

var modernTLS12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ---- tests ---------------------------------------------------------------

func TestServerAndClientTLSDefaults(t *testing.T) {
	p := newTLSPKI(t)
	srv, err := skcrypto.ServerTLS(skcrypto.TLSOptions{CertFile: p.serverCert, KeyFile: p.serverKey})
	require.NoError(t, err)
	cli, err := skcrypto.ClientTLS(skcrypto.TLSOptions{})
	require.NoError(t, err)

	for name, cfg := range map[string]*tls.Config{"server": srv, "client": cli} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)
			assert.ElementsMatch(t, modernTLS12Suites, cfg.CipherSuites)
			assert.Equal(t, []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}, cfg.CurvePreferences)
			assert.False(t, cfg.InsecureSkipVerify)
			assert.Empty(t, cfg.Certificates, "pairs are served through the reloader")
		})
	}
	assert.NotNil(t, srv.GetCertificate)
	assert.Equal(t, tls.NoClientCert, srv.ClientAuth)
	assert.Nil(t, cli.RootCAs, "empty RootCAFile means system roots")
	assert.Nil(t, cli.GetClientCertificate, "no client certificate configured")

	for _, id := range srv.CipherSuites {
		s := tls.CipherSuiteName(id)
		assert.True(t, strings.HasPrefix(s, "TLS_ECDHE_"), s)
		assert.Regexp(t, `_(GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$`, s)
	}

	tls13, err := skcrypto.ServerTLS(skcrypto.TLSOptions{CertFile: p.serverCert, KeyFile: p.serverKey, MinVersion: tls.VersionTLS13})
	require.NoError(t, err)
	assert.Equal(t, uint16(tls.VersionTLS13), tls13.MinVersion)
}

func TestClientTLSVerifiesServer(t *testing.T) {
	p := newTLSPKI(t)
	cfg, err := skcrypto.ServerTLS(skcrypto.TLSOptions{CertFile: p.serverCert, KeyFile: p.serverKey})
	require.NoError(t, err)
	srv := startTLSServer(t, cfg)

	tests := []struct {
		name    string
		opts    skcrypto.TLSOptions
		url     string
		wantErr func(t *testing.T, err error)
	}{
		{
			name: "RootCAFile verifies by host name",
			opts: skcrypto.TLSOptions{RootCAFile: p.caFile},
			url:  localhostURL(srv),
		},
		{
			name: "RootCAFile with ServerName override for an IP URL",
			opts: skcrypto.TLSOptions{RootCAFile: p.caFile, ServerName: "localhost"},
			url:  srv.URL,
		},
		{
			name: "system roots do not know the test CA",
			opts: skcrypto.TLSOptions{},
			url:  localhostURL(srv),
			wantErr: func(t *testing.T, err error) {
				var unknown x509.UnknownAuthorityError
				assert.ErrorAs(t, err, &unknown)
				assert.Contains(t, err.Error(), "unknown authority")
			},
		},
		{
			name: "another CA does not verify",
			opts: skcrypto.TLSOptions{RootCAFile: p.otherCAFile},
			url:  localhostURL(srv),
			wantErr: func(t *testing.T, err error) {
				var unknown x509.UnknownAuthorityError
				assert.ErrorAs(t, err, &unknown)
			},
		},
		{
			name: "ServerName not in the certificate",
			opts: skcrypto.TLSOptions{RootCAFile: p.caFile, ServerName: "api.example.org"},
			url:  srv.URL,
			wantErr: func(t *testing.T, err error) {
				var host x509.HostnameError
				assert.ErrorAs(t, err, &host)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli, err := skcrypto.ClientTLS(tt.opts)
			require.NoError(t, err)
			body, state, err := tlsGet(cli, tt.url)
			if tt.wantErr != nil {
				require.Error(t, err)
				tt.wantErr(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "anonymous", body)
			assert.Equal(t, "server-one", state.PeerCertificates[0].Subject.CommonName)
			assert.GreaterOrEqual(t, state.Version, uint16(tls.VersionTLS12))
		})
	}
}

func TestServerTLSMutualTLS(t *testing.T) {
	p := newTLSPKI(t)
	cfg, err := skcrypto.ServerTLS(skcrypto.TLSOptions{CertFile: p.serverCert, KeyFile: p.serverKey, ClientCAFile: p.caFile})
	require.NoError(t, err)
	assert.Equal(t, tls.RequireAndVerifyClientCert, cfg.ClientAuth)
	assert.NotNil(t, cfg.ClientCAs)
	srv := startTLSServer(t, cfg)

	tests := []struct {
		name     string
		cert     string
		key      string
		maxVer   uint16
		wantErr  string // the alert the server sends
		wantBody string
	}{
		{name: "no client certificate", wantErr: "certificate required"},
		{name: "no client certificate TLS 1.2", maxVer: tls.VersionTLS12, wantErr: "handshake failure"},
		{name: "certificate from another CA", cert: p.strangerCert, key: p.strangerKey, wantErr: "unknown certificate authority"},
		{name: "certificate from another CA TLS 1.2", cert: p.strangerCert, key: p.strangerKey, maxVer: tls.VersionTLS12, wantErr: "unknown certificate authority"},
		{name: "good certificate", cert: p.clientCert, key: p.clientKey, wantBody: "client-alice"},
		{name: "good certificate TLS 1.2", cert: p.clientCert, key: p.clientKey, maxVer: tls.VersionTLS12, wantBody: "client-alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli, err := skcrypto.ClientTLS(skcrypto.TLSOptions{RootCAFile: p.caFile, CertFile: tt.cert, KeyFile: tt.key})
			require.NoError(t, err)
			cli.MaxVersion = tt.maxVer
			body, state, err := tlsGet(cli, localhostURL(srv))
			if tt.wantErr != "" {
				require.Error(t, err, "server must refuse; got body %q", body)
				assert.Contains(t, err.Error(), "remote error: tls: "+tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantBody, body, "handler sees r.TLS.PeerCertificates")
			if tt.maxVer != 0 {
				assert.Equal(t, tt.maxVer, state.Version)
			}
		})
	}
}

func TestTLSProtocolVersionsSuitesAndCurves(t *testing.T) {
	p := newTLSPKI(t)
	cfg, err := skcrypto.ServerTLS(skcrypto.TLSOptions{CertFile: p.serverCert, KeyFile: p.serverKey})
	require.NoError(t, err)
	srv := startTLSServer(t, cfg)
	roots := x509.NewCertPool()
	roots.AddCert(p.ca.cert)

	t.Run("default client negotiates TLS 1.3 with hybrid post-quantum key exchange", func(t *testing.T) {
		cli, err := skcrypto.ClientTLS(skcrypto.TLSOptions{RootCAFile: p.caFile})
		require.NoError(t, err)
		st, err := tlsDial(srv, cli)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, st.Version, uint16(tls.VersionTLS12))
		assert.Equal(t, uint16(tls.VersionTLS13), st.Version)
		assert.Equal(t, tls.X25519MLKEM768, st.CurveID)
	})

	t.Run("TLS 1.2 only client negotiates a listed AEAD suite", func(t *testing.T) {
		cli, err := skcrypto.ClientTLS(skcrypto.TLSOptions{RootCAFile: p.caFile})
		require.NoError(t, err)
		cli.MaxVersion = tls.VersionTLS12
		st, err := tlsDial(srv, cli)
		require.NoError(t, err)
		assert.Equal(t, uint16(tls.VersionTLS12), st.Version)
		assert.Contains(t, modernTLS12Suites, st.CipherSuite, tls.CipherSuiteName(st.CipherSuite))
		assert.Equal(t, tls.X25519, st.CurveID, "hybrid key exchange is TLS 1.3 only")
	})

	t.Run("plain Go TLS 1.2 client with P-256 only", func(t *testing.T) {
		st, err := tlsDial(srv, &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12, CurvePreferences: []tls.CurveID{tls.CurveP256}})
		require.NoError(t, err)
		assert.Equal(t, tls.CurveP256, st.CurveID)
		assert.Contains(t, modernTLS12Suites, st.CipherSuite)
	})

	refused := []struct {
		name   string
		client *tls.Config
	}{
		{"TLS 1.1 client", &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}},
		{"TLS 1.0 client", &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}},
		{"TLS 1.2 client offering only CBC", &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}}},
		{"client offering only P-384", &tls.Config{RootCAs: roots, CurvePreferences: []tls.CurveID{tls.CurveP384}}},
	}
	for _, tt := range refused {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			_, err := tlsDial(srv, tt.client)
			require.Error(t, err)
		})
	}

	t.Run("MinVersion TLS 1.3 server refuses TLS 1.2", func(t *testing.T) {
		cfg13, err := skcrypto.ServerTLS(skcrypto.TLSOptions{CertFile: p.serverCert, KeyFile: p.serverKey, MinVersion: tls.VersionTLS13})
		require.NoError(t, err)
		srv13 := startTLSServer(t, cfg13)
		_, err = tlsDial(srv13, &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "protocol version")
	})

	t.Run("TLS 1.1 refusal names the protocol version", func(t *testing.T) {
		_, err := tlsDial(srv, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "protocol version")
	})
}

func TestCertReloaderExplicitReload(t *testing.T) {
	p := newTLSPKI(t)
	r, err := skcrypto.NewCertReloader(p.serverCert, p.serverKey, skcrypto.ReloaderOptions{ReloadInterval: -1})
	require.NoError(t, err)
	cfg, err := skcrypto.ServerTLS(skcrypto.TLSOptions{Reloader: r})
	require.NoError(t, err)
	srv := startTLSServer(t, cfg)
	cli, err := skcrypto.ClientTLS(skcrypto.TLSOptions{RootCAFile: p.caFile})
	require.NoError(t, err)

	first := r.Certificate()
	require.NotNil(t, first)
	require.NotNil(t, first.Leaf)
	assert.Equal(t, "server-one", serverCN(t, srv, cli))
	assert.Equal(t, first.Leaf.NotAfter, r.Expiry())

	_, _, err = writeTLSPair(p.dir, "server", p.serverTwoCertPEM, p.serverTwoKey)
	require.NoError(t, err)
	assert.Equal(t, "server-one", serverCN(t, srv, cli), "automatic checks are off")

	require.NoError(t, r.Reload())
	assert.NoError(t, r.LastError())
	assert.Equal(t, "server-two-replacement", serverCN(t, srv, cli), "same server, new certificate")
	second := r.Certificate()
	assert.NotEqual(t, first.Leaf.SerialNumber, second.Leaf.SerialNumber)
	assert.Equal(t, second.Leaf.NotAfter, r.Expiry())

	// TLS 1.2 handshakes see it too.
	cli12 := cli.Clone()
	cli12.MaxVersion = tls.VersionTLS12
	assert.Equal(t, "server-two-replacement", serverCN(t, srv, cli12))
}

func TestServerTLSReloadsAfterInterval(t *testing.T) {
	p := newTLSPKI(t)
	clock := testclock.New(time.Now())
	var rec errorRecorder
	cfg, err := skcrypto.ServerTLS(skcrypto.TLSOptions{
		CertFile: p.serverCert, KeyFile: p.serverKey,
		ReloadInterval: time.Minute, Now: clock.Now, OnReloadError: rec.record,
	})
	require.NoError(t, err)
	srv := startTLSServer(t, cfg)
	cli, err := skcrypto.ClientTLS(skcrypto.TLSOptions{RootCAFile: p.caFile})
	require.NoError(t, err)

	assert.Equal(t, "server-one", serverCN(t, srv, cli))
	_, _, err = writeTLSPair(p.dir, "server", p.serverTwoCertPEM, p.serverTwoKey)
	require.NoError(t, err)

	clock.Advance(59 * time.Second)
	assert.Equal(t, "server-one", serverCN(t, srv, cli), "not checked before the interval")

	clock.Advance(2 * time.Second)
	assert.Equal(t, "server-two-replacement", serverCN(t, srv, cli), "checked on the handshake after the interval")
	assert.Empty(t, rec.all())

	// A corrupt file found by the automatic check keeps the pair in
	// service and reports through OnReloadError.
	require.NoError(t, os.WriteFile(p.serverCert, []byte("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"), 0o600))
	clock.Advance(time.Minute)
	assert.Equal(t, "server-two-replacement", serverCN(t, srv, cli))
	errs := rec.all()
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], skcrypto.ErrTLSConfig)
	assert.Contains(t, errs[0].Error(), "CertFile")
}

func TestCertReloaderKeepsGoodPairOnBadUpdate(t *testing.T) {
	p := newTLSPKI(t)
	ca := p.ca
	expiredCert, expiredKey, err := ca.issue(tlsLeaf{cn: "expired", notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-time.Hour)})
	require.NoError(t, err)
	_, otherKey, err := ca.issue(tlsLeaf{cn: "unrelated"})
	require.NoError(t, err)
	serverOneKey, err := os.ReadFile(p.serverKey)
	require.NoError(t, err)

	tests := []struct {
		name      string
		cert, key []byte // nil: delete the file
		wantInErr string
	}{
		{"corrupt certificate PEM", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), p.serverTwoKey, "CertFile"},
		{"no PEM at all", []byte("hello"), p.serverTwoKey, "CertFile"},
		{"corrupt key PEM", p.serverTwoCertPEM, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "KeyFile"},
		{"key does not match certificate", p.serverTwoCertPEM, otherKey, "does not match"},
		{"old key with new certificate", p.serverTwoCertPEM, serverOneKey, "does not match"},
		{"expired certificate", expiredCert, expiredKey, "expired"},
		{"certificate file deleted", nil, p.serverTwoKey, "CertFile"},
		{"key file deleted", p.serverTwoCertPEM, nil, "KeyFile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c, k, err := ca.issue(tlsLeaf{cn: "server-good"})
			require.NoError(t, err)
			certFile, keyFile, err := writeTLSPair(dir, "s", c, k)
			require.NoError(t, err)
			var rec errorRecorder
			r, err := skcrypto.NewCertReloader(certFile, keyFile, skcrypto.ReloaderOptions{OnError: rec.record})
			require.NoError(t, err)
			cfg, err := skcrypto.ServerTLS(skcrypto.TLSOptions{Reloader: r})
			require.NoError(t, err)
			srv := startTLSServer(t, cfg)
			cli, err := skcrypto.ClientTLS(skcrypto.TLSOptions{RootCAFile: p.caFile})
			require.NoError(t, err)
			good := r.Certificate()
			goodExpiry := r.Expiry()

			for file, data := range map[string][]byte{certFile: tt.cert, keyFile: tt.key} {
				if data == nil {
					require.NoError(t, os.Remove(file))
				} else {
					require.NoError(t, os.WriteFile(file, data, 0o600))
				}
			}

			err = r.Reload()
			require.Error(t, err)
			assert.ErrorIs(t, err, skcrypto.ErrTLSConfig)
			assert.Contains(t, err.Error(), tt.wantInErr)
			assert.Equal(t, err, r.LastError())
			assert.Equal(t, []error{err}, rec.all(), "OnError called once with the error")
			assertNoKeyMaterial(t, err, k, tt.key)

			assert.Same(t, good, r.Certificate(), "previous pair kept")
			assert.Equal(t, goodExpiry, r.Expiry())
			assert.Equal(t, "server-good", serverCN(t, srv, cli), "still serving the previous pair")

			// Fixing the files heals it.
			_, _, err = writeTLSPair(dir, "s", p.serverTwoCertPEM, p.serverTwoKey)
			require.NoError(t, err)
			require.NoError(t, r.Reload())
			assert.NoError(t, r.LastError())
			assert.Equal(t, "server-two-replacement", serverCN(t, srv, cli))
		})
	}
}

// assertNoKeyMaterial checks that no PEM key, nor any line of its base64
// body, appears in err.
func assertNoKeyMaterial(t *testing.T, err error, keys ...[]byte) {
	t.Helper()
	msg := err.Error()
	assert.NotContains(t, msg, "PRIVATE KEY-----")
	for _, k := range keys {
		for line := range strings.Lines(string(k)) {
			line = strings.TrimSpace(line)
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				assert.NotContains(t, msg, line[:16])
			}
		}
	}
}

func TestCertReloaderHalfWrittenUpdateHeals(t *testing.T) {
	p := newTLSPKI(t)
	clock := testclock.New(time.Now())
	var rec errorRecorder
	r, err := skcrypto.NewCertReloader(p.serverCert, p.serverKey, skcrypto.ReloaderOptions{Now: clock.Now, OnError: rec.record})
	require.NoError(t, err)
	hello := &tls.ClientHelloInfo{}

	// The certificate is replaced first; the key lands later.
	require.NoError(t, os.WriteFile(p.serverCert, p.serverTwoCertPEM, 0o600))
	clock.Advance(skcrypto.DefaultReloadInterval)
	got, err := r.GetCertificate(hello)
	require.NoError(t, err, "a handshake never fails because of a bad update")
	assert.Equal(t, "server-one", got.Leaf.Subject.CommonName)
	require.Error(t, r.LastError())
	assert.Len(t, rec.all(), 1)

	require.NoError(t, os.WriteFile(p.serverKey, p.serverTwoKey, 0o600))
	clock.Advance(skcrypto.DefaultReloadInterval)
	got, err = r.GetClientCertificate(&tls.CertificateRequestInfo{})
	require.NoError(t, err)
	assert.Equal(t, "server-two-replacement", got.Leaf.Subject.CommonName)
	assert.NoError(t, r.LastError())
	assert.Len(t, rec.all(), 1)

	// Unchanged files: no reload, no error.
	clock.Advance(10 * skcrypto.DefaultReloadInterval)
	again, err := r.GetCertificate(hello)
	require.NoError(t, err)
	assert.Same(t, got, again)
}

func TestCertReloaderConcurrentHandshakesAndReloads(t *testing.T) {
	p := newTLSPKI(t)
	clock := testclock.New(time.Now())
	r, err := skcrypto.NewCertReloader(p.serverCert, p.serverKey, skcrypto.ReloaderOptions{Now: clock.Now, ReloadInterval: time.Second})
	require.NoError(t, err)
	cfg, err := skcrypto.ServerTLS(skcrypto.TLSOptions{Reloader: r})
	require.NoError(t, err)
	srv := startTLSServer(t, cfg)
	cli, err := skcrypto.ClientTLS(skcrypto.TLSOptions{RootCAFile: p.caFile})
	require.NoError(t, err)
	one, err := os.ReadFile(p.serverCert)
	require.NoError(t, err)
	oneKey, err := os.ReadFile(p.serverKey)
	require.NoError(t, err)

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				st, err := tlsDial(srv, cli)
				if !assert.NoError(t, err) {
					return
				}
				cn := st.PeerCertificates[0].Subject.CommonName
				assert.Contains(t, []string{"server-one", "server-two-replacement"}, cn)
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			c, k := one, oneKey
			if i%2 == 0 {
				c, k = p.serverTwoCertPEM, p.serverTwoKey
			}
			// Rewriting files under a running server may be observed half
			// done; that only yields a reported error, never a failed
			// handshake.
			_, _, _ = writeTLSPair(p.dir, "server", c, k)
			clock.Advance(time.Second)
			_ = r.Reload()
			_ = r.Expiry()
			_ = r.LastError()
		}
	})
	wg.Wait()
}

func TestTLSConfigErrors(t *testing.T) {
	p := newTLSPKI(t)
	missing := filepath.Join(p.dir, "missing.pem")
	garbage := filepath.Join(p.dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not a certificate"), 0o600))
	r, err := skcrypto.NewCertReloader(p.serverCert, p.serverKey, skcrypto.ReloaderOptions{})
	require.NoError(t, err)

	server := func(o skcrypto.TLSOptions) error { _, err := skcrypto.ServerTLS(o); return err }
	client := func(o skcrypto.TLSOptions) error { _, err := skcrypto.ClientTLS(o); return err }
	good := skcrypto.TLSOptions{CertFile: p.serverCert, KeyFile: p.serverKey}
	with := func(f func(*skcrypto.TLSOptions)) skcrypto.TLSOptions { o := good; f(&o); return o }

	tests := []struct {
		name  string
		build func(skcrypto.TLSOptions) error
		opts  skcrypto.TLSOptions
		field string
	}{
		{"server without certificate", server, skcrypto.TLSOptions{}, "CertFile"},
		{"server with CA but no certificate", server, skcrypto.TLSOptions{ClientCAFile: p.caFile}, "CertFile"},
		{"server without key", server, with(func(o *skcrypto.TLSOptions) { o.KeyFile = "" }), "KeyFile"},
		{"server without cert file but key", server, with(func(o *skcrypto.TLSOptions) { o.CertFile = "" }), "CertFile"},
		{"server cert file missing", server, with(func(o *skcrypto.TLSOptions) { o.CertFile = missing }), "CertFile"},
		{"server key file missing", server, with(func(o *skcrypto.TLSOptions) { o.KeyFile = missing }), "KeyFile"},
		{"server cert file garbage", server, with(func(o *skcrypto.TLSOptions) { o.CertFile = garbage }), "CertFile"},
		{"server MinVersion TLS 1.1", server, with(func(o *skcrypto.TLSOptions) { o.MinVersion = tls.VersionTLS11 }), "MinVersion"},
		{"server MinVersion TLS 1.0", server, with(func(o *skcrypto.TLSOptions) { o.MinVersion = tls.VersionTLS10 }), "MinVersion"},
		{"server MinVersion SSL 3.0", server, with(func(o *skcrypto.TLSOptions) { o.MinVersion = 0x0300 }), "MinVersion"},
		{"server MinVersion unknown", server, with(func(o *skcrypto.TLSOptions) { o.MinVersion = 0x0305 }), "MinVersion"},
		{"server ClientCAFile missing", server, with(func(o *skcrypto.TLSOptions) { o.ClientCAFile = missing }), "ClientCAFile"},
		{"server ClientCAFile without certificates", server, with(func(o *skcrypto.TLSOptions) { o.ClientCAFile = garbage }), "ClientCAFile"},
		{"server Reloader and CertFile", server, with(func(o *skcrypto.TLSOptions) { o.Reloader = r }), "Reloader"},
		{"client MinVersion TLS 1.1", client, skcrypto.TLSOptions{MinVersion: tls.VersionTLS11}, "MinVersion"},
		{"client RootCAFile missing", client, skcrypto.TLSOptions{RootCAFile: missing}, "RootCAFile"},
		{"client RootCAFile without certificates", client, skcrypto.TLSOptions{RootCAFile: garbage}, "RootCAFile"},
		{"client certificate without key", client, skcrypto.TLSOptions{CertFile: p.clientCert}, "KeyFile"},
		{"client key without certificate", client, skcrypto.TLSOptions{KeyFile: p.clientKey}, "CertFile"},
		{"client key mismatch", client, skcrypto.TLSOptions{CertFile: p.clientCert, KeyFile: p.serverKey}, "KeyFile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.build(tt.opts)
			require.Error(t, err)
			assert.ErrorIs(t, err, skcrypto.ErrTLSConfig)
			assert.Contains(t, err.Error(), tt.field)
			assert.Equal(t, strings.ToLower(err.Error()[:1]), err.Error()[:1], "lowercase message")
			assertNoKeyMaterial(t, err, mustRead(t, p.serverKey), mustRead(t, p.clientKey))
		})
	}

	t.Run("NewCertReloader", func(t *testing.T) {
		for _, args := range [][2]string{{"", ""}, {p.serverCert, ""}, {"", p.serverKey}, {missing, p.serverKey}} {
			_, err := skcrypto.NewCertReloader(args[0], args[1], skcrypto.ReloaderOptions{})
			assert.ErrorIs(t, err, skcrypto.ErrTLSConfig, "%q", args)
		}
	})

	t.Run("expired certificate at start", func(t *testing.T) {
		c, k, err := p.ca.issue(tlsLeaf{cn: "old", notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-time.Minute)})
		require.NoError(t, err)
		cf, kf, err := writeTLSPair(t.TempDir(), "old", c, k)
		require.NoError(t, err)
		err = server(skcrypto.TLSOptions{CertFile: cf, KeyFile: kf})
		assert.ErrorIs(t, err, skcrypto.ErrTLSConfig)
		assert.ErrorContains(t, err, "expired")
		// The injected clock decides.
		past := func() time.Time { return time.Now().Add(-2 * time.Hour) }
		assert.NoError(t, server(skcrypto.TLSOptions{CertFile: cf, KeyFile: kf, Now: past}))
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func TestCertReloaderZeroValueDoesNotPanic(t *testing.T) {
	var r skcrypto.CertReloader
	assert.Nil(t, r.Certificate())
	assert.True(t, r.Expiry().IsZero())
	assert.NoError(t, r.LastError())
	assert.ErrorIs(t, r.Reload(), skcrypto.ErrTLSConfig)
	c, err := r.GetCertificate(&tls.ClientHelloInfo{})
	assert.Nil(t, c)
	assert.ErrorIs(t, err, skcrypto.ErrTLSConfig)
	c, err = r.GetClientCertificate(&tls.CertificateRequestInfo{})
	assert.Nil(t, c)
	assert.True(t, errors.Is(err, skcrypto.ErrTLSConfig), fmt.Sprint(err))
}
