package versioning_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/versioning"
)

// echo answers with what the head handler received: method, path, its
// wildcards, query, a header and the body.
func echo() http.Handler {
	mux := http.NewServeMux()
	handle := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "req_1")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"path": r.URL.Path, "id": r.PathValue("id"), "query": r.URL.RawQuery,
			"idempotency": r.Header.Get("Idempotency-Key"), "body": string(body), "type": r.Header.Get("Content-Type"),
		})
	}
	mux.HandleFunc("POST /clients/{id}/charges", handle)
	mux.HandleFunc("GET /clients/{id}", handle)
	mux.HandleFunc("DELETE /clients/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	return mux
}

// headerAPI's v2 renamed /customers to /clients, the Idempotency-Key
// header (was Request-Id) and the page query parameter (was p), moved
// the response's request ID header, answers 202 where v1 answered 200,
// and 204 to a delete where v1 answered 200 with {"deleted": true}.
func headerAPI(t *testing.T) *versioning.API {
	t.Helper()
	api, err := versioning.New(versioning.Options{
		Versions: []string{"v1", "v2"},
		Changes: []versioning.Change{{Version: "v2",
			RenamedRoutes: map[string]string{"POST /customers/{id}/charges": "POST /clients/{id}/charges", "GET /customers/{id}": "GET /clients/{id}", "DELETE /customers/{id}": "DELETE /clients/{id}"},
			Requests: []versioning.Migration{{Apply: func(b *versioning.Body) error {
				if v := b.Header.Get("Request-Id"); v != "" {
					b.Header.Del("Request-Id")
					b.Header.Set("Idempotency-Key", v)
				}
				if p, ok := b.Query["p"]; ok {
					delete(b.Query, "p")
					b.Query["page"] = p
				}
				return nil
			}}, {Routes: []string{"POST /clients/{id}/charges"}, Apply: versioning.RenameField("amt", "amount")}},
			Responses: []versioning.Migration{{Apply: func(b *versioning.Body) error {
				if id := b.Header.Get("X-Request-Id"); id != "" {
					b.Header.Del("X-Request-Id")
					b.Header.Set("Request-Id", id)
				}
				switch b.Status {
				case http.StatusAccepted:
					b.Status = http.StatusOK
				case http.StatusNoContent:
					b.Status, b.Value = http.StatusOK, map[string]any{"deleted": true}
					b.Header.Set("Content-Type", "application/json")
				}
				return nil
			}}},
		}},
		Operations: []versioning.Operation{
			{Route: "GET /clients/{id}", Responses: map[int]versioning.Schema{202: {"type": "object"}}},
		},
	})
	require.NoError(t, err)
	return api
}

func send(t *testing.T, h http.Handler, method, target, version, contentType, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("API-Version", version)
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func received(t *testing.T, rec *httptest.ResponseRecorder) map[string]string {
	t.Helper()
	var got map[string]string
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got), rec.Body.String())
	return got
}

func TestHeadersQueryAndStatusMigrate(t *testing.T) {
	api := headerAPI(t)
	h := api.Middleware(echo())

	rec := send(t, h, "GET", "/customers/c%2F1?p=2&x=y", "v1", "", "", "Request-Id", "key-1")
	require.Equal(t, http.StatusOK, rec.Code, "v1 got 200 where the head answers 202: %s", rec.Body)
	got := received(t, rec)
	assert.Equal(t, "/clients/c/1", got["path"], "the renamed route")
	assert.Equal(t, "c/1", got["id"], "an escaped slash stays in its wildcard")
	assert.Equal(t, "page=2&x=y", got["query"])
	assert.Equal(t, "key-1", got["idempotency"])
	assert.Equal(t, "req_1", rec.Header().Get("Request-Id"))
	assert.Empty(t, rec.Header().Get("X-Request-Id"))

	rec = send(t, h, "GET", "/clients/c1?p=2", "v2", "", "", "Request-Id", "key-1")
	assert.Equal(t, http.StatusAccepted, rec.Code)
	got = received(t, rec)
	assert.Equal(t, "p=2", got["query"], "the head's callers are not migrated")
	assert.Empty(t, got["idempotency"])
	assert.Equal(t, http.StatusNotFound, send(t, h, "GET", "/customers/c1", "v2", "", "").Code, "the old path is gone at v2")

	rec = send(t, h, "DELETE", "/customers/c1", "v1", "", "")
	assert.Equal(t, http.StatusOK, rec.Code, "a response without a body migrates too")
	assert.JSONEq(t, `{"deleted": true}`, rec.Body.String())
	assert.Equal(t, http.StatusNoContent, send(t, h, "DELETE", "/clients/c1", "v2", "", "").Code)
}

func TestFormBodiesMigrate(t *testing.T) {
	h := headerAPI(t).Middleware(echo())
	rec := send(t, h, "POST", "/customers/c1/charges", "v1", "application/x-www-form-urlencoded", "amt=500&currency=eur&tag=a&tag=b")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	got := received(t, rec)
	form, err := url.ParseQuery(got["body"])
	require.NoError(t, err)
	assert.Equal(t, url.Values{"amount": {"500"}, "currency": {"eur"}, "tag": {"a", "b"}}, form, "renamed, repeated keys kept")
	assert.Equal(t, "application/x-www-form-urlencoded", got["type"])

	rec = send(t, h, "POST", "/customers/c1/charges", "v1", "application/json", `{"amt": 500}`)
	assert.JSONEq(t, `{"amount": 500}`, received(t, rec)["body"], "JSON still migrates as JSON")
	rec = send(t, h, "POST", "/customers/c1/charges", "v1", "application/x-www-form-urlencoded", "%zz")
	assert.Equal(t, "%zz", received(t, rec)["body"], "a body that is no form goes to the handler as sent")
}

func TestRenamedRoutesInDocuments(t *testing.T) {
	api := headerAPI(t)
	v1, _ := api.OpenAPI("v1")
	v2, _ := api.OpenAPI("v2")
	assert.Contains(t, string(v1), `"/customers/{id}"`)
	assert.NotContains(t, string(v1), `"/clients/{id}"`)
	assert.Contains(t, string(v2), `"/clients/{id}"`)

	for name, renames := range map[string]map[string]string{
		"another method":   {"GET /a/{id}": "POST /b/{id}"},
		"other wildcards":  {"GET /a/{id}": "GET /b/{key}"},
		"no method":        {"/a": "/b"},
		"wildcard in path": {"GET /a/{rest...}/x": "GET /b/{rest...}/x"},
	} {
		_, err := versioning.New(versioning.Options{Versions: []string{"v1", "v2"}, Changes: []versioning.Change{{Version: "v2", RenamedRoutes: renames}}})
		assert.ErrorIs(t, err, versioning.ErrInvalid, name)
	}
}

func TestPayloadSchemasPerVersion(t *testing.T) {
	event := versioning.Schema{"type": "object", "properties": map[string]any{
		"type": map[string]any{"type": "string"},
		"data": map[string]any{"type": "object", "properties": map[string]any{"id": map[string]any{"type": "string"}, "full_name": map[string]any{"type": "string"}}, "required": []any{"id", "full_name"}},
	}}
	api, err := versioning.New(versioning.Options{
		Versions: []string{"v1", "v2"},
		Changes: []versioning.Change{{Version: "v2", Responses: []versioning.Migration{{Types: []string{"user"},
			Apply: versioning.RenameField("full_name", "name"), Effects: []versioning.SchemaEffect{versioning.FieldRenamed("name", "full_name")}}}}},
		Payloads: map[string]versioning.Schema{"user": event},
	})
	require.NoError(t, err)
	data := func(v string) map[string]any {
		return api.PayloadSchema(v, "user")["properties"].(map[string]any)["data"].(map[string]any)["properties"].(map[string]any)
	}
	assert.Contains(t, data("v1"), "name")
	assert.NotContains(t, data("v1"), "full_name")
	assert.Contains(t, data("v2"), "full_name")
	assert.Nil(t, api.PayloadSchema("v3", "user"))
	rendered, err := api.RenderPayload("v1", "user", []byte(`{"type":"user.created","data":{"id":"u1","full_name":"Ada"}}`))
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"user.created","data":{"id":"u1","name":"Ada"}}`, string(rendered), "the payload as v1 gets it matches v1's schema")
}
