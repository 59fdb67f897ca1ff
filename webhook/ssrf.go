package webhook

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Errors of the outbound delivery client and of endpoint URL validation.
var (
	// ErrForbiddenAddress: the delivery client refused to connect because
	// the destination IP address, after DNS resolution, is in the deny list
	// (see ForbiddenIP) and in no DeliveryClientOptions.AllowCIDRs prefix.
	// Errors returned by the client's Do wrap it; test with errors.Is.
	ErrForbiddenAddress = errors.New("webhook: destination address is not allowed")
	// ErrInvalidURL: an endpoint URL breaks a rule of CheckURL, or the
	// delivery client was asked for an http:// URL while HTTPSOnly is set.
	// The wrapping error names the rule; it never repeats the whole URL,
	// which may carry a secret token in its path or query.
	ErrInvalidURL = errors.New("webhook: invalid endpoint url")
)

const (
	// ssrfDefaultTimeout is DeliveryClientOptions.Timeout's default.
	ssrfDefaultTimeout = 15 * time.Second
	// ssrfDefaultMaxBody is DeliveryClientOptions.MaxResponseBody's default
	// and ReadCapped's when max <= 0.
	ssrfDefaultMaxBody = 64 << 10
	// ssrfDrainBound is how many bytes past the cap are read and discarded
	// on Close so that a short tail lets the connection be reused; a longer
	// body is abandoned and its connection closed instead of read.
	ssrfDrainBound = 4 << 10
	// ssrfMaxURLLen is the longest endpoint URL CheckURL accepts.
	ssrfMaxURLLen = 2048
	// ssrfMaxHeaderBytes caps the response header block the client reads.
	ssrfMaxHeaderBytes = 64 << 10
)

// DeliveryClientOptions configure NewDeliveryClient. The zero value is a
// client for production use: every address in the deny list refused,
// http and https allowed, a 15 second timeout, 64 KiB of response body,
// the default resolver and the system's root certificates.
type DeliveryClientOptions struct {
	// AllowCIDRs are ranges the client may connect to even though
	// ForbiddenIP denies them: a local receiver in development, an
	// httptest server in tests, a private network the operator trusts.
	// Cloud metadata and credential endpoints (MetadataAddresses:
	// 169.254.169.254, the ECS and EKS Pod Identity agents, ...) stay
	// refused even inside an allowed prefix, however spelled (IPv4-mapped,
	// NAT64, 6to4, Teredo, IPv4-compatible): no webhook receiver lives
	// there, and they hand out the host's credentials. Default: none.
	AllowCIDRs []netip.Prefix
	// HTTPSOnly refuses http:// URLs (with ErrInvalidURL) before any
	// connection is made. Default: false, both schemes allowed.
	HTTPSOnly bool
	// Timeout bounds the whole request: dialing, TLS, waiting for the
	// response headers and reading the (capped) body. Zero or negative
	// means the default, 15 seconds.
	Timeout time.Duration
	// MaxResponseBody is how many bytes of a response body the client lets
	// the caller read (and the attempt log keep); past it the body reads
	// as ended. Zero or negative means the default, 64 KiB.
	MaxResponseBody int64
	// Resolver resolves endpoint host names. Default: net.DefaultResolver.
	Resolver *net.Resolver
	// RootCAs are the certificate authorities trusted for https
	// endpoints. Default: nil, the system's root certificates.
	RootCAs *x509.CertPool
	// EgressProxy, when set, is an HTTP proxy (http://[user:pass@]host:port)
	// every delivery goes through, for networks whose only way out is a
	// proxy. The client resolves and checks the destination itself, then
	// asks the proxy to CONNECT to the checked IP address, never to a
	// host name the proxy would resolve on its own: the SSRF guard holds
	// on the final destination, and TLS is still end to end with the
	// endpoint. The proxy's own address is trusted. Default: none,
	// deliveries connect directly.
	EgressProxy *url.URL
}

// NewDeliveryClient returns the HTTP client webhook delivery uses to call
// customer-supplied URLs without being turned against the sender's own
// network (server-side request forgery).
//
// The destination is checked where it cannot be dodged: in the dialer's
// Control hook, after DNS resolution, on every connection attempt and
// for every IP address the dialer tries. A host name that resolves (or
// re-resolves, as in DNS rebinding) to a denied address is refused just
// like an IP literal; the error wraps ErrForbiddenAddress and names the
// address. Addresses are denied by ForbiddenIP unless they fall in
// opts.AllowCIDRs.
//
// The client uses no proxy from the environment (a proxy would make the
// connection to the destination, so the dial-time check would see only
// the proxy's address); opts.EgressProxy tunnels to checked addresses
// instead. It never follows redirects (a 3xx is returned
// to the caller as the response), requires TLS 1.2 or later, and caps
// the response headers and body. Its transport has the settings of
// http.DefaultTransport written out rather than cloned, so a program
// that altered http.DefaultTransport (a proxy, a DialTLSContext,
// InsecureSkipVerify) cannot weaken it.
//
// Read responses with ReadCapped. Call CloseIdleConnections on the
// client when done with it.
func NewDeliveryClient(opts DeliveryClientOptions) *http.Client {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = ssrfDefaultTimeout
	}
	maxBody := opts.MaxResponseBody
	if maxBody <= 0 {
		maxBody = ssrfDefaultMaxBody
	}
	resolver := opts.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	allow := append([]netip.Prefix(nil), opts.AllowCIDRs...)

	dialer := &net.Dialer{
		Timeout:   min(30*time.Second, timeout),
		KeepAlive: 30 * time.Second,
		Resolver:  resolver,
		Control: func(_, address string, _ syscall.RawConn) error {
			return checkDialAddress(allow, address)
		},
	}
	dial := dialer.DialContext
	if opts.EgressProxy != nil {
		dial = (&egressProxy{proxy: opts.EgressProxy, allow: allow, resolver: resolver,
			dialer: &net.Dialer{Timeout: dialer.Timeout, KeepAlive: dialer.KeepAlive}}).dial
	}
	transport := &http.Transport{
		// No proxy setting: a proxy would make the outbound connection
		// for us, so the dial-time check would only ever see the proxy's
		// address. EgressProxy tunnels from the dialer instead.
		Proxy:             nil,
		DialContext:       dial,
		ForceAttemptHTTP2: true,
		MaxIdleConns:      100,
		// Deliveries to one endpoint run in parallel (WorkerOptions.
		// PerEndpoint); keeping that many connections idle per host
		// avoids a new TCP and TLS handshake for most attempts.
		MaxIdleConnsPerHost:    16,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    min(10*time.Second, timeout),
		ExpectContinueTimeout:  1 * time.Second,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: ssrfMaxHeaderBytes,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			RootCAs:    opts.RootCAs,
		},
	}
	return &http.Client{
		Transport: &ssrfTransport{base: transport, httpsOnly: opts.HTTPSOnly, maxBody: maxBody},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Timeout: timeout,
	}
}

// checkDialAddress is the dialer's Control hook: address is the resolved
// "ip:port" about to be connected to.
func checkDialAddress(allow []netip.Prefix, address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Not an IP address: refuse rather than guess.
		return fmt.Errorf("%w: %q is not an ip address", ErrForbiddenAddress, address)
	}
	ip := ap.Addr()
	if metadataIP(ip) || ForbiddenIP(ip) && !ssrfAllowed(allow, ip) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ip)
	}
	return nil
}

// ssrfMetadata are the cloud providers' documented instance metadata
// and credential endpoints, refused whatever AllowCIDRs says, in every
// spelling: plain, IPv4-mapped, and embedded in an IPv6 translation
// address (NAT64, 6to4, Teredo, IPv4-compatible).
var ssrfMetadata = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack, DigitalOcean, ... instance metadata
	netip.MustParseAddr("169.254.170.2"),   // AWS ECS task metadata and credentials
	netip.MustParseAddr("169.254.170.23"),  // AWS EKS Pod Identity agent (credentials)
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud instance metadata
	netip.MustParseAddr("fd00:ec2::254"),   // AWS instance metadata over IPv6
	netip.MustParseAddr("fd00:ec2::23"),    // AWS EKS Pod Identity agent over IPv6
}

// MetadataAddresses returns the cloud metadata and credential endpoints
// that the delivery client refuses even inside an allowed prefix.
func MetadataAddresses() []netip.Addr { return slices.Clone(ssrfMetadata) }

func metadataIP(ip netip.Addr) bool {
	ip = ip.WithZone("").Unmap()
	if slices.Contains(ssrfMetadata, ip) {
		return true
	}
	for _, v4 := range embeddedIPv4(ip) {
		if slices.Contains(ssrfMetadata, v4) {
			return true
		}
	}
	return false
}

// Translation prefixes whose addresses carry an IPv4 address.
var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052: the IPv4 address in the last 32 bits
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215, with a /96 layout as operators use it
	sixToFour      = netip.MustParsePrefix("2002::/16")      // RFC 3056: the IPv4 address in bits 16 to 47
	teredo         = netip.MustParsePrefix("2001::/32")      // RFC 4380: server in bits 32 to 63, client inverted in the last 32
	ipv4Compatible = netip.MustParsePrefix("::/96")          // RFC 4291, deprecated: the last 32 bits
)

// embeddedIPv4 returns the IPv4 addresses an IPv6 translation address
// carries.
func embeddedIPv4(ip netip.Addr) []netip.Addr {
	if !ip.Is6() {
		return nil
	}
	b := ip.As16()
	last := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	switch {
	case nat64WellKnown.Contains(ip), nat64Local.Contains(ip), ipv4Compatible.Contains(ip):
		return []netip.Addr{last}
	case sixToFour.Contains(ip):
		return []netip.Addr{netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})}
	case teredo.Contains(ip):
		return []netip.Addr{
			netip.AddrFrom4([4]byte{b[4], b[5], b[6], b[7]}),
			netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}),
		}
	}
	return nil
}

// checkEndpointHost refuses an endpoint host that names a forbidden
// address outright: an IP literal that ForbiddenIP denies outside allow
// (metadata endpoints whatever allow says), or a localhost name unless
// allow holds loopback.
func checkEndpointHost(host string, allow []netip.Prefix) error {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		name := strings.ToLower(strings.TrimSuffix(host, "."))
		if name != "localhost" && !strings.HasSuffix(name, ".localhost") {
			return nil // a name: judged by the addresses it resolves to, at each dial
		}
		ip = netip.MustParseAddr("127.0.0.1") // RFC 6761: localhost names are loopback
	}
	if metadataIP(ip) || ForbiddenIP(ip) && !ssrfAllowed(allow, ip) {
		return fmt.Errorf("%w: url host %s is a private, loopback, link-local, metadata or otherwise reserved address; "+
			"deliveries to it are refused", ErrInvalidURL, host)
	}
	return nil
}

// ssrfAllowed reports whether ip is in one of the allowed prefixes; an
// IPv4 address and its IPv4-mapped IPv6 form are treated as one, so
// 127.0.0.0/8 and ::ffff:127.0.0.0/104 allow both.
func ssrfAllowed(allow []netip.Prefix, ip netip.Addr) bool {
	ip = ip.WithZone("") // Prefix.Contains never matches a zoned address
	v4 := ip.Unmap()
	mapped := netip.AddrFrom16(v4.As16())
	for _, p := range allow {
		if p.Contains(v4) || p.Contains(mapped) || p.Contains(ip) {
			return true
		}
	}
	return false
}

// ssrfTransport enforces HTTPSOnly on every request and caps response
// bodies; the dial-time address check lives in base's dialer.
type ssrfTransport struct {
	base      *http.Transport
	httpsOnly bool
	maxBody   int64

	mu sync.Mutex
	// byCertificate holds a clone of base per TLS client certificate
	// (by the SHA-256 of its leaf), so that connections made with one
	// endpoint's certificate are never reused for another's request.
	byCertificate map[[32]byte]*http.Transport
}

// maxCertificateTransports bounds byCertificate; past it, one transport
// is closed and dropped.
const maxCertificateTransports = 1024

type clientCertificateKey struct{}

// withClientCertificate returns ctx carrying cert for client's
// transport to present, or an error if client is not a delivery client
// (NewDeliveryClient), which alone keeps each certificate's connections
// apart.
func withClientCertificate(ctx context.Context, client *http.Client, cert *tls.Certificate) (context.Context, error) {
	if _, ok := client.Transport.(*ssrfTransport); !ok || len(cert.Certificate) == 0 {
		return nil, errors.New("the endpoint has a client certificate, which only NewDeliveryClient's client presents")
	}
	return context.WithValue(ctx, clientCertificateKey{}, cert), nil
}

// transportFor returns the transport for a request: base, or the clone
// that presents the client certificate the request's context carries.
func (t *ssrfTransport) transportFor(req *http.Request) (*http.Transport, error) {
	cert, _ := req.Context().Value(clientCertificateKey{}).(*tls.Certificate)
	if cert == nil {
		return t.base, nil
	}
	if !strings.EqualFold(req.URL.Scheme, "https") {
		return nil, fmt.Errorf("%w: a client certificate needs https, not %q", ErrInvalidURL, req.URL.Scheme)
	}
	key := sha256.Sum256(cert.Certificate[0])
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr := t.byCertificate[key]; tr != nil {
		return tr, nil
	}
	if t.byCertificate == nil {
		t.byCertificate = map[[32]byte]*http.Transport{}
	}
	if len(t.byCertificate) >= maxCertificateTransports {
		for k, old := range t.byCertificate { // any one: a map has no order to keep
			old.CloseIdleConnections()
			delete(t.byCertificate, k)
			break
		}
	}
	tr := t.base.Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	t.byCertificate[key] = tr
	return tr, nil
}

// RoundTrip implements http.RoundTripper.
func (t *ssrfTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		closeRequestBody(req)
		return nil, fmt.Errorf("%w: request has no url", ErrInvalidURL)
	}
	if t.httpsOnly && !strings.EqualFold(req.URL.Scheme, "https") {
		closeRequestBody(req)
		return nil, fmt.Errorf("%w: scheme %q is not https", ErrInvalidURL, req.URL.Scheme)
	}
	base, err := t.transportFor(req)
	if err != nil {
		closeRequestBody(req)
		return nil, err
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.Body != nil && resp.Body != http.NoBody {
		resp.Body = &cappedBody{rc: resp.Body, left: t.maxBody}
	}
	return resp, nil
}

// CloseIdleConnections closes the transport's idle connections; it makes
// (*http.Client).CloseIdleConnections work on the delivery client.
func (t *ssrfTransport) CloseIdleConnections() {
	t.base.CloseIdleConnections()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tr := range t.byCertificate {
		tr.CloseIdleConnections()
	}
}

// closeRequestBody honours the RoundTripper contract of closing the
// request body even when the request is refused.
func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// cappedBody reads at most left bytes of rc, then reports io.EOF. Close
// discards at most ssrfDrainBound more bytes before closing rc.
type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

// Read implements io.Reader.
func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

// Close implements io.Closer.
func (b *cappedBody) Close() error { return drainClose(b.rc) }

// drainClose reads and discards at most ssrfDrainBound bytes of rc (so a
// short remainder lets the connection be reused) and closes it.
func drainClose(rc io.ReadCloser) error {
	_, _ = io.CopyN(io.Discard, rc, ssrfDrainBound)
	return rc.Close()
}

// ReadCapped reads at most max bytes of resp's body, then discards at
// most a few more KiB (so a connection with a short remainder can be
// reused) and closes the body; a longer body is abandoned, never read
// to its end. A body longer than max is not an error: the first max
// bytes are returned. A max of zero or less means 64 KiB, the
// DeliveryClientOptions.MaxResponseBody default. A nil resp or body
// reads as empty. On a read error (such as the client's Timeout
// expiring mid-body) it returns the bytes read so far and the error.
func ReadCapped(resp *http.Response, max int64) ([]byte, error) {
	if resp == nil || resp.Body == nil {
		return nil, nil
	}
	if max <= 0 {
		max = ssrfDefaultMaxBody
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max))
	// The body was read as far as wanted; an error closing it changes
	// nothing for the caller.
	_ = drainClose(resp.Body)
	if err != nil {
		return data, fmt.Errorf("webhook: read response body: %w", err)
	}
	return data, nil
}

// CheckURL validates an endpoint URL syntactically, as an API accepting
// endpoints should before storing one: it must be an absolute http or
// https URL (https only when httpsOnly), at most 2048 bytes, without
// whitespace or control characters, with a host, without userinfo
// ("user:pass@") or a fragment, and with a port, if one is given, in
// 1..65535. Errors wrap ErrInvalidURL and name the rule broken.
//
// CheckURL does not resolve the host or judge its address: "localhost"
// or "10.0.0.1" pass here and are refused at dial time by the client
// from NewDeliveryClient, which also catches names that resolve to
// denied addresses.
func CheckURL(raw string, httpsOnly bool) (*url.URL, error) {
	if err := checkURLText(raw); err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil {
		// *url.Error repeats the whole URL, which may hold a secret; keep
		// only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	switch {
	case u.Scheme == "":
		return nil, fmt.Errorf("%w: url is not absolute", ErrInvalidURL)
	case u.Scheme == "https":
	case u.Scheme == "http" && !httpsOnly:
	case u.Scheme == "http":
		return nil, fmt.Errorf("%w: scheme %q is not https", ErrInvalidURL, u.Scheme)
	default:
		return nil, fmt.Errorf("%w: scheme %q is not http or https", ErrInvalidURL, u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: host is missing", ErrInvalidURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: url contains userinfo", ErrInvalidURL)
	}
	if strings.HasSuffix(u.Host, ":") {
		return nil, fmt.Errorf("%w: port is empty", ErrInvalidURL)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: port %q is not in 1..65535", ErrInvalidURL, p)
		}
	}
	return u, nil
}

// checkURLText applies the rules of CheckURL that need no parsing:
// not empty, not too long, no whitespace, control characters or
// fragment.
func checkURLText(raw string) error {
	if raw == "" {
		return fmt.Errorf("%w: url is empty", ErrInvalidURL)
	}
	if len(raw) > ssrfMaxURLLen {
		return fmt.Errorf("%w: url is longer than %d bytes", ErrInvalidURL, ssrfMaxURLLen)
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c == 0x7f {
			return fmt.Errorf("%w: url contains whitespace or a control character at byte %d", ErrInvalidURL, i)
		}
	}
	if strings.Contains(raw, "#") {
		return fmt.Errorf("%w: url has a fragment", ErrInvalidURL)
	}
	return nil
}

// ssrfDenied is the deny list behind ForbiddenIP. Source: the IANA
// IPv4 and IPv6 Special-Purpose Address Registries
// (https://www.iana.org/assignments/iana-ipv4-special-registry/ and
// https://www.iana.org/assignments/iana-ipv6-special-registry/, RFC 6890),
// the IANA IPv4 Address Space Registry (multicast, reserved 240/4) and
// the cloud providers' documented instance metadata addresses. Ranges
// inside larger denied ranges are listed anyway so the list documents
// why each address is refused.
var ssrfDenied = func() []netip.Prefix {
	cidrs := []string{
		// IPv4
		"0.0.0.0/8",          // "this network", unspecified (RFC 791, 1122)
		"10.0.0.0/8",         // private (RFC 1918)
		"100.64.0.0/10",      // shared address space, CGNAT (RFC 6598)
		"127.0.0.0/8",        // loopback (RFC 1122)
		"169.254.0.0/16",     // link-local (RFC 3927)
		"172.16.0.0/12",      // private (RFC 1918)
		"192.0.0.0/24",       // IETF protocol assignments (RFC 6890)
		"192.0.2.0/24",       // documentation TEST-NET-1 (RFC 5737)
		"192.88.99.0/24",     // 6to4 relay anycast, deprecated (RFC 7526)
		"192.168.0.0/16",     // private (RFC 1918)
		"198.18.0.0/15",      // benchmarking (RFC 2544)
		"198.51.100.0/24",    // documentation TEST-NET-2 (RFC 5737)
		"203.0.113.0/24",     // documentation TEST-NET-3 (RFC 5737)
		"224.0.0.0/4",        // multicast (RFC 5771)
		"240.0.0.0/4",        // reserved (RFC 1112)
		"255.255.255.255/32", // limited broadcast (RFC 919)
		// The cloud metadata addresses inside these ranges are refused
		// even when allowed: see ssrfMetadata.

		// IPv6
		"::/128",  // unspecified (RFC 4291)
		"::1/128", // loopback (RFC 4291)
		"::/96",   // IPv4-compatible, deprecated (RFC 4291)
		// IPv4-mapped ::ffff:0:0/96 is not listed: ForbiddenIP unmaps it
		// and judges the IPv4 address.
		"64:ff9b::/96",   // NAT64 well-known prefix (RFC 6052)
		"64:ff9b:1::/48", // NAT64 local-use (RFC 8215)
		"100::/64",       // discard-only (RFC 6666)
		"2001::/23",      // IETF protocol assignments (RFC 2928)
		"2001::/32",      // Teredo, embeds IPv4 (RFC 4380)
		"2001:2::/48",    // benchmarking (RFC 5180)
		"2001:db8::/32",  // documentation (RFC 3849)
		"2002::/16",      // 6to4, embeds IPv4 (RFC 3056)
		"3fff::/20",      // documentation (RFC 9637)
		"5f00::/16",      // SRv6 SIDs (RFC 9602)
		"fc00::/7",       // unique local (RFC 4193)
		"fe80::/10",      // link-local unicast (RFC 4291)
		"fec0::/10",      // site-local, deprecated (RFC 3879)
		"ff00::/8",       // multicast (RFC 4291)
	}
	out := make([]netip.Prefix, len(cidrs))
	for i, c := range cidrs {
		out[i] = netip.MustParsePrefix(c) // constants: a typo fails every test
	}
	return out
}()

// ssrfGlobalUnicast6 is the IPv6 global unicast space (IANA IPv6 Address
// Space Registry); every IPv6 address outside it is reserved or special
// purpose and is denied.
var ssrfGlobalUnicast6 = netip.MustParsePrefix("2000::/3")

// ForbiddenIP reports whether ip is in the deny list the delivery client
// enforces: addresses that are not globally reachable or that reach the
// sender's own infrastructure. It covers, for IPv4 and IPv6, unspecified,
// loopback, private (RFC 1918) and unique local, link-local and
// site-local, shared CGNAT space, multicast and broadcast, reserved,
// documentation and benchmarking ranges, IETF protocol assignments,
// discard-only, the 6to4, Teredo and NAT64 translation prefixes (which
// embed an IPv4 address and are denied whole), IPv4-compatible addresses,
// and cloud metadata and credential endpoints (MetadataAddresses). An IPv4-mapped IPv6 address
// (::ffff:a.b.c.d) is judged by its IPv4 address. Any IPv6 address
// outside the global unicast space 2000::/3 is denied as well. A zone
// (fe80::1%eth0) is ignored; the zero Addr is denied.
//
// ForbiddenIP does not consult DeliveryClientOptions.AllowCIDRs; the
// client does.
func ForbiddenIP(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.WithZone("")
	ip = ip.Unmap() // ::ffff:a.b.c.d is judged as a.b.c.d
	if ip.Is6() && !ssrfGlobalUnicast6.Contains(ip) {
		return true
	}
	for _, p := range ssrfDenied {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Compile-time check that the transport keeps the client's
// CloseIdleConnections working.
var _ interface {
	http.RoundTripper
	CloseIdleConnections()
} = (*ssrfTransport)(nil)
