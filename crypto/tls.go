package crypto

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ErrTLSConfig reports a TLS configuration problem: a bad option value, a
// missing or unreadable certificate, key or CA file, a certificate and key
// that do not match, or an expired certificate. Errors wrap it once; the
// message names the option (CertFile, MinVersion, ...) at fault and never
// includes key material.
var ErrTLSConfig = errors.New("crypto: invalid tls configuration")

// DefaultReloadInterval is how often, at most, a CertReloader checks its
// files for changes when ReloadInterval is zero.
const DefaultReloadInterval = time.Minute

// tls12CipherSuites are the TLS 1.2 suites ServerTLS and ClientTLS enable:
// ECDHE key exchange (forward secrecy) with an AEAD cipher only. No CBC, no
// RSA key exchange, no 3DES, no RC4. The order is irrelevant: crypto/tls
// applies its own preference order (Config.CipherSuites docs).
//
// TLS 1.3 suites are not configurable in Go; crypto/tls always offers
// AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305, all AEAD.
var tls12CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// curvePreferences are the key exchanges enabled: the hybrid post-quantum
// X25519MLKEM768 (TLS 1.3 only, since Go 1.24), then X25519, then P-256.
// Since Go 1.24 crypto/tls ignores the order of Config.CurvePreferences and
// uses its internal preference, which is the same order as written here;
// the list therefore restricts the set (dropping P-384, P-521 and the
// SecP*MLKEM* hybrids) rather than reordering it.
var curvePreferences = []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}

// TLSOptions configure ServerTLS and ClientTLS. The zero value is a client
// that verifies servers against the system roots with TLS 1.2 or newer; a
// server needs at least CertFile and KeyFile (or Reloader).
type TLSOptions struct {
	// CertFile is the PEM file holding this side's certificate chain, leaf
	// first. Required for servers (unless Reloader is set); for clients it
	// is the client certificate presented for mutual TLS. Default: none.
	// The file is watched for changes, see ReloadInterval.
	CertFile string
	// KeyFile is the PEM file holding the private key of CertFile's leaf.
	// Required whenever CertFile is set. Default: none.
	KeyFile string
	// ClientCAFile (servers only) is a PEM file of CA certificates. When
	// set, the server requires every client to present a certificate that
	// verifies against these CAs (mutual TLS). Default: none, client
	// certificates are not requested. ClientTLS ignores it. The pool is
	// read once; it is not reloaded.
	ClientCAFile string
	// RootCAFile (clients only) is a PEM file of CA certificates used to
	// verify the server. Default: the system roots. ServerTLS ignores it.
	// The pool is read once; it is not reloaded.
	RootCAFile string
	// ServerName (clients only) overrides the name sent in SNI and checked
	// against the server certificate. Default: the host being dialled.
	// ServerTLS ignores it.
	ServerName string
	// MinVersion is the lowest TLS version accepted: tls.VersionTLS12 or
	// tls.VersionTLS13. Default tls.VersionTLS12. Anything lower (or
	// unknown) is an error.
	MinVersion uint16
	// ReloadInterval is how often, at most, the handshake path checks
	// CertFile and KeyFile for a changed modification time or size and
	// reloads them. Default DefaultReloadInterval (one minute); negative
	// disables automatic checks.
	ReloadInterval time.Duration
	// Now is the clock used for certificate expiry checks (both of this
	// side's certificate and, through tls.Config.Time, of the peer's) and
	// for ReloadInterval. Default time.Now.
	Now func() time.Time
	// OnReloadError is called, outside any lock, whenever reloading
	// CertFile and KeyFile fails; the previous pair keeps being served.
	// Default: none (the error is still kept, see CertReloader.LastError).
	OnReloadError func(error)
	// Reloader, when set, supplies this side's certificate instead of
	// CertFile and KeyFile (which must then be empty). Use it to keep a
	// handle for Expiry, LastError or explicit Reload calls. Default: nil.
	Reloader *CertReloader
}

// ServerTLS returns a server tls.Config: TLS 1.2 or newer (MinVersion),
// only forward-secret AEAD cipher suites for TLS 1.2, X25519MLKEM768,
// X25519 and P-256 key exchange, the certificate pair served through a
// CertReloader so it can be replaced without a restart, and, when
// ClientCAFile is set, mandatory verified client certificates. Errors wrap
// ErrTLSConfig.
//
// The certificate comes from tls.Config.GetCertificate, so leave
// Certificates empty: crypto/tls prefers Certificates whenever the client
// sends no SNI, which is every client dialling an IP address.
// http.Server.ServeTLS (with empty file names) and tls.NewListener keep it
// empty; httptest.Server.StartTLS fills it with its own test certificate,
// so tests against httptest dial a host name or set the client's
// ServerName.
func ServerTLS(opts TLSOptions) (*tls.Config, error) {
	cfg, err := baseConfig(opts)
	if err != nil {
		return nil, err
	}
	r, err := reloaderFor(opts)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("%w: CertFile and KeyFile: required for a server", ErrTLSConfig)
	}
	cfg.GetCertificate = r.GetCertificate
	if opts.ClientCAFile != "" {
		pool, err := loadPool("ClientCAFile", opts.ClientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ClientTLS returns a client tls.Config with the same protocol floor,
// cipher suites and key exchanges as ServerTLS. It verifies the server
// against RootCAFile (default: the system roots) and ServerName (default:
// the dialled host), and presents CertFile/KeyFile, reloaded like a
// server's, when the server asks for a client certificate. Errors wrap
// ErrTLSConfig.
func ClientTLS(opts TLSOptions) (*tls.Config, error) {
	cfg, err := baseConfig(opts)
	if err != nil {
		return nil, err
	}
	r, err := reloaderFor(opts)
	if err != nil {
		return nil, err
	}
	if r != nil {
		cfg.GetClientCertificate = r.GetClientCertificate
	}
	if opts.RootCAFile != "" {
		pool, err := loadPool("RootCAFile", opts.RootCAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	cfg.ServerName = opts.ServerName
	return cfg, nil
}

// baseConfig checks MinVersion and returns the settings both sides share.
func baseConfig(opts TLSOptions) (*tls.Config, error) {
	minVersion := opts.MinVersion
	switch minVersion {
	case 0:
		minVersion = tls.VersionTLS12
	case tls.VersionTLS12, tls.VersionTLS13:
	default:
		return nil, fmt.Errorf("%w: MinVersion %s: must be tls.VersionTLS12 or tls.VersionTLS13",
			ErrTLSConfig, tls.VersionName(minVersion))
	}
	return &tls.Config{
		MinVersion:       minVersion,
		CipherSuites:     append([]uint16(nil), tls12CipherSuites...),
		CurvePreferences: append([]tls.CurveID(nil), curvePreferences...),
		Time:             opts.Now, // nil means time.Now
	}, nil
}

// reloaderFor returns opts.Reloader, a new CertReloader for CertFile and
// KeyFile, or nil when neither is configured.
func reloaderFor(opts TLSOptions) (*CertReloader, error) {
	if opts.Reloader != nil {
		if opts.CertFile != "" || opts.KeyFile != "" {
			return nil, fmt.Errorf("%w: Reloader: cannot be combined with CertFile or KeyFile", ErrTLSConfig)
		}
		return opts.Reloader, nil
	}
	if opts.CertFile == "" && opts.KeyFile == "" {
		return nil, nil
	}
	return NewCertReloader(opts.CertFile, opts.KeyFile, ReloaderOptions{
		ReloadInterval: opts.ReloadInterval,
		Now:            opts.Now,
		OnError:        opts.OnReloadError,
	})
}

// loadPool reads a PEM file of CA certificates; field names the option.
func loadPool(field, path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrTLSConfig, field, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%w: %s %s: no PEM certificate found", ErrTLSConfig, field, path)
	}
	return pool, nil
}

// ReloaderOptions configure a CertReloader.
type ReloaderOptions struct {
	// ReloadInterval is how often, at most, GetCertificate and
	// GetClientCertificate check the files' modification time and size
	// and reload them when either changed. Default DefaultReloadInterval
	// (one minute); negative disables automatic checks (Reload still
	// works).
	ReloadInterval time.Duration
	// Now is the clock for ReloadInterval and for rejecting an expired
	// certificate. Default time.Now.
	Now func() time.Time
	// OnError is called, outside any lock, with every failed reload
	// (automatic or explicit); the previous pair keeps being served. It
	// may be called from a handshake goroutine, so it must be safe for
	// concurrent use and should not block. Default: none.
	OnError func(error)
}

// CertReloader serves a certificate and key pair read from two PEM files
// and replaces it, without a restart, when the files change. Plug its
// GetCertificate into a server tls.Config or its GetClientCertificate into
// a client one (ServerTLS and ClientTLS do this).
//
// A new pair that cannot be read, does not parse, whose key does not match
// the certificate, or whose certificate has expired is rejected: the
// previous good pair keeps being served and the error is reported through
// LastError and ReloaderOptions.OnError. After a failed automatic reload
// the files are checked again at the next interval, so a half-written
// update (certificate replaced, key not yet) heals once both are in place.
//
// Files are compared with os.Stat, which follows symbolic links, so the
// atomic symlink swaps of Kubernetes secret volumes are seen. A
// CertReloader is safe for concurrent use. Create it with
// NewCertReloader.
type CertReloader struct {
	certFile, keyFile string
	opts              ReloaderOptions

	current atomic.Pointer[certState]

	mu        sync.Mutex // serialises reloads; guards lastCheck and lastErr
	lastCheck time.Time
	lastErr   error
}

// certState is one loaded pair and the file stamps it was read from.
type certState struct {
	cert      *tls.Certificate
	certStamp fileStamp
	keyStamp  fileStamp
}

// fileStamp identifies a file version by modification time and size.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(fi os.FileInfo) fileStamp { return fileStamp{mod: fi.ModTime(), size: fi.Size()} }

func (s fileStamp) equal(o fileStamp) bool { return s.mod.Equal(o.mod) && s.size == o.size }

// errNoPair is returned by a CertReloader that was not built by
// NewCertReloader.
var errNoPair = fmt.Errorf("%w: CertReloader: not created with NewCertReloader", ErrTLSConfig)

// NewCertReloader reads certFile (PEM certificate chain, leaf first) and
// keyFile (PEM private key) and returns a CertReloader serving them. The
// first pair must load; errors wrap ErrTLSConfig and name CertFile or
// KeyFile.
func NewCertReloader(certFile, keyFile string, opts ReloaderOptions) (*CertReloader, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, fmt.Errorf("%w: CertFile and KeyFile: required", ErrTLSConfig)
	case certFile == "":
		return nil, fmt.Errorf("%w: CertFile: required when KeyFile is set", ErrTLSConfig)
	case keyFile == "":
		return nil, fmt.Errorf("%w: KeyFile: required when CertFile is set", ErrTLSConfig)
	}
	if opts.ReloadInterval == 0 {
		opts.ReloadInterval = DefaultReloadInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &CertReloader{certFile: certFile, keyFile: keyFile, opts: opts}
	now := opts.Now()
	st, err := r.load(now)
	if err != nil {
		return nil, err
	}
	r.current.Store(st)
	r.lastCheck = now
	return r, nil
}

// Reload re-reads the files now, whether or not they changed. On success
// the new pair is served to every later handshake and LastError becomes
// nil; on failure the previous pair stays, the error (wrapping
// ErrTLSConfig) is returned, kept for LastError and passed to OnError.
func (r *CertReloader) Reload() error {
	if r.current.Load() == nil {
		return errNoPair
	}
	r.mu.Lock()
	now := r.opts.Now()
	r.lastCheck = now
	err := r.reloadLocked(now, true)
	r.mu.Unlock()
	r.report(err)
	return err
}

// maybeReload runs on the handshake path: at most once per ReloadInterval
// it reloads the files if their stamps changed. It never blocks behind a
// reload already in progress; that handshake is served the current pair.
func (r *CertReloader) maybeReload() {
	if r.opts.ReloadInterval < 0 || !r.mu.TryLock() {
		return
	}
	now := r.opts.Now()
	if now.Sub(r.lastCheck) < r.opts.ReloadInterval {
		r.mu.Unlock()
		return
	}
	r.lastCheck = now
	err := r.reloadLocked(now, false)
	r.mu.Unlock()
	r.report(err)
}

// reloadLocked loads the pair (when force, or when a file's stamp
// changed) and records the outcome. r.mu must be held.
func (r *CertReloader) reloadLocked(now time.Time, force bool) error {
	if !force {
		cur := r.current.Load()
		ci, cerr := os.Stat(r.certFile)
		ki, kerr := os.Stat(r.keyFile)
		if cerr == nil && kerr == nil && r.lastErr == nil &&
			stampOf(ci).equal(cur.certStamp) && stampOf(ki).equal(cur.keyStamp) {
			return nil // unchanged and healthy
		}
		// Changed, vanished, or the last attempt failed: try again and
		// let load report precisely what is wrong.
	}
	st, err := r.load(now)
	r.lastErr = err
	if err != nil {
		return err
	}
	r.current.Store(st)
	return nil
}

// report passes a failed reload to OnError.
func (r *CertReloader) report(err error) {
	if err != nil && r.opts.OnError != nil {
		r.opts.OnError(err)
	}
}

// load reads and checks the pair. Stamps are taken before reading, so a
// file rewritten during the read is seen as changed at the next check.
func (r *CertReloader) load(now time.Time) (*certState, error) {
	ci, err := os.Stat(r.certFile)
	if err != nil {
		return nil, fmt.Errorf("%w: CertFile: %w", ErrTLSConfig, err)
	}
	ki, err := os.Stat(r.keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: KeyFile: %w", ErrTLSConfig, err)
	}
	certPEM, err := os.ReadFile(r.certFile)
	if err != nil {
		return nil, fmt.Errorf("%w: CertFile: %w", ErrTLSConfig, err)
	}
	keyPEM, err := os.ReadFile(r.keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: KeyFile: %w", ErrTLSConfig, err)
	}
	// tls.X509KeyPair's errors describe PEM block types and mismatches,
	// never the key bytes.
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	clear(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: CertFile %s and KeyFile %s: %w", ErrTLSConfig, r.certFile, r.keyFile, err)
	}
	leaf := pair.Leaf
	if leaf == nil { // X509KeyPair fills Leaf since Go 1.23; be defensive.
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%w: CertFile %s: %w", ErrTLSConfig, r.certFile, err)
		}
		pair.Leaf = leaf
	}
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("%w: CertFile %s: certificate expired at %s",
			ErrTLSConfig, r.certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &certState{
		cert:      &pair,
		certStamp: stampOf(ci),
		keyStamp:  stampOf(ki),
	}, nil
}

// GetCertificate serves the current pair; use it as
// tls.Config.GetCertificate. It first reloads the files if ReloadInterval
// has passed and they changed.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.serve()
}

// GetClientCertificate serves the current pair; use it as
// tls.Config.GetClientCertificate. It reloads like GetCertificate.
func (r *CertReloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.serve()
}

func (r *CertReloader) serve() (*tls.Certificate, error) {
	if r.current.Load() == nil {
		return nil, errNoPair
	}
	r.maybeReload()
	return r.current.Load().cert, nil
}

// Certificate returns the pair currently served, with Leaf parsed. It is
// shared with the TLS stack: read it, do not modify it. It is nil only for
// a CertReloader not created by NewCertReloader.
func (r *CertReloader) Certificate() *tls.Certificate {
	st := r.current.Load()
	if st == nil {
		return nil
	}
	return st.cert
}

// Expiry returns the NotAfter time of the served leaf certificate, so a
// service can alert before it expires. It is the zero time only for a
// CertReloader not created by NewCertReloader.
func (r *CertReloader) Expiry() time.Time {
	st := r.current.Load()
	if st == nil {
		return time.Time{}
	}
	return st.cert.Leaf.NotAfter
}

// LastError returns the error of the most recent reload attempt, or nil
// if it succeeded (or none was made since NewCertReloader). Unchanged
// files found by an automatic check do not count as an attempt.
func (r *CertReloader) LastError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}
