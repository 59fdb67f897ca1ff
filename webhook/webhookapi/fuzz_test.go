package webhookapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/webhookapi"
)

// FuzzAPIBodies sends arbitrary bodies to every route that reads one:
// the answer is never a 500, and an error is always a problem document.
func FuzzAPIBodies(f *testing.F) {
	for _, seed := range []string{
		`{"url":"https://a.example.com","event_types":["a.*"],"channels":["eu"],"rate_limit":5,"headers":{"X-A":"b"}}`,
		`{"url":"https://a.example.com","auth":{"scheme":"basic","username":"u","password":"p"}}`,
		`{"url":"https://a.example.com","auth":{"client_certificate":"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----","client_key":"x"}}`,
		`{"reason":"x"}`, `{"overlap_seconds":9007199254740993}`, `{"since":"2026-01-01T00:00:00Z","only_missing":true}`,
		`{"endpoint_id":"ep_1"}`, `null`, `[]`, `{"url":null}`, "\xff",
	} {
		f.Add(seed)
	}
	d, _ := newDispatcher(f, webhook.DispatcherOptions{})
	api := webhookapi.New(d, webhookapi.Options{})
	principal := &tenancy.Principal{Tenant: &tenancy.Tenant{ID: "acme"}}
	routes := []string{"POST /endpoints", "PUT /endpoints/ep_1", "POST /endpoints/ep_1/disable", "POST /endpoints/ep_1/rotate-secret",
		"POST /endpoints/ep_1/recover", "POST /endpoints/ep_1/replay", "POST /messages/msg_1/resend"}
	f.Fuzz(func(t *testing.T, body string) {
		for _, route := range routes {
			method, path, _ := strings.Cut(route, " ")
			req := httptest.NewRequest(method, path, strings.NewReader(body))
			req = req.WithContext(tenancy.WithPrincipal(req.Context(), principal))
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, req)
			if rec.Code >= 500 && rec.Code != http.StatusNotImplemented {
				t.Fatalf("%s %q: %d %s", route, body, rec.Code, rec.Body)
			}
			if rec.Code >= 400 {
				var p struct {
					Detail string `json:"detail"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Detail == "" {
					t.Fatalf("%s %q: %d without a problem detail: %s", route, body, rec.Code, rec.Body)
				}
			}
		}
	})
}
