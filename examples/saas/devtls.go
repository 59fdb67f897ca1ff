package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/autotls"
	"github.com/saaskit/saaskit/tenancy/autotls/devacme"
	autotlsstore "github.com/saaskit/saaskit/tenancy/autotls/sqlstore"
)

// The -tls mode is for development only: HTTPS for tenants' custom
// domains with certificates from Pebble, Let's Encrypt's test CA, run
// inside the process (package devacme), and domain proofs looked up in
// a file of the data directory instead of the DNS. Without -tls the
// demo serves plain HTTP and verifies domains in the real DNS.

// devZoneFile is the file of the data directory that stands for the DNS
// in -tls mode: one TXT record a line, "<name> <value>".
const devZoneFile = "dev-dns.txt"

// devRootFile is where -tls mode writes Pebble's root certificate, for
// clients to trust.
const devRootFile = "pebble-root.pem"

// devDomain is a custom domain -tls mode seeds: its tenant, and whether
// its proof is published in the dev zone (verified at start) or not
// (pending until a developer publishes it).
type devDomain struct {
	tenant, name string
	publish      bool
}

var devDomains = []devDomain{
	{tenant: "acme", name: "app.customer.test", publish: true},
	{tenant: "globex", name: "shop.globex.test", publish: false},
}

// devZone is the DNS of -tls mode: the TXT records of a text file that
// a developer edits to publish a domain's proof, read at every lookup.
// It is a tenancy.TXTResolver for development only; the demo uses the
// real DNS without -tls.
type devZone struct {
	path string
	mu   sync.Mutex // serialises the demo's own writes
}

// LookupTXT implements tenancy.TXTResolver: the values of the file's
// lines for name, or a not-found DNS error.
func (z *devZone) LookupTXT(_ context.Context, name string) ([]string, error) {
	f, err := os.Open(z.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	if err != nil {
		return nil, fmt.Errorf("dev zone: %w", err)
	}
	defer f.Close()
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	var values []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && !strings.HasPrefix(fields[0], "#") && strings.ToLower(strings.TrimSuffix(fields[0], ".")) == name {
			values = append(values, fields[1])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("dev zone: %w", err)
	}
	if len(values) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return values, nil
}

// publish adds the TXT record name with value unless the zone has it.
func (z *devZone) publish(name, value string) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	have, err := z.LookupTXT(context.Background(), name)
	var dnsErr *net.DNSError
	if err != nil && !(errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
		return err
	}
	if slices.Contains(have, value) {
		return nil
	}
	_, statErr := os.Stat(z.path)
	f, err := os.OpenFile(z.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("dev zone: %w", err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		_, err = io.WriteString(f, "# The DNS of the saas demo's -tls mode (development only): one TXT record a line,\n"+
			"# \"<name> <value>\". Add a domain's record here, then press Check now in the console.\n")
	}
	if err == nil {
		_, err = fmt.Fprintf(f, "%s %s\n", name, value)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("dev zone: %w", err)
	}
	return nil
}

// seedDevDomains claims the devDomains for their tenants, publishes the
// proofs of those to publish and verifies them.
func seedDevDomains(ctx context.Context, reg *tenancy.Registry, zone *devZone) error {
	for _, d := range devDomains {
		list, err := reg.Domains(ctx, d.tenant)
		if err != nil {
			return fmt.Errorf("seed domain %s: %w", d.name, err)
		}
		i := slices.IndexFunc(list, func(s *tenancy.DomainStatus) bool { return s.Name == d.name })
		var st *tenancy.DomainStatus
		if i >= 0 {
			st = list[i]
		} else if st, err = reg.AddDomain(ctx, d.tenant, d.name); err != nil {
			return fmt.Errorf("seed domain %s: %w", d.name, err)
		}
		if !d.publish {
			continue
		}
		if err := zone.publish(st.RecordName, st.RecordValue); err != nil {
			return err
		}
		if st.State != tenancy.DomainVerified {
			if _, err := reg.VerifyDomain(ctx, d.tenant, d.name); err != nil {
				return fmt.Errorf("seed domain %s: %w", d.name, err)
			}
		}
	}
	return nil
}

// devTLS is -tls mode's HTTPS: Pebble, the autotls Manager that orders
// certificates from it for verified domains, and the listener it serves.
type devTLS struct {
	ca      *devacme.Server
	m       *autotls.Manager
	storage *autotlsstore.Storage
	ln      net.Listener
	root    string // the file of Pebble's root certificate
}

// startDevTLS listens on addr for HTTPS and starts Pebble, which
// validates TLS-ALPN-01 on that port and HTTP-01 on httpLn's. Certificates
// are kept in the demo's database, sealed under the keyring's platform
// scope; Pebble makes a new root and forgets its accounts at every
// start, so the certificates and accounts of earlier runs are deleted.
func startDevTLS(ctx context.Context, addr string, httpLn net.Listener, db *sql.DB, keys *skcrypto.Keyring, reg *tenancy.Registry,
	dataDir string, logger *slog.Logger) (_ *devTLS, err error) {
	d := &devTLS{root: filepath.Join(dataDir, devRootFile)}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if d.ln, err = net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("-tls-addr: %w", err)
	}
	tlsAddr, httpAddr := d.ln.Addr().(*net.TCPAddr), httpLn.Addr().(*net.TCPAddr)
	if d.ca, err = devacme.Start(devacme.Options{TLSPort: tlsAddr.Port, HTTPPort: httpAddr.Port}); err != nil {
		return nil, err
	}
	if err = os.WriteFile(d.root, d.ca.RootPEM(), 0o644); err != nil {
		return nil, fmt.Errorf("pebble root: %w", err)
	}
	if d.storage, err = autotlsstore.New(db, keys.AEAD(skcrypto.Scope{Tenant: "platform"}), autotlsstore.Options{}); err != nil {
		return nil, err
	}
	if err = d.storage.Migrate(ctx); err != nil {
		return nil, err
	}
	for _, dir := range []string{"certificates", "acme"} { // certificates and ACME accounts of earlier Pebbles
		if err = d.storage.Delete(ctx, dir); err != nil {
			return nil, err
		}
	}
	issuer := d.ca.Issuer()
	// Pebble dials 127.0.0.1; certmagic finds the ports taken there and
	// leaves the challenges to the demo's listeners.
	issuer.ListenHost = tlsAddr.IP.String()
	d.m, err = autotls.New(autotls.Options{
		Allow: func(ctx context.Context, name string) error {
			_, err := reg.VerifiedDomain(ctx, name)
			return err
		},
		Storage: d.storage,
		ACME:    issuer,
		Logger:  logger,
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// port is the HTTPS listener's port.
func (d *devTLS) port() int { return d.ln.Addr().(*net.TCPAddr).Port }

// close stops what startDevTLS started.
func (d *devTLS) close() {
	if d.m != nil {
		d.m.Stop()
	}
	if d.storage != nil {
		_ = d.storage.Close()
	}
	if d.ca != nil {
		_ = d.ca.Close()
	}
	if d.ln != nil {
		_ = d.ln.Close()
	}
}
