package tenancy_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
)

func TestNormalizeDomain(t *testing.T) {
	for in, want := range map[string]string{
		"App.Acme.COM.":                  "app.acme.com",
		" shop.acme.org ":                "shop.acme.org",
		"bücher.example":                 "xn--bcher-kva.example",
		"BÜCHER.example":                 "xn--bcher-kva.example",
		"xn--bcher-kva.example":          "xn--bcher-kva.example",
		"例え.テスト":                         "xn--r8jz45g.xn--zckzah",
		"a-b.c-d.example":                "a-b.c-d.example",
		"acme.co1":                       "acme.co1",
		strings.Repeat("a", 63) + ".com": strings.Repeat("a", 63) + ".com",
	} {
		got, err := tenancy.NormalizeDomain(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, got, in)
		}
	}
	for in, rule := range map[string]string{
		"":                                "must not be empty",
		".":                               "must not be empty",
		"*.acme.com":                      "wildcard",
		"10.0.0.1":                        "not an IP address",
		"[::1]":                           "not an IP address",
		"2001:db8::1":                     "not an IP address",
		"acme.com:443":                    "not an IP address",
		"localhost":                       "fully qualified",
		"acme.123":                        "fully qualified",
		"a..com":                          "",
		"-a.com":                          "",
		"a_b.com":                         "",
		"acme.com/path":                   "",
		"xn--zz--.org":                    "",
		strings.Repeat("a", 64) + ".com":  "",
		strings.Repeat("a.", 127) + "com": "at most 253",
		strings.Repeat("a", 2000):         "at most 253",
		"acme\x00.com":                    "",
		"\u202eacme.com":                  "",
	} {
		_, err := tenancy.NormalizeDomain(in)
		var fe *tenancy.FieldError
		if assert.ErrorAs(t, err, &fe, "%q", in) {
			assert.Equal(t, "domain", fe.Field)
			assert.Contains(t, fe.Rule, rule, "%q", in)
			assert.NotContains(t, err.Error(), in[:min(len(in), 8)]+"\x00", "the error does not echo control characters")
		}
	}
}

func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range []string{"app.acme.com", "bücher.example", "*.a.com", "10.0.0.1", "[::1]", "xn--zz--.org", "a..b", "ＡＢＣ.example", "\u00df.de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := tenancy.NormalizeDomain(s)
		if err != nil {
			assert.ErrorIs(t, err, tenancy.ErrInvalid)
			return
		}
		// What is accepted is a valid stored name, and stable.
		assert.True(t, tenancy.ValidDomain(got), "%q -> %q", s, got)
		assert.LessOrEqual(t, len(got), 253)
		assert.False(t, strings.ContainsAny(got, "*:[]"))
		again, err := tenancy.NormalizeDomain(got)
		require.NoError(t, err, "%q -> %q", s, got)
		assert.Equal(t, got, again)
	})
}

func FuzzProof(f *testing.F) {
	f.Add("tok", "tok")
	f.Add(" saaskit-challenge=tok ", "tok")
	f.Add("", "")
	f.Add("tok\x00", "tok")
	f.Fuzz(func(t *testing.T, record, token string) {
		txt := tenancy.TXTHasToken([]string{record}, token)
		body := tenancy.BodyHasToken([]byte(record), token)
		if token == "" || strings.TrimSpace(token) != token {
			assert.False(t, txt || body, "an empty or spaced token proves nothing")
			return
		}
		if body {
			assert.Equal(t, token, strings.TrimSpace(record))
			assert.True(t, txt, "a body that proves is a TXT record that proves")
		}
		if txt {
			assert.Contains(t, record, token)
		}
		assert.True(t, tenancy.TXTHasToken([]string{"other", token}, token))
		assert.False(t, tenancy.BodyHasToken([]byte(strings.Repeat("x", 2000)+token), token))
	})
}

// fakeDNS answers TXT lookups from a map.
type fakeDNS struct {
	mu sync.Mutex
	m  map[string][]string
}

func (f *fakeDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.m[name]; ok {
		return v, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fakeDNS) set(name string, v ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string][]string{}
	}
	f.m[name] = v
}

// The HTTP proof: the service fetches the well-known path on the domain
// and finds the token there.
func TestHTTPProof(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	served := map[string]string{} // path → body
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		body, ok := served[r.Host+r.URL.Path]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, body)
	}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}}}
	st := memstore.New()
	reg := tenancy.NewRegistry(st, st, tenancy.Options{Domains: tenancy.DomainOptions{Resolver: &fakeDNS{}, HTTPClient: client}})
	defer reg.Close()
	_, err := reg.Create(ctx, &tenancy.Tenant{ID: "t1", Slug: "acme", Name: "Acme"})
	require.NoError(t, err)
	ds, err := reg.AddDomain(ctx, "t1", "shop.acme.org")
	require.NoError(t, err)
	assert.Equal(t, "/.well-known/saaskit-challenge/"+ds.Token, ds.HTTPPath)

	ds, err = reg.VerifyDomain(ctx, "t1", "shop.acme.org")
	require.NoError(t, err)
	assert.Equal(t, tenancy.DomainPending, ds.State)
	assert.Contains(t, ds.Reason, "HTTP proof")

	mu.Lock()
	served["shop.acme.org"+ds.HTTPPath] = "wrong"
	mu.Unlock()
	ds, err = reg.VerifyDomain(ctx, "t1", "shop.acme.org")
	require.NoError(t, err)
	assert.Equal(t, tenancy.DomainPending, ds.State)

	mu.Lock()
	served["shop.acme.org"+ds.HTTPPath] = ds.Token
	mu.Unlock()
	ds, err = reg.VerifyDomain(ctx, "t1", "shop.acme.org")
	require.NoError(t, err)
	assert.Equal(t, tenancy.DomainVerified, ds.State)
}

// The custom-domain resolver serves verified domains and failing ones
// within their grace period only.
func TestCustomDomainServesOnlyVerified(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	dns := &fakeDNS{}
	st := memstore.New()
	reg := tenancy.NewRegistry(st, st, tenancy.Options{Now: clock, Domains: tenancy.DomainOptions{Resolver: dns, Grace: 24 * time.Hour}})
	defer reg.Close()
	_, err := reg.Create(ctx, &tenancy.Tenant{ID: "t1", Slug: "acme", Name: "Acme"})
	require.NoError(t, err)
	h := tenancy.Middleware(tenancy.MiddlewareOptions{Identify: []tenancy.Resolver{tenancy.CustomDomain(reg)}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tn, _ := tenancy.FromContext(r.Context())
			fmt.Fprint(w, tn.ID)
		}))
	get := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://shop.acme.org/", nil))
		return rec.Code
	}

	ds, err := reg.AddDomain(ctx, "t1", "shop.acme.org")
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, get(), "pending: the host names no tenant")
	dns.set(ds.RecordName, ds.RecordValue)
	_, err = reg.VerifyDomain(ctx, "t1", "shop.acme.org")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, get(), "verified")

	dns.set(ds.RecordName)
	ds, err = reg.VerifyDomain(ctx, "t1", "shop.acme.org")
	require.NoError(t, err)
	require.Equal(t, tenancy.DomainFailing, ds.State)
	assert.Equal(t, http.StatusOK, get(), "failing, within the grace period")
	advance(24*time.Hour - time.Second)
	assert.Equal(t, http.StatusOK, get(), "failing, within the grace period")
	advance(time.Second)
	assert.Equal(t, http.StatusBadRequest, get(), "failing past the grace period, even before a check revokes it")
}

// A store that keeps no domain claims makes the domain methods fail
// with a clear error rather than panic.
func TestDomainsNeedDomainStore(t *testing.T) {
	st := memstore.New()
	reg := tenancy.NewRegistry(struct{ tenancy.Store }{st}, st, tenancy.Options{})
	defer reg.Close()
	_, err := reg.AddDomain(context.Background(), "t1", "shop.acme.org")
	assert.ErrorContains(t, err, "DomainStore")
	_, err = reg.CheckDomains(context.Background())
	assert.ErrorContains(t, err, "DomainStore")
}

func ExampleRegistry_AddDomain() {
	ctx := context.Background()
	dns := &fakeDNS{} // in production: the default, net.DefaultResolver
	st := memstore.New()
	reg := tenancy.NewRegistry(st, st, tenancy.Options{Domains: tenancy.DomainOptions{
		Resolver: dns,
		OnEvent:  func(ctx context.Context, ev tenancy.DomainEvent) { fmt.Println("event:", ev.Type, ev.Domain) },
	}})
	defer reg.Close()
	if _, err := reg.Create(ctx, &tenancy.Tenant{ID: "t1", Slug: "acme", Name: "Acme"}); err != nil {
		fmt.Println(err)
		return
	}

	ds, err := reg.AddDomain(ctx, "t1", "Shop.Acme.org")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ds.State, ds.RecordType, ds.RecordName)

	dns.set(ds.RecordName, ds.RecordValue) // the tenant creates the record
	ds, _ = reg.VerifyDomain(ctx, "t1", "shop.acme.org")
	fmt.Println(ds.State)
	id, _ := reg.VerifiedDomain(ctx, "shop.acme.org")
	fmt.Println("serves", id)

	_, err = reg.AddDomain(ctx, "t1", "*.acme.org")
	fmt.Println(err)
	// Output:
	// pending TXT _saaskit-challenge.shop.acme.org
	// event: domain.verified shop.acme.org
	// verified
	// serves t1
	// add domain: tenancy: invalid domain: must not be a wildcard
}

// RunDomainChecks keeps checking until its context ends: a domain whose
// record appears is verified without anyone pressing Verify.
func TestRunDomainChecks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	dns := &fakeDNS{}
	verified := make(chan tenancy.DomainEvent, 1)
	st := memstore.New()
	reg := tenancy.NewRegistry(st, st, tenancy.Options{Now: clock, Domains: tenancy.DomainOptions{
		Resolver: dns, Interval: time.Minute,
		OnEvent: func(ctx context.Context, ev tenancy.DomainEvent) { verified <- ev },
	}})
	defer reg.Close()
	_, err := reg.Create(ctx, &tenancy.Tenant{ID: "t1", Slug: "acme", Name: "Acme"})
	require.NoError(t, err)
	ds, err := reg.AddDomain(ctx, "t1", "shop.acme.org")
	require.NoError(t, err)
	dns.set(ds.RecordName, ds.RecordValue)
	mu.Lock()
	now = now.Add(time.Minute) // due
	mu.Unlock()

	done := make(chan error, 1)
	go func() { done <- reg.RunDomainChecks(ctx, time.Millisecond, func(err error) { t.Error(err) }) }()
	ev := <-verified
	assert.Equal(t, tenancy.EventDomainVerified, ev.Type)
	assert.Equal(t, "shop.acme.org", ev.Domain)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}
