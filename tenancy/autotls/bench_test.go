package autotls_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/tenancy/autotls"
	"github.com/saaskit/saaskit/tenancy/autotls/devacme"
)

// BenchmarkHandshake compares a full TLS handshake served by a
// Manager for a tenant certificate in its cache with the limit: the same
// certificate in a static tls.Config. Both run over net.Pipe with a
// client that skips verification, so the difference is the server's
// certificate selection.
func BenchmarkHandshake(b *testing.B) {
	w := newWorld(b)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	ca, err := devacme.Start(devacme.Options{TLSPort: l.Addr().(*net.TCPAddr).Port})
	require.NoError(b, err)
	b.Cleanup(func() { _ = ca.Close() })
	m, err := autotls.New(autotls.Options{Allow: w.allow, ACME: ca.Issuer(), Storage: newStorage(b, sqldbtest.OpenSQLite(b), keyringAEAD(b))})
	require.NoError(b, err)
	b.Cleanup(m.Stop)
	server(b, l, m, http.HandlerFunc(w.page))
	_, err = get(l.Addr().String(), "app.customer.test", ca.Roots()) // obtains the certificate
	require.NoError(b, err)

	c1, c2 := net.Pipe()
	cert, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "app.customer.test", Conn: c1})
	require.NoError(b, err)
	_ = c1.Close()
	_ = c2.Close()
	static := m.TLSConfig()
	static.GetCertificate = nil
	static.Certificates = []tls.Certificate{*cert}

	client := &tls.Config{ServerName: "app.customer.test", InsecureSkipVerify: true} //nolint:gosec // measuring the server's side
	for _, bc := range []struct {
		name string
		cfg  *tls.Config
	}{{"autotls", m.TLSConfig()}, {"static", static}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s, c := net.Pipe()
				done := make(chan error, 1)
				go func() { done <- tls.Server(s, bc.cfg).HandshakeContext(context.Background()) }()
				if err := tls.Client(c, client).HandshakeContext(context.Background()); err != nil {
					b.Fatal(err)
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				_ = s.Close()
				_ = c.Close()
			}
		})
	}
	require.EqualValues(b, 1, ca.Orders())
}
