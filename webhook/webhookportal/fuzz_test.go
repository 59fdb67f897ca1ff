package webhookportal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/webhookportal"
)

// FuzzForms sends arbitrary form bodies, with the session's CSRF token,
// to every route that reads a form, and arbitrary queries to every
// page: the answer is never a 500, and an error always says why.
func FuzzForms(f *testing.F) {
	for _, seed := range []string{
		"url=https%3A%2F%2Fhooks.example.com&event_types=invoice.paid&more_event_types=invoice.*&channels=eu&rate_limit=2&headers=X-A%3A+b",
		"url=%00&rate_limit=NaN&headers=%3A", "signature=v1a&url=https://a.example", "overlap_hours=99999999999999999999",
		"since=2026-01-01T00:00&until=2025-01-01T00:00&only_missing=on", "endpoint_id=%ff", "reason=" + strings.Repeat("r", 300),
		"confirm=yes", "cursor=e30&limit=1", "period=7d&state=dead", "event_type=%00", "%", "a=%zz", "csrf=x",
	} {
		f.Add(seed)
	}
	d := newDispatcher(f)
	portal, err := webhookportal.New(d, webhookportal.Options{BaseURL: base, Key: testKey})
	require.NoError(f, err)
	principal := &tenancy.Principal{Tenant: &tenancy.Tenant{ID: "acme"}}
	serve := func(method, target, query, body string, cookie *http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.URL.RawQuery = query
		req = req.WithContext(tenancy.WithPrincipal(req.Context(), principal))
		if method == "POST" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if cookie != nil {
			req.AddCookie(cookie)
		}
		rec := httptest.NewRecorder()
		portal.ServeHTTP(rec, req)
		return rec
	}
	form := serve("GET", base+"endpoints/new", "", "", nil)
	cookies := form.Result().Cookies()
	require.Len(f, cookies, 1)
	csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(form.Body.String())
	require.NotNil(f, csrf)
	e, _, err := d.CreateEndpoint(context.Background(), "acme", webhook.EndpointSpec{URL: "https://hooks.example.com/in"})
	require.NoError(f, err)
	msg := &webhook.Message{TenantID: "acme", EventType: "invoice.paid", Payload: json.RawMessage(`{}`)}
	_, err = d.Send(context.Background(), msg)
	require.NoError(f, err)
	ds, err := d.Deliveries(context.Background(), "acme", webhook.DeliveryFilter{})
	require.NoError(f, err)
	ids := strings.NewReplacer("{endpoint}", e.ID, "{message}", msg.ID, "{delivery}", ds[0].ID)
	flash := regexp.MustCompile(`id="flash"[^>]*>[^<]+</p>`)

	f.Fuzz(func(t *testing.T, input string) {
		for _, route := range routes {
			method, path, _ := strings.Cut(route, " ")
			target := base + strings.TrimPrefix(ids.Replace(path), "/")
			query, body := input, ""
			if method == "POST" {
				query, body = "", input+"&csrf="+csrf[1]
			}
			rec := serve(method, target, query, body, cookies[0])
			if rec.Code >= 500 && rec.Code != http.StatusNotImplemented {
				t.Fatalf("%s %q: %d %s", route, input, rec.Code, rec.Body)
			}
			if rec.Code >= 400 && !flash.MatchString(rec.Body.String()) {
				t.Fatalf("%s %q: %d without a message: %s", route, input, rec.Code, rec.Body)
			}
		}
	})
}
