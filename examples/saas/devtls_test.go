package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var devTLSLine = regexp.MustCompile(`dev TLS: https://app\.customer\.test:(\d+)/`)

// httpsGet fetches https://name/ from the demo's HTTPS port, trusting
// roots only; the connection goes to 127.0.0.1 whatever name says.
func httpsGet(port, name string, roots *x509.CertPool) (string, error) {
	c := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
		},
	}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://" + name + ":" + port + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return string(body), err
}

// orderLogs counts the demo's log lines of obtained and failed
// certificate orders for name: every order ends in one of them.
func (s *server) orderLogs(name string) (obtained, failed int) {
	for _, l := range s.Lines() {
		if !strings.Contains(l, `"tls.server_name":"`+name+`"`) {
			continue
		}
		if strings.Contains(l, "autotls: certificate obtained") {
			obtained++
		}
		if strings.Contains(l, "autotls: certificate order failed") {
			failed++
		}
	}
	return obtained, failed
}

// domainRow is the console's row of a domain on a tenant's domains page.
func domainRow(page, name string) string {
	i := strings.Index(page, `<tr id="domain-`+name+`">`)
	if i < 0 {
		return ""
	}
	row := page[i:]
	return row[:strings.Index(row, "</tr>")]
}

var tokenCell = regexp.MustCompile(`<code class="token">(\w+)</code>`)

// TestDemoDevTLS runs the demo in -tls mode: a client that trusts only
// the Pebble root the demo wrote gets acme's branded page over HTTPS at
// its verified domain app.customer.test; globex's pending domain fails
// its handshake without an order; plain HTTP still serves. The console
// lists each tenant's domains and checks them, and never another
// tenant's: globex can neither check acme's domain nor take it over by
// claiming it. Once globex's record is published in the dev zone, a
// check verifies its domain and HTTPS serves it.
func TestDemoDevTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	data := t.TempDir()
	t.Setenv("SAASKIT_OPERATOR_TOKEN", "op-dev-tls")
	s := start(t, buildDemo(t), data, "-tls", "-tls-addr", "127.0.0.1:0")
	defer s.Stop(t)
	var port string
	for _, l := range s.Lines() {
		if m := devTLSLine.FindStringSubmatch(l); m != nil {
			port = m[1]
		}
	}
	require.NotEmpty(t, port, "the demo printed no HTTPS port")
	pemBytes, err := os.ReadFile(filepath.Join(data, "pebble-root.pem"))
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(pemBytes), "the root file holds a certificate")

	body, err := httpsGet(port, "app.customer.test", roots)
	require.NoError(t, err, "output:\n%s", strings.Join(s.Lines(), "\n"))
	assert.Contains(t, body, "<h1>Acme Cloud</h1>", "acme's branded page")
	body, err = httpsGet(port, "app.customer.test", roots)
	require.NoError(t, err)
	assert.Contains(t, body, "Acme Cloud")
	obtained, failed := s.orderLogs("app.customer.test")
	assert.Equal(t, 1, obtained, "one order, then the certificate is served from memory")
	assert.Zero(t, failed)

	for _, name := range []string{"shop.globex.test", "nobody.customer.test"} {
		_, err = httpsGet(port, name, roots)
		assert.Error(t, err, "%s is not verified: its handshake fails", name)
		obtained, failed = s.orderLogs(name)
		assert.Zero(t, obtained+failed, "no order for %s", name)
	}

	resp, body := s.call(t, "GET", "acme.localhost", "/api/branding", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Contains(t, body, "Acme Cloud", "plain HTTP still serves")

	cookie := consoleLogin(t, s, "op-dev-tls")
	csrf := consoleCSRF(t, s, cookie)
	post := func(path string, form url.Values) *http.Response {
		t.Helper()
		form.Set("csrf", csrf)
		return consoleSend(t, s, "POST", path, form, cookie)
	}

	acmePage := consolePage(t, s, "/console/tenants/acme/domains", cookie)
	acmeRow := domainRow(acmePage, "app.customer.test")
	require.NotEmpty(t, acmeRow, acmePage)
	assert.Contains(t, acmeRow, `class="state good">verified<`)
	assert.Contains(t, acmeRow, "_saaskit-challenge.app.customer.test")
	zone, err := os.ReadFile(filepath.Join(data, "dev-dns.txt"))
	require.NoError(t, err)
	m := tokenCell.FindStringSubmatch(acmeRow)
	require.NotNil(t, m, acmeRow)
	assert.Contains(t, string(zone), "_saaskit-challenge.app.customer.test "+m[1], "the token shown is the one published")
	assert.NotContains(t, acmePage, "shop.globex.test", "acme's page shows globex's domain")
	assert.Contains(t, acmePage, `id="dev-zone"`, "the page says where dev mode reads records")

	globexPage := consolePage(t, s, "/console/tenants/globex/domains", cookie)
	shopRow := domainRow(globexPage, "shop.globex.test")
	assert.Contains(t, shopRow, `class="state">pending<`)
	assert.NotContains(t, globexPage, "app.customer.test", "globex's page shows acme's domain")
	assert.NotContains(t, globexPage, m[1], "globex's page shows acme's token")

	t.Run("another tenant's domain", func(t *testing.T) {
		resp := post("/console/tenants/globex/domains/app.customer.test/check", url.Values{})
		assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
		assert.Equal(t, "/console/tenants/globex/domains", resp.Header.Get("Location"))
		page := consolePage(t, s, "/console/tenants/globex/domains", cookie)
		assert.Contains(t, page, "not found", "checking a domain globex does not hold")
		assert.Equal(t, acmeRow, domainRow(consolePage(t, s, "/console/tenants/acme/domains", cookie), "app.customer.test"),
			"acme's domain was checked through globex")

		// globex claims acme's domain: it gets a claim of its own, with
		// its own token, which acme's record does not prove.
		resp = post("/console/tenants/globex/domains", url.Values{"name": {"APP.customer.test"}})
		assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
		post("/console/tenants/globex/domains/app.customer.test/check", url.Values{})
		page = consolePage(t, s, "/console/tenants/globex/domains", cookie)
		claim := domainRow(page, "app.customer.test")
		assert.Contains(t, claim, `class="state">pending<`, page)
		assert.NotContains(t, claim, m[1], "globex's claim shows acme's token")
		assert.Equal(t, acmeRow, domainRow(consolePage(t, s, "/console/tenants/acme/domains", cookie), "app.customer.test"))
		body, err := httpsGet(port, "app.customer.test", roots)
		require.NoError(t, err)
		assert.Contains(t, body, "Acme Cloud", "the domain still serves acme")
	})

	t.Run("publish and check", func(t *testing.T) {
		m := tokenCell.FindStringSubmatch(shopRow)
		require.NotNil(t, m, shopRow)
		post("/console/tenants/globex/domains/shop.globex.test/check", url.Values{})
		page := consolePage(t, s, "/console/tenants/globex/domains", cookie)
		assert.Contains(t, page, "shop.globex.test: pending (no TXT record")

		f, err := os.OpenFile(filepath.Join(data, "dev-dns.txt"), os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = fmt.Fprintf(f, "_saaskit-challenge.shop.globex.test %s\n", m[1])
		require.NoError(t, err)
		require.NoError(t, f.Close())
		post("/console/tenants/globex/domains/shop.globex.test/check", url.Values{})
		page = consolePage(t, s, "/console/tenants/globex/domains", cookie)
		assert.Contains(t, page, "shop.globex.test: verified.")
		assert.Contains(t, domainRow(page, "shop.globex.test"), `class="state good">verified<`)

		body, err := httpsGet(port, "shop.globex.test", roots)
		require.NoError(t, err)
		assert.Contains(t, body, "Globex Portal", "globex's branded page")
	})

	t.Run("bad input", func(t *testing.T) {
		for _, name := range []string{"", "127.0.0.1", "*.customer.test", "localhost", "acme.localhost"} {
			resp := post("/console/tenants/globex/domains", url.Values{"name": {name}})
			assert.Equal(t, http.StatusSeeOther, resp.StatusCode, name)
			assert.Contains(t, consolePage(t, s, "/console/tenants/globex/domains", cookie), "invalid domain", name)
		}
		resp := post("/console/tenants/nobody/domains", url.Values{"name": {"x.customer.test"}})
		assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
		req, err := http.NewRequest("GET", "http://127.0.0.1:"+s.port+"/console/tenants/nobody/domains", nil)
		require.NoError(t, err)
		req.AddCookie(cookie)
		got, err := noRedirect.Do(req)
		require.NoError(t, err)
		got.Body.Close()
		assert.Equal(t, http.StatusNotFound, got.StatusCode)
	})
}
