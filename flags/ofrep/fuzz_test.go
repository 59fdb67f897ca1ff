package ofrep_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/saaskit/saaskit/flags/ofrep"
)

// FuzzRequestBody sends arbitrary bodies to both endpoints: the answer
// is a success or OFREP's documented error body, never a fault.
func FuzzRequestBody(f *testing.F) {
	for _, seed := range []string{
		`{"context": {"targetingKey": "u1", "lang": "fr"}}`,
		`{"context": {}}`, `{}`, `[]`, ``, `null`, `{"context": null}`, `{"context": "x"}`,
		`{"context": {"targetingKey": 1}}`, `{"context": {"tenantId": "globex", "nested": {"a": [1, {"b": null}]}}}`,
		`{"context": {}} trailing`, `{"context": {"targetingKey": "\ud800"}}`, `{"context": {"x": 1e400}}`,
	} {
		f.Add([]byte(seed))
	}
	h := asTenant(acme, acme, ofrep.NewHandler(newEvaluator(f), ofrep.Options{MaxBody: 4096}))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/ofrep/v1/evaluate/flags/greeting", "/ofrep/v1/evaluate/flags/broken", "/ofrep/v1/evaluate/flags"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("%s: %d, body not JSON: %q", path, rec.Code, rec.Body.String())
			}
			switch rec.Code {
			case http.StatusOK:
				if _, ok := got["flags"]; path == "/ofrep/v1/evaluate/flags" && !ok {
					t.Fatalf("bulk success without flags: %s", rec.Body.String())
				}
			case http.StatusBadRequest:
				code, _ := got["errorCode"].(string)
				if !slices.Contains([]string{"PARSE_ERROR", "INVALID_CONTEXT", "GENERAL", "TARGETING_KEY_MISSING"}, code) {
					t.Fatalf("%s: 400 with errorCode %q", path, code)
				}
			default:
				t.Fatalf("%s: status %d for body %q: %s", path, rec.Code, body, rec.Body.String())
			}
		}
	})
}
