package webhook_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
)

// loopback is the AllowCIDRs that lets tests reach their httptest servers.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func TestForbiddenIP(t *testing.T) {
	tests := []struct {
		ip     string
		denied bool
	}{
		// IPv4 unspecified / "this network" 0.0.0.0/8
		{"0.0.0.0", true}, {"0.255.255.255", true}, {"1.0.0.1", false},
		// loopback 127.0.0.0/8
		{"127.0.0.0", true}, {"127.0.0.1", true}, {"127.255.255.255", true}, {"128.0.0.1", false},
		// RFC 1918
		{"9.255.255.255", false}, {"10.0.0.0", true}, {"10.255.255.255", true}, {"11.0.0.0", false},
		{"172.15.255.255", false}, {"172.16.0.0", true}, {"172.31.255.255", true}, {"172.32.0.0", false},
		{"192.167.255.255", false}, {"192.168.0.0", true}, {"192.168.255.255", true}, {"192.169.0.0", false},
		// link-local 169.254.0.0/16
		{"169.253.255.255", false}, {"169.254.0.0", true}, {"169.254.255.255", true}, {"169.255.0.0", false},
		// CGNAT 100.64.0.0/10
		{"100.63.255.255", false}, {"100.64.0.0", true}, {"100.127.255.255", true}, {"100.128.0.0", false},
		// multicast 224.0.0.0/4, reserved 240.0.0.0/4, broadcast
		{"223.255.255.255", false}, {"224.0.0.0", true}, {"239.255.255.255", true},
		{"240.0.0.0", true}, {"250.1.2.3", true}, {"255.255.255.254", true}, {"255.255.255.255", true},
		// documentation
		{"192.0.2.0", true}, {"192.0.2.255", true}, {"198.51.100.7", true}, {"203.0.113.255", true},
		{"203.0.114.0", false},
		// benchmarking 198.18.0.0/15
		{"198.17.255.255", false}, {"198.18.0.0", true}, {"198.19.255.255", true}, {"198.20.0.0", false},
		// IETF protocol assignments 192.0.0.0/24, 6to4 relay anycast 192.88.99.0/24
		{"192.0.0.0", true}, {"192.0.0.170", true}, {"192.0.1.0", false},
		{"192.88.99.1", true}, {"192.88.100.0", false},
		// cloud metadata
		{"169.254.169.254", true}, {"169.254.170.2", true}, {"100.100.100.200", true},

		// IPv6 unspecified, loopback, IPv4-compatible ::/96
		{"::", true}, {"::1", true}, {"::10.0.0.1", true}, {"::8.8.8.8", true}, {"::ffff:ffff", true},
		// IPv4-mapped: judged by the IPv4 address
		{"::ffff:127.0.0.1", true}, {"::ffff:10.0.0.1", true}, {"::ffff:169.254.169.254", true},
		{"::ffff:0.0.0.0", true}, {"::ffff:8.8.8.8", false},
		// NAT64
		{"64:ff9b::8.8.8.8", true}, {"64:ff9b::127.0.0.1", true}, {"64:ff9b:1::1", true},
		{"64:ff9b:1:ffff:ffff:ffff:ffff:ffff", true},
		// discard-only 100::/64
		{"100::", true}, {"100::ffff:ffff:ffff:ffff", true},
		// Teredo 2001::/32, benchmarking 2001:2::/48, IETF 2001::/23
		{"2001::", true}, {"2001:0:ffff:ffff:ffff:ffff:ffff:ffff", true},
		{"2001:2::1", true}, {"2001:2:0:ffff::1", true}, {"2001:1ff::1", true}, {"2001:200::1", false},
		// documentation 2001:db8::/32, 3fff::/20
		{"2001:db8::", true}, {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true}, {"2001:db9::1", false},
		{"3fff::1", true}, {"3fff:fff:ffff::1", true},
		// 6to4 2002::/16, denied whole even when the embedded IPv4 is public
		{"2002::1", true}, {"2002:c0a8:0101::1", true}, {"2002:0808:0808::1", true},
		{"2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true}, {"2003::1", false},
		// unique local fc00::/7 (and AWS metadata inside it)
		{"fc00::", true}, {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true}, {"fd00:ec2::254", true},
		// link-local fe80::/10, site-local fec0::/10
		{"fe80::", true}, {"fe80::1", true}, {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
		{"fec0::1", true}, {"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
		// multicast ff00::/8
		{"ff00::", true}, {"ff02::1", true}, {"ff0e::1", true},
		// SRv6 SIDs 5f00::/16 and everything else outside 2000::/3
		{"5f00::1", true}, {"4000::1", true}, {"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},

		// public addresses
		{"8.8.8.8", false}, {"1.1.1.1", false}, {"93.184.216.34", false}, {"151.101.1.69", false},
		{"2606:4700:4700::1111", false}, {"2001:4860:4860::8888", false}, {"2a00:1450:4001:82b::200e", false},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			assert.Equal(t, tt.denied, webhook.ForbiddenIP(netip.MustParseAddr(tt.ip)))
		})
	}
}

func TestForbiddenIPEdgeForms(t *testing.T) {
	assert.True(t, webhook.ForbiddenIP(netip.Addr{}), "zero Addr fails closed")
	assert.True(t, webhook.ForbiddenIP(netip.MustParseAddr("fe80::1%eth0")), "zone is ignored")
	assert.True(t, webhook.ForbiddenIP(netip.MustParseAddr("::1%lo")), "zone is ignored")
	assert.False(t, webhook.ForbiddenIP(netip.MustParseAddr("2606:4700:4700::1111%eth0")), "zone is ignored")
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		httpsOnly bool
		wantErr   string // substring of the error; "" means valid
	}{
		{"https", "https://example.com/hooks?x=1", false, ""},
		{"http", "http://example.com:8080/a/b", false, ""},
		{"upper-case scheme", "HTTPS://Example.COM/", false, ""},
		{"ipv6 literal", "https://[2606:4700:4700::1111]:8443/x", false, ""},
		{"port edges", "https://example.com:65535/", false, ""},
		{"port one", "https://example.com:1/", false, ""},
		{"https only ok", "https://example.com/", true, ""},
		{"exactly 2048 bytes", "https://example.com/" + strings.Repeat("a", 2048-len("https://example.com/")), false, ""},
		{"https only refuses http", "http://example.com/", true, `scheme "http" is not https`},
		{"empty", "", false, "empty"},
		{"relative path", "/hooks", false, "not absolute"},
		{"relative host", "example.com/hooks", false, "not absolute"},
		{"ftp", "ftp://example.com/file", false, `scheme "ftp" is not http or https`},
		{"javascript", "javascript:alert(1)", false, "not http or https"},
		{"userinfo", "https://user:pass@example.com/", false, "userinfo"},
		{"user only", "https://user@example.com/", false, "userinfo"},
		{"empty userinfo", "https://@example.com/", false, "userinfo"},
		{"fragment", "https://example.com/#frag", false, "fragment"},
		{"empty fragment", "https://example.com/#", false, "fragment"},
		{"too long", "https://example.com/" + strings.Repeat("a", 2048), false, "longer than 2048"},
		{"port zero", "https://example.com:0/", false, "1..65535"},
		{"port too big", "https://example.com:65536/", false, "1..65535"},
		{"port huge", "https://example.com:99999999999999999999/", false, "1..65535"},
		{"port not a number", "https://example.com:abc/", false, "port"},
		{"port empty", "https://example.com:/", false, "port is empty"},
		{"empty host", "https:///path", false, "host is missing"},
		{"port without host", "https://:443/", false, "host is missing"},
		{"opaque", "http:example.com", false, "host is missing"},
		{"space in host", "https://exa mple.com/", false, "whitespace"},
		{"space in path", "https://example.com/a b", false, "whitespace"},
		{"leading space", " https://example.com/", false, "whitespace"},
		{"trailing newline", "https://example.com/\n", false, "whitespace"},
		{"tab", "https://example.com/\t", false, "whitespace"},
		{"nul", "https://example.com/\x00", false, "control character"},
		{"bad escape", "https://example.com/%zz", false, "invalid URL escape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := webhook.CheckURL(tt.raw, tt.httpsOnly)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.NotNil(t, u)
				assert.True(t, u.IsAbs())
				assert.NotEmpty(t, u.Hostname())
				return
			}
			require.Error(t, err)
			assert.Nil(t, u)
			assert.ErrorIs(t, err, webhook.ErrInvalidURL)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestCheckURLErrorsDoNotRepeatTheURL(t *testing.T) {
	// Endpoint URLs often carry a secret token; errors must not echo it.
	for _, raw := range []string{
		"https://exa mple.com/s3cr3t",
		"https://example.com:abc/s3cr3t",
		"https://example.com/s3cr3t/%zz",
		"https://user:s3cr3t@example.com/",
		"https://example.com/#s3cr3t",
		"ftp://example.com/s3cr3t",
		"https://example.com:0/s3cr3t",
	} {
		_, err := webhook.CheckURL(raw, false)
		require.Error(t, err, raw)
		assert.NotContains(t, err.Error(), "s3cr3t", raw)
	}
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com/hooks", "http://[::1]:80/", "ftp://x", "https://u@h/", "https://h:0/",
		"/rel", "https://h/#f", "http:opaque", "https://h:/", "https://[fe80::1%25eth0]/",
	} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, raw string, httpsOnly bool) {
		u, err := webhook.CheckURL(raw, httpsOnly)
		if err != nil {
			require.ErrorIs(t, err, webhook.ErrInvalidURL)
			require.Nil(t, u)
			return
		}
		require.LessOrEqual(t, len(raw), 2048)
		require.True(t, u.Scheme == "https" || (u.Scheme == "http" && !httpsOnly), u.Scheme)
		require.NotEmpty(t, u.Hostname())
		require.Nil(t, u.User)
		require.Empty(t, u.Fragment)
	})
}

// counted returns a handler answering 200 "ok" and the number of requests
// it has served, to prove a refused request never reached the server.
func counted() (http.Handler, *atomic.Int64) {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		_, _ = io.WriteString(w, "ok")
	}), &n
}

func newClient(t *testing.T, opts webhook.DeliveryClientOptions) *http.Client {
	t.Helper()
	c := webhook.NewDeliveryClient(opts)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func get(t *testing.T, c *http.Client, rawURL string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	if resp != nil {
		t.Cleanup(func() { _ = resp.Body.Close() })
	}
	return resp, err
}

func TestDeliveryClientRefusesLoopbackByDefault(t *testing.T) {
	h, hits := counted()
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	t.Cleanup(srv.Close)

	resp, err := get(t, newClient(t, webhook.DeliveryClientOptions{}), srv.URL)
	require.Error(t, err)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, webhook.ErrForbiddenAddress)
	assert.Contains(t, err.Error(), "127.0.0.1", "the error names the address")
	var ue *url.Error
	assert.ErrorAs(t, err, &ue, "client.Do wraps the dial error in *url.Error")
	var oe *net.OpError
	assert.ErrorAs(t, err, &oe, "the dialer wraps the Control error in *net.OpError")
	assert.Zero(t, hits.Load(), "nothing reached the server")

	resp, err = get(t, newClient(t, webhook.DeliveryClientOptions{AllowCIDRs: loopback}), srv.URL)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, int64(1), hits.Load())
}

func TestDeliveryClientAllowCIDRsIsExact(t *testing.T) {
	h, hits := counted()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	for _, allow := range [][]netip.Prefix{
		{netip.MustParsePrefix("127.0.0.2/32")},
		{netip.MustParsePrefix("10.0.0.0/8")},
		{{}}, // zero Prefix matches nothing
	} {
		_, err := get(t, newClient(t, webhook.DeliveryClientOptions{AllowCIDRs: allow}), srv.URL)
		assert.ErrorIs(t, err, webhook.ErrForbiddenAddress, "%v", allow)
	}
	_, err := get(t, newClient(t, webhook.DeliveryClientOptions{
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	}), srv.URL)
	require.NoError(t, err)
	_, err = get(t, newClient(t, webhook.DeliveryClientOptions{
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.0/104")},
	}), srv.URL)
	require.NoError(t, err, "an IPv4-mapped prefix allows the IPv4 address")
	assert.Equal(t, int64(2), hits.Load())
}

// fakeDNS serves A and AAAA records over UDP on 127.0.0.1 and returns a
// resolver that sends every query to it. Unknown names get NXDOMAIN.
func fakeDNS(t *testing.T, records map[string][]netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return // closed
			}
			if msg := dnsAnswer(buf[:n], records); msg != nil {
				_, _ = pc.WriteTo(msg, addr)
			}
		}
	}()
	server := pc.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", server)
		},
	}
}

// dnsAnswer builds the response to one query, or nil to drop it.
func dnsAnswer(query []byte, records map[string][]netip.Addr) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	addrs, known := records[strings.ToLower(q.Name.String())]
	rcode := dnsmessage.RCodeSuccess
	if !known {
		rcode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{
		ID: h.ID, Response: true, Authoritative: true,
		RecursionDesired: h.RecursionDesired, RecursionAvailable: true, RCode: rcode,
	})
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil
	}
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 1}
	for _, a := range addrs {
		switch {
		case q.Type == dnsmessage.TypeA && a.Is4():
			err = b.AResource(rh, dnsmessage.AResource{A: a.As4()})
		case q.Type == dnsmessage.TypeAAAA && a.Is6():
			err = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
		if err != nil {
			return nil
		}
	}
	msg, err := b.Finish()
	if err != nil {
		return nil
	}
	return msg
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

func TestDeliveryClientRefusesNamesResolvingToDeniedAddresses(t *testing.T) {
	h, hits := counted()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)

	resolver := fakeDNS(t, map[string][]netip.Addr{
		"internal.test.":  addrs("127.0.0.1"),
		"metadata.test.":  addrs("169.254.169.254"),
		"internal6.test.": addrs("::1"),
		"localhost.":      addrs("127.0.0.1", "::1"),
	})

	tests := []struct {
		name     string
		host     string
		resolver *net.Resolver
		address  string // the address the error names; "" to skip
	}{
		{"A record to loopback", "internal.test", resolver, "127.0.0.1"},
		{"A record to cloud metadata", "metadata.test", resolver, "169.254.169.254"},
		{"AAAA record to loopback", "internal6.test", resolver, "::1"},
		{"localhost, test resolver", "localhost", resolver, ""},
		{"localhost, default resolver", "localhost", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, webhook.DeliveryClientOptions{Resolver: tt.resolver})
			_, err := get(t, c, "http://"+net.JoinHostPort(tt.host, port)+"/")
			require.Error(t, err)
			assert.ErrorIs(t, err, webhook.ErrForbiddenAddress)
			if tt.address != "" {
				assert.Contains(t, err.Error(), tt.address)
			}
		})
	}
	assert.Zero(t, hits.Load(), "nothing reached the server")

	// Control: the same name through the same resolver reaches the server
	// once loopback is allowed, so the refusals above came from the guard.
	c := newClient(t, webhook.DeliveryClientOptions{Resolver: resolver, AllowCIDRs: loopback})
	resp, err := get(t, c, "http://"+net.JoinHostPort("internal.test", port)+"/")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, int64(1), hits.Load())
}

// TestMetadataStaysRefusedWhenAllowed: an allow-list broad enough to
// contain the cloud metadata addresses still does not reach them.
func TestMetadataStaysRefusedWhenAllowed(t *testing.T) {
	c := newClient(t, webhook.DeliveryClientOptions{Timeout: time.Second, AllowCIDRs: []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"),
	}})
	for _, addr := range []string{
		"169.254.169.254", "169.254.170.2", "100.100.100.200", "[fd00:ec2::254]", "[::ffff:169.254.169.254]",
		"169.254.170.23", "[fd00:ec2::23]", // the EKS Pod Identity agent
		"[64:ff9b::a9fe:a9fe]",          // NAT64 of 169.254.169.254
		"[64:ff9b:1::a9fe:a9fe]",        // NAT64, local-use prefix
		"[2002:a9fe:a9fe::]",            // 6to4
		"[::a9fe:a9fe]",                 // IPv4-compatible
		"[2001:0:a9fe:a9fe::1]",         // Teredo, as its server
		"[2001:0:4136:e378::5601:5601]", // Teredo, as its (inverted) client
	} {
		_, err := get(t, c, "http://"+addr+"/latest/meta-data/")
		assert.ErrorIs(t, err, webhook.ErrForbiddenAddress, addr)
	}
}

// TestMetadataAddressesAreDocumented: the list of credential endpoints
// is public, and holds the ones the providers document.
func TestMetadataAddressesAreDocumented(t *testing.T) {
	var got []string
	for _, a := range webhook.MetadataAddresses() {
		got = append(got, a.String())
	}
	assert.Subset(t, got, []string{"169.254.169.254", "169.254.170.2", "169.254.170.23", "100.100.100.200", "fd00:ec2::254", "fd00:ec2::23"})
}

func TestDeliveryClientChecksEveryAddressTried(t *testing.T) {
	h, hits := counted()
	srv := httptest.NewServer(h) // on 127.0.0.1; nothing listens on 127.0.0.2
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	resolver := fakeDNS(t, map[string][]netip.Addr{"two.test.": addrs("127.0.0.2", "127.0.0.1")})
	target := "http://" + net.JoinHostPort("two.test", port) + "/"

	// 127.0.0.1 is denied even though the other address is allowed: the
	// check runs per connection attempt, not once per host name.
	c := newClient(t, webhook.DeliveryClientOptions{
		Resolver:   resolver,
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")},
	})
	_, err = get(t, c, target)
	require.Error(t, err)
	assert.Zero(t, hits.Load())

	// A denied address does not spoil an allowed one.
	c = newClient(t, webhook.DeliveryClientOptions{
		Resolver:   resolver,
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	})
	_, err = get(t, c, target)
	require.NoError(t, err)
	assert.Equal(t, int64(1), hits.Load())
}

func TestDeliveryClientDoesNotFollowRedirects(t *testing.T) {
	h, hits := counted()
	target := httptest.NewServer(h)
	t.Cleanup(target.Close)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/next", http.StatusFound)
	}))
	t.Cleanup(redirector.Close)

	resp, err := get(t, newClient(t, webhook.DeliveryClientOptions{AllowCIDRs: loopback}), redirector.URL)
	require.NoError(t, err)
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	assert.Equal(t, target.URL+"/next", resp.Header.Get("Location"))
	assert.Zero(t, hits.Load(), "the redirect was not followed")
}

func TestDeliveryClientTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	const bound = 10 * time.Second // generous: this checks the request ends, not how fast

	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.Header().Set("Content-Length", "1000")
			_, _ = io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	c := newClient(t, webhook.DeliveryClientOptions{AllowCIDRs: loopback, Timeout: timeout})

	t.Run("no response headers", func(t *testing.T) {
		start := time.Now()
		_, err := get(t, c, srv.URL+"/headers")
		require.Error(t, err)
		assert.Less(t, time.Since(start), bound)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout(), "%v", err)
	})
	t.Run("body never finishes", func(t *testing.T) {
		start := time.Now()
		resp, err := get(t, c, srv.URL+"/body")
		require.NoError(t, err)
		data, err := webhook.ReadCapped(resp, 0)
		require.Error(t, err, "the timeout covers reading the body")
		assert.Less(t, time.Since(start), bound)
		assert.Equal(t, "partial", string(data), "bytes read before the error are returned")
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout(), "%v", err)
	})
}

func TestDeliveryClientCapsResponseBody(t *testing.T) {
	const size = 10 << 20
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			_, _ = io.WriteString(w, "hello")
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(size))
		chunk := []byte(strings.Repeat("x", 32<<10))
		for written := 0; written < size; written += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return // the client hung up, as it should
			}
		}
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name    string
		maxBody int64 // DeliveryClientOptions.MaxResponseBody
		readMax int64 // ReadCapped's max
		path    string
		want    int
	}{
		{"client cap", 1000, 1000, "/big", 1000},
		{"default cap is 64 KiB", 0, 0, "/big", 64 << 10},
		{"ReadCapped below the client cap", 1000, 10, "/big", 10},
		{"client cap below ReadCapped", 1000, 1 << 20, "/big", 1000},
		{"short body", 1000, 1000, "/small", len("hello")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, webhook.DeliveryClientOptions{AllowCIDRs: loopback, MaxResponseBody: tt.maxBody})
			resp, err := get(t, c, srv.URL+tt.path)
			require.NoError(t, err)
			data, err := webhook.ReadCapped(resp, tt.readMax)
			require.NoError(t, err)
			assert.Len(t, data, tt.want)
		})
	}

	t.Run("caller reading resp.Body directly is capped too", func(t *testing.T) {
		c := newClient(t, webhook.DeliveryClientOptions{AllowCIDRs: loopback, MaxResponseBody: 1000})
		resp, err := get(t, c, srv.URL+"/big")
		require.NoError(t, err)
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Len(t, data, 1000)
	})
}

// endless is a response body that never ends; it counts what was read.
type endless struct {
	read   int64
	closed bool
}

func (e *endless) Read(p []byte) (int, error) {
	if e.read > 100<<20 { // a safety net so a broken ReadCapped fails instead of hanging
		return 0, errors.New("read too far")
	}
	e.read += int64(len(p))
	return len(p), nil
}

func (e *endless) Close() error { e.closed = true; return nil }

func TestReadCappedReadsABoundedAmount(t *testing.T) {
	body := &endless{}
	data, err := webhook.ReadCapped(&http.Response{Body: body}, 100)
	require.NoError(t, err)
	assert.Len(t, data, 100)
	assert.True(t, body.closed)
	assert.Less(t, body.read, int64(64<<10), "drained only a small bound past the cap")

	data, err = webhook.ReadCapped(nil, 100)
	assert.NoError(t, err)
	assert.Empty(t, data)
	data, err = webhook.ReadCapped(&http.Response{}, 100)
	assert.NoError(t, err)
	assert.Empty(t, data)
}

// trackedBody is a request body that records being closed.
type trackedBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackedBody) Close() error { b.closed.Store(true); return nil }

func TestDeliveryClientHTTPSOnly(t *testing.T) {
	h, hits := counted()
	tlsSrv := httptest.NewUnstartedServer(h)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-CA case below logs a handshake error
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	plain := httptest.NewServer(h)
	t.Cleanup(plain.Close)
	roots := x509.NewCertPool()
	roots.AddCert(tlsSrv.Certificate())

	c := newClient(t, webhook.DeliveryClientOptions{AllowCIDRs: loopback, HTTPSOnly: true, RootCAs: roots})

	resp, err := get(t, c, tlsSrv.URL)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotNil(t, resp.TLS)
	assert.GreaterOrEqual(t, resp.TLS.Version, uint16(0x0303), "TLS 1.2 or later")

	_, err = get(t, c, plain.URL)
	require.Error(t, err)
	assert.ErrorIs(t, err, webhook.ErrInvalidURL)
	assert.Contains(t, err.Error(), "not https")

	body := &trackedBody{Reader: strings.NewReader(`{"a":1}`)}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, plain.URL, body)
	require.NoError(t, err)
	_, err = c.Do(req)
	assert.ErrorIs(t, err, webhook.ErrInvalidURL)
	assert.True(t, body.closed.Load(), "a refused request's body is closed")
	assert.Equal(t, int64(1), hits.Load(), "only the https request was served")

	// Without HTTPSOnly the same client settings reach http:// too.
	resp, err = get(t, newClient(t, webhook.DeliveryClientOptions{AllowCIDRs: loopback}), plain.URL)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// RootCAs default to the system roots, which do not trust the test CA.
	_, err = get(t, newClient(t, webhook.DeliveryClientOptions{AllowCIDRs: loopback, HTTPSOnly: true}), tlsSrv.URL)
	require.Error(t, err)
	var unknownAuthority x509.UnknownAuthorityError
	assert.ErrorAs(t, err, &unknownAuthority)

	// The guard applies to https as well: loopback is refused by default.
	_, err = get(t, newClient(t, webhook.DeliveryClientOptions{HTTPSOnly: true, RootCAs: roots}), tlsSrv.URL)
	assert.ErrorIs(t, err, webhook.ErrForbiddenAddress)
}

// TestForbiddenEndpointsAreRefusedAtRegistration: an endpoint whose host
// is a forbidden address is refused when it is created, with the reason,
// not first at delivery; the allowance covers what it names, never the
// metadata endpoints.
func TestForbiddenEndpointsAreRefusedAtRegistration(t *testing.T) {
	uri, err := fakekms.NewKeyURI()
	require.NoError(t, err)
	aead, err := fakekms.NewAEAD(uri)
	require.NoError(t, err)
	newDispatcher := func(allow []netip.Prefix) *webhook.Dispatcher {
		st := memstore.New()
		d, err := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return aead }, webhook.DispatcherOptions{AllowCIDRs: allow})
		require.NoError(t, err)
		return d
	}
	strict, lenient := newDispatcher(nil), newDispatcher(loopback)
	ctx := context.Background()
	for _, tc := range []struct {
		url             string
		strict, lenient bool // accepted
	}{
		{"https://hooks.example.com/x", true, true},
		{"http://127.0.0.1:8080/x", false, true},
		{"http://localhost:8080/x", false, true},
		{"http://api.localhost/x", false, true},
		{"http://[::1]/x", false, false},
		{"http://10.0.0.1/x", false, false},
		{"http://169.254.169.254/latest/meta-data/", false, false},
		{"http://[::ffff:169.254.169.254]/", false, false},
		{"http://[64:ff9b::a9fe:a9fe]/", false, false},
	} {
		for _, d := range []struct {
			name     string
			d        *webhook.Dispatcher
			accepted bool
		}{{"strict", strict, tc.strict}, {"loopback allowed", lenient, tc.lenient}} {
			_, _, err := d.d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: tc.url})
			if d.accepted {
				assert.NoError(t, err, "%s: %s", d.name, tc.url)
			} else {
				assert.ErrorIs(t, err, webhook.ErrInvalidURL, "%s: %s", d.name, tc.url)
			}
		}
	}
}
