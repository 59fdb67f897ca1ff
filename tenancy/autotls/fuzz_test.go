package autotls_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/idna"

	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/tenancy/autotls"
	"github.com/saaskit/saaskit/tenancy/autotls/devacme"
)

const allowedName = "app.customer.test"

// asked records the names Options.Allow was asked about; it allows
// allowedName only.
type asked struct {
	mu    sync.Mutex
	names []string
}

func (a *asked) allow(_ context.Context, name string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.names = append(a.names, name)
	if name == allowedName {
		return nil
	}
	return errors.New("not a verified domain")
}

func (a *asked) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.names
	a.names = nil
	return n
}

func TestDecide(t *testing.T) {
	a := &asked{}
	m, err := autotls.New(autotls.Options{Allow: a.allow, PlatformDomains: []string{"saas.test"}})
	require.NoError(t, err)
	t.Cleanup(m.Stop)
	ctx := context.Background()
	assert.NoError(t, m.Decide(ctx, allowedName))
	for _, name := range append(hostileNames(), "APP.customer.test", "app.customer.test.", "1.2.3.4", "a..b", "a.b.123") {
		err := m.Decide(ctx, name)
		assert.Error(t, err, name)
	}
	assert.ErrorIs(t, m.Decide(ctx, "acme.saas.test"), autotls.ErrPlatform)
	assert.ErrorIs(t, m.Decide(ctx, "other.customer.test"), autotls.ErrRefused)
	assert.Equal(t, []string{allowedName, "xn--bcher-kva.customer.test", "other.customer.test", "app.customer.test.evil.test", "other.customer.test"}, a.take(),
		"Allow sees only well-formed, non-platform names")
}

func TestNewRejectsBadOptions(t *testing.T) {
	platform, _ := platformCert(t)
	for name, opts := range map[string]autotls.Options{
		"MinBackoff":      {MinBackoff: -1},
		"MaxBackoff":      {MinBackoff: 2 * 60e9, MaxBackoff: 60e9},
		"PlatformDomains": {PlatformDomains: []string{"not a domain"}},
		"PlatformCert":    {PlatformCert: &tls.Certificate{}},
		"*.other.test":    {PlatformDomains: []string{"other.test"}, PlatformCert: platform},
	} {
		_, err := autotls.New(opts)
		assert.ErrorIs(t, err, autotls.ErrInvalid, name)
		assert.ErrorContains(t, err, strings.TrimPrefix(name, "*."), name)
	}
}

// FuzzServerName sends random server names through the handshake path
// of a Manager whose CA is a Pebble: no name but the allowed one ever
// makes an order, Allow only ever sees well-formed names, and a refused
// handshake errs or gets the platform certificate.
func FuzzServerName(f *testing.F) {
	for _, n := range hostileNames() {
		f.Add(n)
	}
	f.Add("APP.CUSTOMER.TEST")
	f.Add("app.customer.test\x00")
	f.Add("xn--.test")
	ca, err := devacme.Start(devacme.Options{TLSPort: 1})
	require.NoError(f, err)
	f.Cleanup(func() { _ = ca.Close() })
	platform, _ := platformCert(f)
	a := &asked{}
	m, err := autotls.New(autotls.Options{
		Allow: a.allow, PlatformDomains: []string{"saas.test"}, PlatformCert: platform,
		ACME: ca.Issuer(), Storage: newStorage(f, sqldbtest.OpenSQLite(f), keyringAEAD(f)),
	})
	require.NoError(f, err)
	f.Cleanup(m.Stop)

	f.Fuzz(func(t *testing.T, sni string) {
		if n, err := idna.Lookup.ToASCII(strings.TrimSpace(strings.ToLower(strings.TrimSuffix(sni, ".")))); err == nil && n == allowedName {
			t.Skip("the allowed name may be ordered")
		}
		c1, c2 := net.Pipe()
		defer c1.Close()
		defer c2.Close()
		cert, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: sni, Conn: c1})
		if err == nil {
			assert.Same(t, platform, cert, "only the platform certificate is served for %q", sni)
		}
		for _, name := range a.take() {
			assert.NoError(t, validName(name), "Allow asked about %q for SNI %q", name, sni)
			assert.NotEqual(t, allowedName, name)
		}
		assert.Zero(t, ca.Orders(), "an order for SNI %q", sni)
	})
}

// validName is what Allow may be asked about: lower-case LDH labels.
func validName(name string) error {
	if len(name) == 0 || len(name) > 253 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "" {
		return errors.New("not a lower-case LDH name")
	}
	return nil
}
