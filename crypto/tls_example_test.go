package crypto_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	skcrypto "github.com/saaskit/saaskit/crypto"
)

// writeExamplePKI writes a throwaway CA (ca.pem) and a server pair for
// localhost and 127.0.0.1 into dir. Real services get these files from
// their PKI (cert-manager, Vault, ACME).
func writeExamplePKI(dir string, leaf tlsLeaf) (caFile, certFile, keyFile string, err error) {
	ca, err := newTLSTestCA("example CA")
	if err != nil {
		return "", "", "", err
	}
	caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		return "", "", "", err
	}
	certPEM, keyPEM, err := ca.issue(leaf)
	if err != nil {
		return "", "", "", err
	}
	certFile, keyFile, err = writeTLSPair(dir, "server", certPEM, keyPEM)
	return caFile, certFile, keyFile, err
}

// A server and a client built from PEM files. The server's pair is reloaded
// from disk when the files change; the client trusts only the given CA.
func ExampleServerTLS() {
	dir, err := os.MkdirTemp("", "skcrypto-tls-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	caFile, certFile, keyFile, err := writeExamplePKI(dir, tlsLeaf{cn: "api.internal"})
	if err != nil {
		fmt.Println(err)
		return
	}

	serverCfg, err := skcrypto.ServerTLS(skcrypto.TLSOptions{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello over "+tls.VersionName(r.TLS.Version))
	}))
	srv.TLS = serverCfg
	srv.StartTLS()
	defer srv.Close()

	// ServerName makes the client send SNI. httptest adds its own
	// certificate to the config, which crypto/tls would otherwise serve
	// to a client dialling an IP address.
	clientCfg, err := skcrypto.ClientTLS(skcrypto.TLSOptions{RootCAFile: caFile, ServerName: "localhost"})
	if err != nil {
		fmt.Println(err)
		return
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: clientCfg}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	fmt.Println("negotiated:", tls.VersionName(resp.TLS.Version))
	fmt.Println("server:", resp.TLS.PeerCertificates[0].Subject.CommonName)
	// Output:
	// hello over TLS 1.3
	// negotiated: TLS 1.3
	// server: api.internal
}

// A CertReloader held by the service: it serves the pair to ServerTLS,
// tells when the certificate expires, and reports a bad update while the
// previous pair stays in service.
func ExampleCertReloader() {
	dir, err := os.MkdirTemp("", "skcrypto-reloader-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	_, certFile, keyFile, err := writeExamplePKI(dir, tlsLeaf{
		cn:        "api.internal",
		notBefore: now.Add(-24 * time.Hour),
		notAfter:  now.Add(20 * 24 * time.Hour),
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	r, err := skcrypto.NewCertReloader(certFile, keyFile, skcrypto.ReloaderOptions{
		Now:     func() time.Time { return now },
		OnError: func(err error) { fmt.Println("reload failed; still serving the previous pair") },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := skcrypto.ServerTLS(skcrypto.TLSOptions{Reloader: r}); err != nil {
		fmt.Println(err)
		return
	}

	left := r.Expiry().Sub(now)
	fmt.Println("expires:", r.Expiry().Format(time.DateOnly))
	fmt.Println("alert (less than 30 days left):", left < 30*24*time.Hour)

	// A botched deployment overwrites the certificate with garbage.
	_ = os.WriteFile(certFile, []byte("oops"), 0o600)
	err = r.Reload()
	fmt.Println("error is ErrTLSConfig:", errors.Is(err, skcrypto.ErrTLSConfig))
	fmt.Println("LastError set:", r.LastError() != nil)
	fmt.Println("serving:", r.Certificate().Leaf.Subject.CommonName)
	// Output:
	// expires: 2030-06-21
	// alert (less than 30 days left): true
	// reload failed; still serving the previous pair
	// error is ErrTLSConfig: true
	// LastError set: true
	// serving: api.internal
}
