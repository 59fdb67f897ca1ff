// Package autotls serves HTTPS for tenants' custom domains with
// certificates obtained on demand from an ACME CA (Let's Encrypt, ZeroSSL,
// any RFC 8555 server), on top of certmagic: the first TLS handshake for
// app.customer.com orders its certificate, later handshakes are served
// from memory, and certificates renew before they expire. The platform's
// own subdomains (acme.saas.example) are served by one wildcard
// certificate.
//
// # Quick start
//
//	aead := keyring.AEAD(skcrypto.Scope{Tenant: "platform"}) // seals private keys
//	st, err := sqlstore.Open(ctx, dsn, aead, sqlstore.Options{})
//	if err != nil { ... }
//	m, err := autotls.New(autotls.Options{
//		Allow: func(ctx context.Context, name string) error {
//			_, err := registry.VerifiedDomain(ctx, name) // package tenancy
//			return err
//		},
//		PlatformDomains: []string{"saas.example"},
//		PlatformCert:    &wildcard, // *.saas.example
//		Storage:         st,
//		ACME:            certmagic.ACMEIssuer{Email: "ops@saas.example", Agreed: true},
//	})
//	if err != nil { ... }
//	defer m.Stop()
//	srv := &http.Server{Addr: ":443", Handler: app, TLSConfig: m.TLSConfig()}
//	go http.ListenAndServe(":80", m.HTTPChallengeHandler(redirectToHTTPS))
//	log.Fatal(srv.ListenAndServeTLS("", ""))
//
// # Which names get a certificate
//
// Nothing is ordered for a name until [Manager.Decide] allows it, and it
// runs before any request to the CA:
//
//  1. The name must be a DNS name a certificate may hold: 1 to 253
//     bytes of lower-case LDH labels (IDNs arrive as punycode), two
//     labels at least, not an IP literal. Empty, unicode, over-long and
//     IP names are refused.
//  2. Names under Options.PlatformDomains are never ordered one by one:
//     they get Options.PlatformCert, or, without one, the wildcard
//     certificates the Manager obtains by DNS-01 when
//     Options.ACME.DNS01Solver is set (a certmagic.DNS01Solver over the
//     libdns provider of the platform's DNS). A client that sends no
//     server name gets Options.PlatformCert.
//  3. A name whose last order failed is refused until its backoff ends
//     (Options.MinBackoff, doubling per failure up to MaxBackoff).
//  4. Options.Allow decides: with package tenancy, whether the name is
//     a verified domain of an active tenant. Another tenant's pending or
//     revoked domain is refused.
//
// A refused name fails its handshake (the client sees a TLS alert) and
// is logged at debug level, since clients choose names freely.
//
// # When the CA is down
//
// Certificates in memory and in storage keep being served; renewal
// starts 30 days before expiry (for 90-day certificates), so a CA outage
// has weeks to end. A new name's handshake fails after one attempt with a
// warning that gives the reason, and the name is not tried again for its
// backoff: a CA outage never turns client retries into a storm of
// orders.
//
// # Storage and replicas
//
// Options.Storage is where certificates, private keys and the ACME
// account live. Replicas that share one (package sqlstore, on SQLite or
// PostgreSQL) share certificates: a name ordered by one is loaded by the
// others, and certmagic's storage locks stop two replicas from ordering
// the same name at once. The challenge answers (TLS-ALPN-01, HTTP-01)
// are shared through storage too, so the CA may reach any replica.
// sqlstore seals every value, private keys included, with a
// crypto.Keyring's AEAD. autotlstest checks other storages.
//
// A certificate stays in memory until it expires even if its domain
// stops being verified: routing, not TLS, stops serving a tenant from
// a revoked domain (tenancy's resolution refuses it). Renewal asks Allow
// again, so a revoked domain's certificate is not renewed.
//
// # Development mode: a local Pebble
//
// Package devacme runs Pebble, Let's Encrypt's test CA, inside the
// process on loopback; Pebble validates for real, dialling the port
// where the application serves TLS for TLS-ALPN-01, or its plain-HTTP
// port for HTTP-01 (every name resolves to 127.0.0.1 for it):
//
//	l, _ := net.Listen("tcp", "127.0.0.1:8443")
//	ca, err := devacme.Start(devacme.Options{TLSPort: 8443, HTTPPort: 8080})
//	if err != nil { ... }
//	defer ca.Close()
//	m, err := autotls.New(autotls.Options{Allow: allow, ACME: ca.Issuer(), Storage: st})
//	go (&http.Server{Handler: app, TLSConfig: m.TLSConfig()}).ServeTLS(l, "", "")
//	go http.ListenAndServe("127.0.0.1:8080", m.HTTPChallengeHandler(app))
//
// The ACME client picks one of the two challenges per order. Set
// ACME.ListenHost to the address the application listens on, so that
// certmagic finds the ports taken and leaves the challenges to the
// application's listeners.
// ca.DNS01Solver() answers DNS-01 in the DNS Pebble queries, for the
// platform wildcard. Write ca.RootCert() out as PEM for clients to trust, then
//
//	curl --cacert pebble-root.pem --resolve app.customer.test:8443:127.0.0.1 https://app.customer.test:8443/
//
// Pebble makes a new root each time it starts, so certificates kept in
// storage from an earlier run are not trusted by the new root: use a
// fresh storage (or delete the certificates) in development.
package autotls
