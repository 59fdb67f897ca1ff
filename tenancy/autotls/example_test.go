package autotls_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/caddyserver/certmagic"

	"github.com/saaskit/saaskit/tenancy/autotls"
	"github.com/saaskit/saaskit/tenancy/autotls/devacme"
)

// A tenant's domain gets its certificate at its first handshake, from a
// Pebble CA running in the process; another name is refused without an
// order.
func Example() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ca, err := devacme.Start(devacme.Options{TLSPort: l.Addr().(*net.TCPAddr).Port})
	if err != nil {
		log.Fatal(err)
	}
	defer ca.Close()

	dir, err := os.MkdirTemp("", "autotls-example") // in a service: sqlstore, shared by replicas
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	verified := map[string]bool{"app.customer.test": true} // in a service: tenancy.Registry.VerifiedDomain
	m, err := autotls.New(autotls.Options{
		Allow: func(_ context.Context, name string) error {
			if !verified[name] {
				return fmt.Errorf("%s is not a verified tenant domain", name)
			}
			return nil
		},
		Storage: &certmagic.FileStorage{Path: dir},
		ACME:    ca.Issuer(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Stop()
	srv := &http.Server{TLSConfig: m.TLSConfig(), ErrorLog: log.New(io.Discard, "", 0),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello from ", r.Host) })}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	defer srv.Close()

	body, err := get(l.Addr().String(), "app.customer.test", ca.Roots())
	fmt.Println(body, err)
	_, err = get(l.Addr().String(), "unknown.customer.test", ca.Roots())
	fmt.Println("unknown name refused:", err != nil, "orders:", ca.Orders())
	// Output:
	// hello from app.customer.test <nil>
	// unknown name refused: true orders: 1
}
