package autotls_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/cryptotest"
	cryptomem "github.com/saaskit/saaskit/crypto/memstore"
	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/sqldb"
	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/internal/testclock"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/autotls"
	"github.com/saaskit/saaskit/tenancy/autotls/devacme"
	"github.com/saaskit/saaskit/tenancy/autotls/sqlstore"
	"github.com/saaskit/saaskit/tenancy/memstore"
)

// world is a platform with one tenant whose domain app.customer.test is
// verified, and a domain of another tenant, other.customer.test, that
// is not (pending).
type world struct {
	reg *tenancy.Registry
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := context.Background()
	st := memstore.New()
	reg := tenancy.NewRegistry(st, st, tenancy.Options{PlatformDomains: []string{"saas.test"}})
	_, err := reg.Create(ctx, &tenancy.Tenant{ID: "acme", Slug: "acme", Name: "Acme Corp", Domains: []string{"app.customer.test"}})
	require.NoError(t, err)
	_, err = reg.Create(ctx, &tenancy.Tenant{ID: "globex", Slug: "globex", Name: "Globex"})
	require.NoError(t, err)
	_, err = reg.AddDomain(ctx, "globex", "other.customer.test") // pending: never verified
	require.NoError(t, err)
	return &world{reg: reg}
}

// allow is the Options.Allow of the platform: verified tenant domains.
func (w *world) allow(ctx context.Context, name string) error {
	_, err := w.reg.VerifiedDomain(ctx, name)
	return err
}

// page answers with the name of the tenant whose domain the request is for.
func (w *world) page(rw http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	t, err := w.reg.Lookup(r.Context(), tenancy.ByDomain, strings.ToLower(strings.TrimSuffix(host, ".")))
	if err != nil {
		http.NotFound(rw, r)
		return
	}
	fmt.Fprintf(rw, "hello from %s", t.Name)
}

// keyringAEAD seals TLS keys with a crypto.Keyring, as a service does.
func keyringAEAD(t testing.TB) *skcrypto.ScopedAEAD {
	st := cryptomem.New()
	k, err := skcrypto.NewKeyring(cryptotest.NewRootKey(t), st, st, skcrypto.Options{})
	require.NoError(t, err)
	return k.AEAD(skcrypto.Scope{Tenant: "platform"})
}

func newStorage(t testing.TB, db *sqldb.DB, aead *skcrypto.ScopedAEAD) *sqlstore.Storage {
	t.Helper()
	s, err := sqlstore.New(db.DB, aead, sqlstore.Options{PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// platformCert is a self-signed wildcard certificate for *.saas.test.
func platformCert(t testing.TB) (*tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "*.saas.test"},
		DNSNames: []string{"*.saas.test", "saas.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// server serves m's TLSConfig with handler on l.
func server(t testing.TB, l net.Listener, m *autotls.Manager, handler http.Handler) {
	t.Helper()
	srv := &http.Server{Handler: handler, TLSConfig: m.TLSConfig(), ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
}

// get fetches https://name/ from addr, trusting roots.
func get(addr, name string, roots *x509.CertPool) (string, error) {
	c := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: name},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://" + name + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// handshake makes a TLS handshake with server name sni at addr,
// verifying nothing: it tells whether the server served a certificate.
func handshake(addr, sni string) error {
	_, err := served(addr, sni)
	return err
}

// served is the leaf certificate the server at addr serves for sni.
func served(addr, sni string) (*x509.Certificate, error) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true}) //nolint:gosec // the test checks what the server serves, not the chain
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// syncBuffer is a log sink tests read while servers write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestOnDemandAgainstPebble is the whole path: a client trusting
// Pebble's root gets the tenant's page at app.customer.test, its
// certificate ordered at the first handshake and validated by Pebble
// over TLS-ALPN-01 on the server's port; a replica on the same database
// serves it without a second order; hostile and unverified names fail
// their handshake without any order; platform names get the wildcard
// certificate; and with Pebble gone, the certificate is still served.
func TestOnDemandAgainstPebble(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t)
		aead := keyringAEAD(t)
		platform, platformRoots := platformCert(t)

		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		ca, err := devacme.Start(devacme.Options{TLSPort: port})
		require.NoError(t, err)
		t.Cleanup(func() { _ = ca.Close() })

		logs := &syncBuffer{}
		opts := autotls.Options{
			Allow:           w.allow,
			PlatformDomains: []string{"saas.test"},
			PlatformCert:    platform,
			Storage:         newStorage(t, db, aead),
			ACME:            ca.Issuer(),
			Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		}
		m, err := autotls.New(opts)
		require.NoError(t, err)
		t.Cleanup(m.Stop)
		server(t, l, m, http.HandlerFunc(w.page))
		addr := l.Addr().String()

		body, err := get(addr, "app.customer.test", ca.Roots())
		require.NoError(t, err, "logs:\n%s", logs.String())
		assert.Equal(t, "hello from Acme Corp", body)
		assert.EqualValues(t, 1, ca.Orders())
		assert.Contains(t, logs.String(), "certificate obtained")

		body, err = get(addr, "APP.customer.test.", ca.Roots())
		require.NoError(t, err)
		assert.Equal(t, "hello from Acme Corp", body, "served from memory")
		assert.EqualValues(t, 1, ca.Orders())

		// Hostile and unverified names: a failed handshake (or, for
		// what the client sends as no name, like an IP address, and for
		// platform names, the platform certificate), and no order.
		for _, sni := range hostileNames() {
			leaf, err := served(addr, sni)
			if err == nil {
				assert.Equal(t, platform.Leaf.Raw, leaf.Raw, "SNI %q", sni)
			}
		}
		_, err = get(addr, "other.customer.test", ca.Roots())
		assert.Error(t, err, "another tenant's unverified domain")
		assert.EqualValues(t, 1, ca.Orders(), "no order for a refused name")

		// Platform names get the wildcard certificate, without orders.
		for _, name := range []string{"acme.saas.test", "globex.saas.test"} {
			conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, RootCAs: platformRoots})
			require.NoError(t, err, name)
			_ = conn.Close()
		}
		assert.EqualValues(t, 1, ca.Orders())

		// A replica on the same database loads the certificate.
		l2, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		opts.Storage = newStorage(t, sqldbtest.Reopen(t, db), aead)
		replica, err := autotls.New(opts)
		require.NoError(t, err)
		t.Cleanup(replica.Stop)
		server(t, l2, replica, http.HandlerFunc(w.page))
		body, err = get(l2.Addr().String(), "app.customer.test", ca.Roots())
		require.NoError(t, err)
		assert.Equal(t, "hello from Acme Corp", body)
		assert.EqualValues(t, 1, ca.Orders(), "the replica shares the certificate")

		// The CA goes away: known names are still served.
		require.NoError(t, ca.Close())
		body, err = get(addr, "app.customer.test", ca.Roots())
		require.NoError(t, err)
		assert.Equal(t, "hello from Acme Corp", body)
	})
}

// hostileNames are server names a client may send that must never
// reach an ACME order.
func hostileNames() []string {
	return []string{
		"",
		"127.0.0.1",
		"[::1]",
		"::1",
		strings.Repeat("a", 300) + ".customer.test",
		strings.Repeat("abcdefghij.", 30) + "test",
		"bücher.customer.test",
		"xn--bcher-kva.customer.test",
		"other.customer.test",
		"*.customer.test",
		"localhost",
		"app.customer.test.evil.test",
		"a.b.saas.test",
		"-bad-.customer.test",
	}
}

// countingListener accepts connections and closes them at once: an ACME
// server that is down. It counts connection attempts.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func downACME(t *testing.T) (*countingListener, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cl := &countingListener{Listener: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			cl.n.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = l.Close() })
	return cl, "https://" + l.Addr().String() + "/dir"
}

// With the CA down, a new name fails its handshake with a logged
// reason, and is not tried again before its backoff, which doubles with
// each failure up to MaxBackoff.
func TestBackoffWhenCAIsDown(t *testing.T) {
	w := newWorld(t)
	down, url := downACME(t)
	clock := testclock.New(time.Now())
	logs := &syncBuffer{}
	reader := sdkmetric.NewManualReader()
	m, err := autotls.New(autotls.Options{
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		Allow:         w.allow,
		Storage:       newStorage(t, sqldbtest.OpenSQLite(t), keyringAEAD(t)),
		ACME:          certmagic.ACMEIssuer{CA: url, Agreed: true, DisableHTTPChallenge: true},
		MinBackoff:    time.Minute, MaxBackoff: 3 * time.Minute,
		Now:    clock.Now,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	require.NoError(t, err)
	t.Cleanup(m.Stop)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	server(t, l, m, http.HandlerFunc(w.page))
	addr := l.Addr().String()

	attempt := func() int64 {
		before := down.n.Load()
		assert.Error(t, handshake(addr, "app.customer.test"))
		return down.n.Load() - before
	}
	assert.NotZero(t, attempt(), "the first handshake tries the CA")
	assert.Contains(t, logs.String(), "certificate order failed")
	assert.Contains(t, logs.String(), "app.customer.test")
	assert.ErrorIs(t, m.Decide(context.Background(), "app.customer.test"), autotls.ErrBackoff)
	for range 5 {
		assert.Zero(t, attempt(), "in backoff: no retry")
	}

	clock.Advance(time.Minute)
	assert.NotZero(t, attempt(), "backoff over: tried again")
	clock.Advance(time.Minute)
	assert.Zero(t, attempt(), "second failure: backoff doubled to 2 minutes")
	clock.Advance(time.Minute)
	assert.NotZero(t, attempt())
	clock.Advance(3 * time.Minute)
	assert.NotZero(t, attempt(), "third failure: capped at MaxBackoff")

	// Backoff is per name: others are decided as usual.
	assert.ErrorIs(t, m.Decide(context.Background(), "other.customer.test"), autotls.ErrRefused)

	assert.EqualValues(t, 4, counted(t, reader, "saaskit.autotls.orders", "autotls.outcome", "failed"))
	assert.EqualValues(t, 6, counted(t, reader, "saaskit.autotls.refusals", "autotls.reason", "backoff"))
}

// counted is the value of the counter name for the attribute key=value.
func counted(t *testing.T, reader *sdkmetric.ManualReader, name, key, value string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
				for _, dp := range sum.DataPoints {
					if v, ok := dp.Attributes.Value(attribute.Key(key)); ok && v.AsString() == value {
						return dp.Value
					}
				}
			}
		}
	}
	return 0
}

// Two replicas on one database take the first handshakes of a new name
// at once: one order is made, whichever replica makes it; Pebble
// validates on replica a's port, which answers from the challenge
// that storage shares when b made the order.
func TestReplicasOrderOnce(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t)
		aead := keyringAEAD(t)
		la, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lb, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ca, err := devacme.Start(devacme.Options{TLSPort: la.Addr().(*net.TCPAddr).Port})
		require.NoError(t, err)
		t.Cleanup(func() { _ = ca.Close() })

		var addrs []string
		for i, l := range []net.Listener{la, lb} {
			st := db
			if i > 0 {
				st = sqldbtest.Reopen(t, db)
			}
			m, err := autotls.New(autotls.Options{Allow: w.allow, Storage: newStorage(t, st, aead), ACME: ca.Issuer()})
			require.NoError(t, err)
			t.Cleanup(m.Stop)
			server(t, l, m, http.HandlerFunc(w.page))
			addrs = append(addrs, l.Addr().String())
		}

		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Go(func() {
				body, err := get(addrs[i%2], "app.customer.test", ca.Roots())
				if err == nil && body != "hello from Acme Corp" {
					err = fmt.Errorf("body %q", body)
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.NoError(t, err)
		}
		assert.EqualValues(t, 1, ca.Orders(), "one order for the name across replicas")
	})
}

// Without a configured platform certificate but with a DNS-01 solver,
// the Manager obtains *.saas.test from the CA by DNS-01, once, and serves
// every platform subdomain with it.
func TestPlatformWildcardByDNS01(t *testing.T) {
	w := newWorld(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ca, err := devacme.Start(devacme.Options{TLSPort: l.Addr().(*net.TCPAddr).Port})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ca.Close() })
	issuer := ca.Issuer()
	issuer.DNS01Solver = ca.DNS01Solver()
	m, err := autotls.New(autotls.Options{
		Allow: w.allow, PlatformDomains: []string{"saas.test"},
		Storage: newStorage(t, sqldbtest.OpenSQLite(t), keyringAEAD(t)), ACME: issuer,
	})
	require.NoError(t, err)
	t.Cleanup(m.Stop)
	server(t, l, m, http.HandlerFunc(w.page))
	addr := l.Addr().String()

	dial := func(name string) error {
		conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, RootCAs: ca.Roots()})
		if err == nil {
			_ = conn.Close()
		}
		return err
	}
	await.True(t, func() bool { return dial("acme.saas.test") == nil }, "the wildcard is obtained in the background")
	require.NoError(t, dial("globex.saas.test"))
	assert.EqualValues(t, 1, ca.Orders(), "one wildcard order, not one per subdomain")

	// Tenants' names are still ordered on demand, by TLS-ALPN-01.
	body, err := get(addr, "app.customer.test", ca.Roots())
	require.NoError(t, err)
	assert.Equal(t, "hello from Acme Corp", body)
	assert.EqualValues(t, 2, ca.Orders())
}

// With TLS-ALPN-01 off, the tenant's certificate is validated by
// HTTP-01: Pebble fetches the challenge from the loopback port where
// HTTPChallengeHandler wraps the application's plain-HTTP handler, which
// still serves every other path.
func TestHTTP01AgainstPebble(t *testing.T) {
	w := newWorld(t)
	tlsL, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	httpL, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ca, err := devacme.Start(devacme.Options{TLSPort: tlsL.Addr().(*net.TCPAddr).Port, HTTPPort: httpL.Addr().(*net.TCPAddr).Port})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ca.Close() })
	issuer := ca.Issuer()
	issuer.DisableTLSALPNChallenge = true
	issuer.ListenHost = "127.0.0.1" // certmagic finds the port taken, so leaves the challenge to the handler
	m, err := autotls.New(autotls.Options{Allow: w.allow, Storage: newStorage(t, sqldbtest.OpenSQLite(t), keyringAEAD(t)), ACME: issuer})
	require.NoError(t, err)
	t.Cleanup(m.Stop)
	server(t, tlsL, m, http.HandlerFunc(w.page))

	var challenges atomic.Int64
	app := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { io.WriteString(rw, "plain http") })
	plain := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			challenges.Add(1)
		}
		m.HTTPChallengeHandler(app).ServeHTTP(rw, r)
	}), ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = plain.Serve(httpL) }()
	t.Cleanup(func() { _ = plain.Close() })

	body, err := get(tlsL.Addr().String(), "app.customer.test", ca.Roots())
	require.NoError(t, err)
	assert.Equal(t, "hello from Acme Corp", body)
	assert.EqualValues(t, 1, ca.Orders())
	assert.Positive(t, challenges.Load(), "Pebble fetched the HTTP-01 challenge from the handler")

	resp, err := http.Get("http://" + httpL.Addr().String() + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "plain http", string(b), "other paths reach the application")

	_, err = get(tlsL.Addr().String(), "other.customer.test", ca.Roots())
	assert.Error(t, err, "another tenant's unverified domain")
	assert.EqualValues(t, 1, ca.Orders(), "no order for a refused name")
}
