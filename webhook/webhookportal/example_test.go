package webhookportal_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
	"github.com/saaskit/saaskit/webhook/webhookportal"
)

// The portal is mounted under the application's routes, behind its
// authentication: here a stand-in that authenticates every request as
// a principal of tenant acme.
func Example() {
	uri, _ := fakekms.NewKeyURI()
	aead, _ := fakekms.NewAEAD(uri)
	store := memstore.New()
	d, _ := webhook.NewDispatcher(store, store, func(string) webhook.AEAD { return aead }, webhook.DispatcherOptions{})
	portal, _ := webhookportal.New(d, webhookportal.Options{BaseURL: "/portal/webhooks/"})
	asAcme := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := &tenancy.Principal{Tenant: &tenancy.Tenant{ID: "acme", Branding: tenancy.Branding{Name: "Acme Cloud"}}}
		portal.ServeHTTP(w, r.WithContext(tenancy.WithPrincipal(r.Context(), p)))
	})
	mux := http.NewServeMux()
	mux.Handle(portal.Path(), asAcme)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/portal/webhooks/", nil))
	fmt.Println(rec.Code, strings.Contains(rec.Body.String(), "Acme Cloud"))
	fmt.Println(rec.Header().Get("X-Frame-Options"), strings.HasPrefix(rec.Header().Get("Content-Security-Policy"), "default-src 'none'"))

	// A form posted without the session's CSRF token changes nothing.
	form := url.Values{"url": {"https://hooks.example.com/in"}}
	req := httptest.NewRequest("POST", "/portal/webhooks/endpoints", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output:
	// 200 true
	// DENY true
	// 403
}

// An application that keeps its credentials from its customers'
// browsers gives them a link: signed, bound to the tenant, short-lived.
// Opening it starts a portal session.
func ExampleHandler_Link() {
	uri, _ := fakekms.NewKeyURI()
	aead, _ := fakekms.NewAEAD(uri)
	store := memstore.New()
	d, _ := webhook.NewDispatcher(store, store, func(string) webhook.AEAD { return aead }, webhook.DispatcherOptions{})
	portal, _ := webhookportal.New(d, webhookportal.Options{
		BaseURL: "https://app.example/portal/webhooks/",
		Key:     []byte("a key of 32 bytes or more, kept secret"),
	})
	link, _ := portal.Link("acme", 10*time.Minute)
	page, token, _ := strings.Cut(link, "#token=")
	fmt.Println(page)

	// What the link page's script posts.
	token, _ = url.QueryUnescape(token)
	req := httptest.NewRequest("POST", "https://app.example/portal/webhooks/link", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	portal.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Location"), rec.Result().Cookies()[0].Name)
	// Output:
	// https://app.example/portal/webhooks/link
	// 303 /portal/webhooks/ webhookportal_session
}
