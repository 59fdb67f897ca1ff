// Package devacme runs Let's Encrypt's test ACME server, Pebble, inside
// the process on loopback, for development and tests of autotls: no
// container, no internet, certificates that only clients trusting
// Pebble's root accept.
//
//	ca, err := devacme.Start(devacme.Options{TLSPort: 8443})
//	if err != nil { ... }
//	defer ca.Close()
//	m, err := autotls.New(autotls.Options{ACME: ca.Issuer(), Allow: ...})
//	// serve m.TLSConfig() on 127.0.0.1:8443; clients trust ca.Roots()
//
// Pebble validates for real: its validation authority resolves every
// name to 127.0.0.1 through a DNS server of the package and dials
// Options.TLSPort for TLS-ALPN-01 (the port where the application serves
// autotls's TLSConfig, which answers the challenge), or HTTPPort for
// HTTP-01.
//
// Start sets PEBBLE_VA_NOSLEEP=1 and PEBBLE_WFE_NONCEREJECT=0 in the
// process's environment unless they are set, since Pebble reads its
// knobs from there: no random validation delays, no nonces rejected on
// purpose. Never use this package in production.
package devacme

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/certmagic"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/mholt/acmez/v3"
	"github.com/mholt/acmez/v3/acme"
	"github.com/miekg/dns"
)

// Options configure Start. The zero value validates TLS-ALPN-01 on port
// 443 and HTTP-01 on port 80 of 127.0.0.1.
type Options struct {
	// TLSPort is the port of 127.0.0.1 that Pebble dials for TLS-ALPN-01
	// challenges: where the application serves autotls. Default 443.
	TLSPort int
	// HTTPPort is the port of 127.0.0.1 that Pebble dials for HTTP-01
	// challenges. Default 80.
	HTTPPort int
	// Log receives Pebble's log. Default: discarded.
	Log io.Writer
}

// Server is a running Pebble: its ACME directory, its roots, and a count
// of the orders it received.
type Server struct {
	https  *httptest.Server
	dns    *dns.Server
	ca     *ca.CAImpl
	tls    int // the port Pebble dials for TLS-ALPN-01
	http   int // and for HTTP-01
	orders atomic.Int64

	mu  sync.Mutex
	txt map[string]string // DNS-01 records by FQDN
}

// Start runs Pebble on a free port of 127.0.0.1.
func Start(opts Options) (*Server, error) {
	if opts.TLSPort < 0 || opts.TLSPort > 65535 || opts.HTTPPort < 0 || opts.HTTPPort > 65535 {
		return nil, fmt.Errorf("devacme: Options.TLSPort %d or HTTPPort %d is not a port", opts.TLSPort, opts.HTTPPort)
	}
	if opts.TLSPort == 0 {
		opts.TLSPort = 443
	}
	if opts.HTTPPort == 0 {
		opts.HTTPPort = 80
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	for k, v := range map[string]string{"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"} {
		if _, ok := os.LookupEnv(k); !ok {
			_ = os.Setenv(k, v)
		}
	}
	s := &Server{tls: opts.TLSPort, http: opts.HTTPPort, txt: map[string]string{}}
	resolver, err := startDNS(s.answer)
	if err != nil {
		return nil, err
	}
	s.dns = resolver
	logger := log.New(opts.Log, "pebble ", log.LstdFlags)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, opts.HTTPPort, opts.TLSPort, false, resolver.Listener.Addr().String(), store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)

	s.ca = authority
	handler := front.Handler()
	s.https = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			s.orders.Add(1)
		}
		handler.ServeHTTP(w, r)
	}))
	return s, nil
}

// answer is the DNS that Pebble's validator sees: 127.0.0.1 for every
// A query, the DNS-01 records that DNS01Solver presented, nothing else.
func (s *Server) answer(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	for _, question := range q.Question {
		hdr := dns.RR_Header{Name: question.Name, Rrtype: question.Qtype, Class: dns.ClassINET}
		switch question.Qtype {
		case dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IPv4(127, 0, 0, 1)})
		case dns.TypeTXT:
			s.mu.Lock()
			v, ok := s.txt[strings.ToLower(question.Name)]
			s.mu.Unlock()
			if ok {
				m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: []string{v}})
			}
		}
	}
	_ = w.WriteMsg(m)
}

// startDNS serves DNS over TCP on loopback with answer.
func startDNS(answer dns.HandlerFunc) (*dns.Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("devacme: dns: %w", err)
	}
	srv := &dns.Server{Listener: l, Handler: answer}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	failed := make(chan error, 1)
	go func() { failed <- srv.ActivateAndServe() }()
	select {
	case <-started:
		return srv, nil
	case err := <-failed:
		return nil, fmt.Errorf("devacme: dns: %w", err)
	}
}

// DirectoryURL is the ACME directory to give an ACME client.
func (s *Server) DirectoryURL() string { return s.https.URL + wfe.DirectoryPath }

// ServerRoots are the roots of Pebble's own HTTPS, which the ACME client
// must trust (certmagic.ACMEIssuer.TrustedRoots).
func (s *Server) ServerRoots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.https.Certificate())
	return p
}

// Roots are the roots of the certificates Pebble issues: what a TLS
// client of the application must trust. Pebble makes a new root each
// time it starts.
func (s *Server) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.RootCert())
	return p
}

// RootCert is Pebble's issuing root certificate.
func (s *Server) RootCert() *x509.Certificate { return s.ca.GetRootCert(0).Cert }

// RootPEM is RootCert in PEM, to write to a file that clients trust
// (curl --cacert, SSL_CERT_FILE).
func (s *Server) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.RootCert().Raw})
}

// Issuer is the ACME issuer configuration for autotls.Options.ACME:
// Pebble's directory and HTTPS roots, terms agreed, and the challenge
// ports that Pebble dials. Both challenges are enabled and the ACME
// client picks one per order: serve autotls's TLSConfig on TLSPort, and
// its HTTPChallengeHandler on HTTPPort (or set DisableHTTPChallenge).
func (s *Server) Issuer() certmagic.ACMEIssuer {
	return certmagic.ACMEIssuer{
		CA:             s.DirectoryURL(),
		TestCA:         s.DirectoryURL(),
		Email:          "dev@example.com",
		Agreed:         true,
		TrustedRoots:   s.ServerRoots(),
		AltTLSALPNPort: s.tls,
		AltHTTPPort:    s.http,
	}
}

// DNS01Solver answers DNS-01 challenges in the DNS that Pebble's
// validator queries: set it as autotls.Options.ACME.DNS01Solver to
// obtain the platform's wildcard certificates from Pebble.
func (s *Server) DNS01Solver() acmez.Solver { return dns01{s} }

type dns01 struct{ s *Server }

func (d dns01) Present(_ context.Context, c acme.Challenge) error {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	d.s.txt[strings.ToLower(dns.Fqdn(c.DNS01TXTRecordName()))] = c.DNS01KeyAuthorization()
	return nil
}

func (d dns01) CleanUp(_ context.Context, c acme.Challenge) error {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	delete(d.s.txt, strings.ToLower(dns.Fqdn(c.DNS01TXTRecordName())))
	return nil
}

// Orders is how many new-order requests Pebble has received: the
// number of certificates a client tried to order.
func (s *Server) Orders() int64 { return s.orders.Load() }

// Close stops Pebble and its DNS server.
func (s *Server) Close() error {
	s.https.Close()
	err := s.dns.Shutdown()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
