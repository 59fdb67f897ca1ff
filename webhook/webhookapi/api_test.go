package webhookapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
	"github.com/saaskit/saaskit/webhook/webhookapi"
)

// apiFixture serves the API for the tenant the X-Tenant header names,
// standing in for the application's authentication, and checks every
// request and response against the OpenAPI document.
type apiFixture struct {
	t      *testing.T
	srv    *httptest.Server
	d      *webhook.Dispatcher
	store  *memstore.Store
	doc    *openapi3.T
	router routers.Router
}

// newDispatcher returns a dispatcher over a memory store, sealing with
// a fake KMS key.
func newDispatcher(tb testing.TB, opts webhook.DispatcherOptions) (*webhook.Dispatcher, *memstore.Store) {
	uri, err := fakekms.NewKeyURI()
	require.NoError(tb, err)
	aead, err := fakekms.NewAEAD(uri)
	require.NoError(tb, err)
	store := memstore.New()
	d, err := webhook.NewDispatcher(store, store, func(string) webhook.AEAD { return aead }, opts)
	require.NoError(tb, err)
	return d, store
}

func newAPIFixture(t *testing.T) *apiFixture {
	catalogue, err := webhook.NewCatalogue(webhook.EventType{Name: "invoice.paid", Description: "An invoice was paid"})
	require.NoError(t, err)
	d, store := newDispatcher(t, webhook.DispatcherOptions{Catalogue: catalogue})
	api := webhookapi.New(d, webhookapi.Options{ReadScope: "webhooks:read", WriteScope: "webhooks:write"})
	authenticate := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get("X-Tenant"); id != "" {
			p := &tenancy.Principal{Tenant: &tenancy.Tenant{ID: id}, Scopes: strings.Fields(r.Header.Get("X-Scopes"))}
			r = r.WithContext(tenancy.WithPrincipal(r.Context(), p))
		}
		api.ServeHTTP(w, r)
	})
	f := &apiFixture{t: t, srv: httptest.NewServer(http.StripPrefix("/api/webhooks", authenticate)), d: d, store: store}
	t.Cleanup(f.srv.Close)

	loader := openapi3.NewLoader()
	f.doc, err = loader.LoadFromData(webhookapi.OpenAPI)
	require.NoError(t, err)
	require.NoError(t, f.doc.Validate(loader.Context), "the OpenAPI document is invalid")
	f.doc.Servers = openapi3.Servers{{URL: f.srv.URL + "/api/webhooks"}}
	f.router, err = legacy.NewRouter(f.doc)
	require.NoError(t, err)
	return f
}

// call makes a request as tenant with both scopes and returns the
// status and body, after checking both against the document.
func (f *apiFixture) call(tenant, method, path string, body any) (int, []byte) {
	return f.callAs(tenant, "webhooks:read webhooks:write", method, path, body)
}

func (f *apiFixture) callAs(tenant, scopes, method, path string, body any) (int, []byte) {
	t := f.t
	t.Helper()
	var reqBody []byte
	if body != nil {
		var err error
		if s, ok := body.(string); ok {
			reqBody = []byte(s)
		} else if reqBody, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, f.srv.URL+"/api/webhooks"+path, bytes.NewReader(reqBody))
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tenant != "" {
		req.Header.Set("X-Tenant", tenant)
		req.Header.Set("X-Scopes", scopes)
	}
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)

	route, params, err := f.router.FindRoute(req)
	if err != nil {
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s %s is not in the document", method, path)
		return resp.StatusCode, got
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(got)), Options: &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true}}
	assert.NoError(t, openapi3filter.ValidateResponse(context.Background(), out), "%s %s answered %d %s, not as documented", method, path, resp.StatusCode, got)
	if resp.StatusCode >= 400 {
		assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), "%s %s", method, path)
	}
	return resp.StatusCode, got
}

func decodeAs[T any](t *testing.T, b []byte) T {
	var v T
	require.NoError(t, json.Unmarshal(b, &v), string(b))
	return v
}

type endpointOut struct {
	ID       string   `json:"id"`
	URL      string   `json:"url"`
	Channels []string `json:"channels"`
	HasAuth  bool     `json:"has_auth"`
	Version  int64    `json:"version"`
}

// TestAPIWalkthrough uses every route once as a tenant would, each
// answer checked against the OpenAPI document.
func TestAPIWalkthrough(t *testing.T) {
	f := newAPIFixture(t)
	status, body := f.call("acme", "POST", "/endpoints", map[string]any{
		"url": "https://hooks.example.com/in", "event_types": []string{"invoice.paid"}, "channels": []string{"eu"},
		"auth": map[string]any{"scheme": "bearer", "token": "t0k"},
	})
	require.Equal(t, http.StatusCreated, status, string(body))
	created := decodeAs[struct {
		Endpoint endpointOut `json:"endpoint"`
		Secret   string      `json:"secret"`
	}](t, body)
	assert.True(t, strings.HasPrefix(created.Secret, "whsec_"))
	assert.True(t, created.Endpoint.HasAuth)
	assert.NotContains(t, string(body), "t0k", "the token is shown")
	id := created.Endpoint.ID

	status, body = f.call("acme", "GET", "/endpoints/"+id, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, []string{"eu"}, decodeAs[endpointOut](t, body).Channels)
	status, body = f.call("acme", "PUT", "/endpoints/"+id, map[string]any{"url": "https://hooks.example.com/v2", "event_types": []string{"invoice.paid"}})
	require.Equal(t, http.StatusOK, status, string(body))
	assert.Equal(t, "https://hooks.example.com/v2", decodeAs[endpointOut](t, body).URL)
	status, body = f.call("acme", "POST", "/endpoints/"+id+"/rotate-secret", map[string]any{"overlap_seconds": 60})
	require.Equal(t, http.StatusOK, status, string(body))
	status, _ = f.call("acme", "POST", "/endpoints/"+id+"/disable", map[string]any{"reason": "maintenance"})
	require.Equal(t, http.StatusNoContent, status)
	status, _ = f.call("acme", "POST", "/endpoints/"+id+"/enable", nil)
	require.Equal(t, http.StatusNoContent, status)
	status, body = f.call("acme", "GET", "/event-types", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, string(body), "An invoice was paid")

	for i := range 3 {
		_, err := f.d.Send(context.Background(), &webhook.Message{ID: "msg_" + string(rune('a'+i)), TenantID: "acme", EventType: "invoice.paid",
			Payload: json.RawMessage(`{"n":1}`), Channels: []string{"eu"}})
		require.NoError(t, err)
	}
	var ids []string
	for path := "/messages?limit=2"; path != ""; {
		status, body = f.call("acme", "GET", path, nil)
		require.Equal(t, http.StatusOK, status, string(body))
		p := decodeAs[struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
			NextCursor *string `json:"next_cursor"`
		}](t, body)
		for _, m := range p.Data {
			ids = append(ids, m.ID)
		}
		path = ""
		if p.NextCursor != nil {
			path = "/messages?limit=2&cursor=" + *p.NextCursor
		}
	}
	assert.Equal(t, []string{"msg_a", "msg_b", "msg_c"}, ids, "pages of messages")

	status, body = f.call("acme", "POST", "/messages/msg_a/resend", map[string]any{"endpoint_id": id})
	require.Equal(t, http.StatusAccepted, status, string(body))
	status, body = f.call("acme", "GET", "/deliveries?endpoint_id="+id+"&state=pending", nil)
	require.Equal(t, http.StatusOK, status)
	deliveries := decodeAs[struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}](t, body)
	require.Len(t, deliveries.Data, 4)
	status, _ = f.call("acme", "GET", "/deliveries/"+deliveries.Data[0].ID+"/attempts", nil)
	require.Equal(t, http.StatusOK, status)
	status, _ = f.call("acme", "POST", "/deliveries/"+deliveries.Data[0].ID+"/retry", nil)
	assert.Equal(t, http.StatusConflict, status, "a pending delivery is not retried")
	status, body = f.call("acme", "POST", "/endpoints/"+id+"/replay", map[string]any{"since": time.Now().Add(-time.Hour), "only_missing": true})
	require.Equal(t, http.StatusOK, status, string(body))
	assert.JSONEq(t, `{"queued":0}`, string(body))
	status, body = f.call("acme", "POST", "/endpoints/"+id+"/recover", map[string]any{"since": time.Now().Add(-time.Hour)})
	require.Equal(t, http.StatusOK, status, string(body))
	status, body = f.call("acme", "GET", "/endpoints?limit=1", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, string(body), id)
	status, _ = f.call("acme", "DELETE", "/endpoints/"+id, nil)
	assert.Equal(t, http.StatusNoContent, status)
	status, _ = f.call("acme", "GET", "/endpoints/"+id, nil)
	assert.Equal(t, http.StatusNotFound, status)

	status, _ = f.srvGet(t, "/openapi.json")
	assert.Equal(t, http.StatusOK, status)
}

func (f *apiFixture) srvGet(t *testing.T, path string) (int, []byte) {
	resp, err := f.srv.Client().Get(f.srv.URL + "/api/webhooks" + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestAPIIsTenantScoped walks every route with another tenant's IDs:
// nothing of acme's is seen or changed by globex.
func TestAPIIsTenantScoped(t *testing.T) {
	f := newAPIFixture(t)
	status, body := f.call("acme", "POST", "/endpoints", map[string]any{"url": "https://hooks.example.com/in"})
	require.Equal(t, http.StatusCreated, status)
	id := decodeAs[struct {
		Endpoint endpointOut `json:"endpoint"`
	}](t, body).Endpoint.ID
	_, err := f.d.Send(context.Background(), &webhook.Message{ID: "msg_1", TenantID: "acme", EventType: "invoice.paid", Payload: json.RawMessage(`{}`)})
	require.NoError(t, err)
	dels, err := f.d.Deliveries(context.Background(), "acme", webhook.DeliveryFilter{})
	require.NoError(t, err)
	require.Len(t, dels, 1)
	del := dels[0].ID
	since := map[string]any{"since": time.Now().Add(-time.Hour)}

	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/endpoints/" + id, nil},
		{"PUT", "/endpoints/" + id, map[string]any{"url": "https://evil.example.com/"}},
		{"DELETE", "/endpoints/" + id, nil},
		{"POST", "/endpoints/" + id + "/disable", map[string]any{"reason": "x"}},
		{"POST", "/endpoints/" + id + "/enable", nil},
		{"POST", "/endpoints/" + id + "/rotate-secret", map[string]any{}},
		{"POST", "/endpoints/" + id + "/recover", since},
		{"POST", "/endpoints/" + id + "/replay", since},
		{"POST", "/messages/msg_1/resend", map[string]any{"endpoint_id": id}},
		{"GET", "/deliveries/" + del + "/attempts", nil},
		{"POST", "/deliveries/" + del + "/retry", nil},
	} {
		status, body := f.call("globex", c.method, c.path, c.body)
		assert.Equal(t, http.StatusNotFound, status, "%s %s as globex: %s", c.method, c.path, body)
	}
	for _, path := range []string{"/endpoints", "/messages", "/deliveries", "/deliveries?endpoint_id=" + id, "/deliveries?message_id=msg_1"} {
		status, body := f.call("globex", "GET", path, nil)
		require.Equal(t, http.StatusOK, status, path)
		assert.JSONEq(t, `{"data":[],"next_cursor":null}`, string(body), "%s as globex", path)
	}
	status, body = f.call("acme", "GET", "/endpoints/"+id, nil)
	require.Equal(t, http.StatusOK, status)
	e := decodeAs[endpointOut](t, body)
	assert.Equal(t, "https://hooks.example.com/in", e.URL, "globex changed acme's endpoint")
	assert.Equal(t, int64(1), e.Version)
}

// TestAPIAuthentication: no credential is 401, a credential without the
// scope a route needs is 403, both as problem details.
func TestAPIAuthentication(t *testing.T) {
	f := newAPIFixture(t)
	status, _ := f.call("", "GET", "/endpoints", nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _ = f.callAs("acme", "webhooks:read", "POST", "/endpoints", map[string]any{"url": "https://hooks.example.com/"})
	assert.Equal(t, http.StatusForbidden, status, "a read-only key created an endpoint")
	status, _ = f.callAs("acme", "webhooks:write", "GET", "/endpoints", nil)
	assert.Equal(t, http.StatusForbidden, status, "a write-only key read")
	status, _ = f.callAs("acme", "webhooks:read", "GET", "/endpoints", nil)
	assert.Equal(t, http.StatusOK, status)
}

// TestAPIBadInput: malformed bodies, cursors and parameters are 4xx
// problems that say what is wrong, never a 500.
func TestAPIBadInput(t *testing.T) {
	f := newAPIFixture(t)
	for _, c := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"POST", "/endpoints", "{", 400},
		{"POST", "/endpoints", `{"url":"https://a.example.com","surprise":1}`, 400},
		{"POST", "/endpoints", `{"url":"https://a.example.com"} {}`, 400},
		{"POST", "/endpoints", `{"url":"ftp://a.example.com"}`, 422},
		{"POST", "/endpoints", `{"url":"http://169.254.169.254/"}`, 422},
		{"POST", "/endpoints", `{"url":"https://a.example.com","event_types":["not.in.catalogue"]}`, 422},
		{"POST", "/endpoints", `{"url":"https://a.example.com","auth":{"scheme":"digest"}}`, 422},
		{"POST", "/endpoints", `{"url":"https://a.example.com","metadata":{"a":` + strings.Repeat(" ", 70<<10) + `"b"}}`, 400},
		{"GET", "/endpoints?limit=0", nil, 400},
		{"GET", "/endpoints?cursor=%%%", nil, 400},
		{"GET", "/endpoints?cursor=bm90LWpzb24", nil, 400},
		{"GET", "/messages?since=yesterday", nil, 400},
		{"GET", "/deliveries?state=lost", nil, 400},
		{"GET", "/deliveries?endpoint_id=%00", nil, 422},
		{"GET", "/deliveries/%FF/attempts", nil, 404},
		{"POST", "/endpoints/nope/rotate-secret", `{"overlap_seconds":-1}`, 400},
		{"GET", "/nowhere", nil, 404},
	} {
		status, body := f.call("acme", c.method, c.path, c.body)
		assert.Equal(t, c.status, status, "%s %s: %s", c.method, c.path, body)
		assert.Contains(t, string(body), `"detail"`, "%s %s", c.method, c.path)
	}
}
