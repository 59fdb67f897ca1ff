package webhook_test

import (
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
)

// connectProxy is an HTTP proxy that only tunnels (CONNECT), recording
// each target and the credentials it was given.
type connectProxy struct {
	*httptest.Server
	mu      sync.Mutex
	targets []string
	auth    []string
}

func newConnectProxy(t *testing.T) *connectProxy {
	p := &connectProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.targets, p.auth = append(p.targets, r.Host), append(p.auth, r.Header.Get("Proxy-Authorization"))
		p.mu.Unlock()
		if r.Method != http.MethodConnect {
			http.Error(w, "tunnels only", http.StatusMethodNotAllowed)
			return
		}
		dst, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		src, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			_ = dst.Close()
			return
		}
		go func() { _, _ = io.Copy(dst, buf); _ = dst.Close() }()
		_, _ = io.Copy(src, dst)
		_ = src.Close()
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *connectProxy) seen() ([]string, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...), append([]string(nil), p.auth...)
}

// TestEgressProxyTunnelsToCheckedAddresses: through an egress proxy the
// client connects by CONNECT to the address it resolved and checked
// itself, never to a name, TLS stays end to end, and a destination the
// guard denies never reaches the proxy.
func TestEgressProxyTunnelsToCheckedAddresses(t *testing.T) {
	tlsReceiver := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(tlsReceiver.Close)
	roots := x509.NewCertPool()
	roots.AddCert(tlsReceiver.Certificate())
	plainReceiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	t.Cleanup(plainReceiver.Close)
	_, plainPort, err := net.SplitHostPort(plainReceiver.Listener.Addr().String())
	require.NoError(t, err)

	proxy := newConnectProxy(t)
	proxyURL, err := url.Parse(proxy.URL)
	require.NoError(t, err)
	proxyURL.User = url.UserPassword("sender", "s3cret")
	resolver := fakeDNS(t, map[string][]netip.Addr{"hooks.test.": addrs("127.0.0.1"), "metadata.test.": addrs("169.254.169.254")})
	client := func(allow ...netip.Prefix) *http.Client {
		return newClient(t, webhook.DeliveryClientOptions{EgressProxy: proxyURL, AllowCIDRs: allow, Resolver: resolver, RootCAs: roots})
	}

	resp, err := get(t, client(loopback...), tlsReceiver.URL+"/") // its certificate names 127.0.0.1
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, "https through the tunnel")
	resp, err = get(t, client(loopback...), "http://"+net.JoinHostPort("hooks.test", plainPort)+"/")
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, resp.StatusCode, "http through the tunnel")
	targets, auth := proxy.seen()
	assert.Equal(t, []string{tlsReceiver.Listener.Addr().String(), net.JoinHostPort("127.0.0.1", plainPort)}, targets,
		"the proxy is asked for checked addresses, never names")
	assert.Equal(t, "Basic c2VuZGVyOnMzY3JldA==", auth[0], "the proxy's credentials")

	for name, tc := range map[string]struct {
		url   string
		allow []netip.Prefix
	}{
		"loopback by name, not allowed": {"http://" + net.JoinHostPort("hooks.test", plainPort) + "/", nil},
		"loopback literal, not allowed": {plainReceiver.URL + "/", nil},
		"metadata, though all allowed":  {"http://metadata.test/latest", []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}},
	} {
		_, err := get(t, client(tc.allow...), tc.url)
		assert.ErrorIs(t, err, webhook.ErrForbiddenAddress, name)
	}
	after, _ := proxy.seen()
	assert.Len(t, after, 2, "a denied destination reached the proxy")
}
