package webhookapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
	"github.com/saaskit/saaskit/webhook/webhookapi"
)

// The API is mounted under the application's prefix, behind its
// authentication; here a stand-in that authenticates every request as
// tenant acme.
func Example() {
	uri, _ := fakekms.NewKeyURI()
	aead, _ := fakekms.NewAEAD(uri)
	store := memstore.New()
	d, _ := webhook.NewDispatcher(store, store, func(string) webhook.AEAD { return aead }, webhook.DispatcherOptions{})
	api := webhookapi.New(d, webhookapi.Options{})
	asAcme := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := &tenancy.Principal{Tenant: &tenancy.Tenant{ID: "acme"}}
		api.ServeHTTP(w, r.WithContext(tenancy.WithPrincipal(r.Context(), p)))
	})
	mux := http.NewServeMux()
	mux.Handle("/api/webhooks/", http.StripPrefix("/api/webhooks", asAcme))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("POST", "/api/webhooks/endpoints", strings.NewReader(`{"url":"https://hooks.example.com/in"}`)))
	fmt.Println("create:", rec.Code)
	eps, _ := d.ListEndpoints(context.Background(), "acme")
	fmt.Println("endpoints:", len(eps), eps[0].URL)

	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/api/webhooks/endpoints/ep_of_another", nil))
	body, _ := io.ReadAll(rec.Body)
	fmt.Println("unknown:", rec.Code, rec.Header().Get("Content-Type"), strings.Contains(string(body), `"status":404`))
	// Output:
	// create: 201
	// endpoints: 1 https://hooks.example.com/in
	// unknown: 404 application/problem+json true
}
