package webhookportal_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/internal/sqldb/sqldbtest"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
	"github.com/saaskit/saaskit/webhook/sqlstore"
	"github.com/saaskit/saaskit/webhook/webhookportal"
)

// base is where the tests mount the portal.
const base = "/portal/webhooks/"

// testKey signs the tests' links and sessions.
var testKey = []byte("0123456789abcdef0123456789abcdef")

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// tenants stands in for the application's tenant registry.
type tenants struct {
	mu sync.Mutex
	m  map[string]*tenancy.Tenant
}

func (ts *tenants) Get(_ context.Context, id string) (*tenancy.Tenant, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t, ok := ts.m[id]; ok {
		return t, nil
	}
	return nil, tenancy.ErrNotFound
}

// set replaces the tenant with that ID, or removes it (t nil).
func (ts *tenants) set(id string, t *tenancy.Tenant) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t == nil {
		delete(ts.m, id)
		return
	}
	ts.m[id] = t
}

func newTenants() *tenants {
	return &tenants{m: map[string]*tenancy.Tenant{
		"acme": {ID: "acme", Name: "Acme", Status: tenancy.StatusActive, Branding: tenancy.Branding{
			Name: "Acme Cloud", LogoURL: "https://cdn.acme.example/logo.svg", PrimaryColor: "#d9480f", Font: "Georgia, serif",
			SupportEmail: "help@acme.example", CSSVars: map[string]string{"--radius": "0"}}},
		"globex": {ID: "globex", Name: "Globex", Status: tenancy.StatusActive, Branding: tenancy.Branding{Name: "Globex Portal"}},
	}}
}

// receiver is an endpoint's receiver: it answers every delivery with
// status and body, and keeps what it got.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []http.Header
	// status and body are the answer.
	status int
	body   string
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{status: http.StatusOK, body: `{"received":true}`}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.got = append(rc.got, r.Header.Clone())
		w.WriteHeader(rc.status)
		_, _ = io.WriteString(w, rc.body)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) answer(status int, body string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.status, rc.body = status, body
}

// fixture serves the portal over TLS (so its Secure cookies travel) for
// the tenant that the X-Tenant header names, standing in for the
// application's authentication, with a worker delivering to receivers.
type fixture struct {
	t        testing.TB
	srv      *httptest.Server
	d        *webhook.Dispatcher
	portal   *webhookportal.Handler
	tenants  *tenants
	outcomes <-chan webhook.Outcome
}

// catalogue is what the tests' application sends.
func catalogue(t testing.TB) *webhook.Catalogue {
	c, err := webhook.NewCatalogue(
		webhook.EventType{Name: "invoice.paid", Description: "An invoice was paid", Schema: json.RawMessage(`{"type":"object"}`)},
		webhook.EventType{Name: "invoice.voided", Description: "An invoice was voided"},
		webhook.EventType{Name: "user.created", Description: "A user was created"},
	)
	require.NoError(t, err)
	return c
}

// newDispatcher returns a dispatcher over a memory store.
func newDispatcher(t testing.TB) *webhook.Dispatcher {
	store := memstore.New()
	return dispatcherOver(t, store, store)
}

// newSQLiteDispatcher returns a dispatcher over sqlstore on SQLite.
func newSQLiteDispatcher(t testing.TB) *webhook.Dispatcher {
	st, err := sqlstore.New(sqldbtest.OpenSQLite(t).DB)
	require.NoError(t, err)
	require.NoError(t, st.Migrate(context.Background()))
	return dispatcherOver(t, st, st)
}

func dispatcherOver(t testing.TB, eps webhook.EndpointStore, q webhook.Queue) *webhook.Dispatcher {
	uri, err := fakekms.NewKeyURI()
	require.NoError(t, err)
	aead, err := fakekms.NewAEAD(uri)
	require.NoError(t, err)
	d, err := webhook.NewDispatcher(eps, q, func(string) webhook.AEAD { return aead },
		webhook.DispatcherOptions{AllowCIDRs: loopback, Catalogue: catalogue(t)})
	require.NoError(t, err)
	return d
}

func newFixture(t testing.TB, d *webhook.Dispatcher, opts webhookportal.Options) *fixture {
	f := &fixture{t: t, d: d, tenants: newTenants()}
	if opts.BaseURL == "" {
		opts.BaseURL = base
	}
	if opts.Key == nil {
		opts.Key = testKey
	}
	if opts.Tenants == nil {
		opts.Tenants = f.tenants
	}
	var err error
	f.portal, err = webhookportal.New(d, opts)
	require.NoError(t, err)
	f.srv = httptest.NewTLSServer(f.authenticate(f.portal))
	t.Cleanup(f.srv.Close)

	var stop func()
	f.outcomes, stop = d.Subscribe(100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Run(ctx, webhook.WorkerOptions{
			Client: webhook.NewDeliveryClient(webhook.DeliveryClientOptions{AllowCIDRs: loopback}),
			Poll:   10 * time.Millisecond, RetryDelay: func(int) time.Duration { return 10 * time.Millisecond }, MaxAttempts: 2,
		})
	}()
	t.Cleanup(func() { cancel(); <-done; stop() })
	return f
}

// authenticate is the application's authentication: X-Tenant names the
// principal's tenant, with the scopes X-Scopes lists; X-Named names a
// tenant as a host would, without authenticating.
func (f *fixture) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if id := r.Header.Get("X-Named"); id != "" {
			tn, _ := f.tenants.Get(ctx, id)
			ctx = tenancy.WithTenant(ctx, tn)
		}
		if id := r.Header.Get("X-Tenant"); id != "" {
			tn, err := f.tenants.Get(ctx, id)
			if err != nil {
				tn = &tenancy.Tenant{ID: id}
			}
			if r.Header.Get("X-Named") == "" {
				ctx = tenancy.WithTenant(ctx, tn)
			}
			ctx = tenancy.WithPrincipal(ctx, &tenancy.Principal{Tenant: tn, Scopes: strings.Fields(r.Header.Get("X-Scopes"))})
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// outcome waits for the worker's next recorded attempt.
func (f *fixture) outcome() webhook.Outcome {
	f.t.Helper()
	return <-f.outcomes
}

// user is a browser of the portal: a principal of tenant (none when
// ""), with its own cookies.
type user struct {
	f      *fixture
	tenant string
	client *http.Client
	csrf   string
	header http.Header // sent with every request
}

func (f *fixture) as(tenant string) *user {
	jar, err := cookiejar.New(nil)
	require.NoError(f.t, err)
	client := new(http.Client)
	*client = *f.srv.Client() // its transport trusts the server; the jar is the user's own
	client.Jar = jar
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &user{f: f, tenant: tenant, client: client, header: http.Header{}}
}

// answer is a response, read.
type answer struct {
	status int
	body   string
	header http.Header
}

// location is where a redirect sends the browser, under the portal.
func (a answer) location() string { return strings.TrimPrefix(a.header.Get("Location"), base) }

// flash is the page's notice or error message.
func (a answer) flash() string {
	m := regexp.MustCompile(`(?s)id="flash"[^>]*>(.*?)</p>`).FindStringSubmatch(a.body)
	if m == nil {
		return ""
	}
	return m[1]
}

func (u *user) do(method, path string, body io.Reader, header ...string) answer {
	u.f.t.Helper()
	req, err := http.NewRequest(method, u.f.srv.URL+base+strings.TrimPrefix(path, "/"), body)
	require.NoError(u.f.t, err)
	for name, vs := range u.header {
		req.Header[name] = vs
	}
	if u.tenant != "" {
		req.Header.Set("X-Tenant", u.tenant)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := u.client.Do(req)
	require.NoError(u.f.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(u.f.t, err)
	return answer{status: resp.StatusCode, body: string(b), header: resp.Header}
}

func (u *user) get(path string, header ...string) answer {
	u.f.t.Helper()
	a := u.do("GET", path, nil, header...)
	if m := csrfField.FindStringSubmatch(a.body); m != nil {
		u.csrf = m[1]
	}
	return a
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// post submits a form with the session's CSRF token, unless the form
// has a csrf value of its own.
func (u *user) post(path string, form url.Values, header ...string) answer {
	u.f.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		if u.csrf == "" {
			u.get("/endpoints/new") // a page with a form
		}
		form.Set("csrf", u.csrf)
	}
	return u.do("POST", path, strings.NewReader(form.Encode()), header...)
}

// createEndpoint creates an endpoint for the user's tenant through the
// portal and returns it with the secret the page showed.
func (u *user) createEndpoint(form url.Values) (*webhook.Endpoint, string) {
	t := u.f.t
	t.Helper()
	before, err := u.f.d.ListEndpoints(context.Background(), u.tenant)
	require.NoError(t, err)
	a := u.post("/endpoints", form)
	require.Equal(t, http.StatusCreated, a.status, a.body)
	secret := regexp.MustCompile(`id="secret">([^<]+)<`).FindStringSubmatch(a.body)
	require.NotNil(t, secret, a.body)
	after, err := u.f.d.ListEndpoints(context.Background(), u.tenant)
	require.NoError(t, err)
	require.Len(t, after, len(before)+1)
	return after[len(after)-1], secret[1]
}

// send sends a message to the tenant's endpoints and waits for the
// attempts it makes, one per endpoint.
func (f *fixture) send(tenant, eventType, payload string, endpoints int) *webhook.Message {
	f.t.Helper()
	msg := &webhook.Message{TenantID: tenant, EventType: eventType, Payload: json.RawMessage(payload)}
	n, err := f.d.Send(context.Background(), msg)
	require.NoError(f.t, err)
	require.Equal(f.t, endpoints, n)
	for range endpoints {
		f.outcome()
	}
	return msg
}
