package versioning_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/versioning"
	"github.com/saaskit/saaskit/versioning/versioningtest"
)

// userHead is a user as the head version shows it.
type userHead struct {
	ID       string `json:"id"`
	FullName string `json:"full_name"`
	Email    string `json:"email"`
	Plan     string `json:"plan"`
}

type newUserHead struct {
	FullName string `json:"full_name"`
	Email    string `json:"email"`
}

type userList struct {
	Data []userHead `json:"data"`
}

// documentedAPI has four versions: full_name was name before
// 2024-06-01, plan arrived on 2025-01-01 with the keys route, and
// nickname left on 2025-06-01.
func documentedAPI(t *testing.T, extra ...versioning.Change) *versioning.API {
	t.Helper()
	changes := append([]versioning.Change{
		{Version: "2024-06-01", Description: "`name` is now `full_name`.",
			Requests: []versioning.Migration{{Routes: []string{"POST /users"}, Apply: versioning.RenameField("name", "full_name"),
				Effects: []versioning.SchemaEffect{versioning.FieldRenamed("name", "full_name")}}},
			Responses: []versioning.Migration{{Types: []string{"user"}, Apply: versioning.RenameField("full_name", "name"),
				Effects: []versioning.SchemaEffect{versioning.FieldRenamed("name", "full_name")}}}},
		{Version: "2025-01-01", Description: "Users have a plan; keys can be listed.", AddedRoutes: []string{"GET /users/{id}/keys"},
			Responses: []versioning.Migration{{Types: []string{"user"}, Apply: versioning.RemoveField("plan"),
				Effects: []versioning.SchemaEffect{versioning.FieldAdded("plan")}}}},
		{Version: "2025-06-01", Description: "`nickname` is gone.",
			Responses: []versioning.Migration{{Types: []string{"user"}, Apply: func(b *versioning.Body) error {
				b.Objects(func(o map[string]any) { o["nickname"] = "" })
				return nil
			}, Effects: []versioning.SchemaEffect{versioning.FieldRemoved("nickname", versioning.Schema{"type": "string"})}}}},
	}, extra...)
	api, err := versioning.New(versioning.Options{
		Versions: []string{"2024-01-01", "2024-06-01", "2025-01-01", "2025-06-01"},
		Changes:  changes, Title: "Users", DocumentPath: "/openapi/",
		Operations: []versioning.Operation{
			{Route: "POST /users", Summary: "Create a user", Type: "user", Request: versioning.SchemaFor(newUserHead{}),
				Responses: map[int]versioning.Schema{201: versioning.SchemaFor(userHead{})}},
			{Route: "GET /users/{id}", Type: "user", Responses: map[int]versioning.Schema{200: versioning.SchemaFor(userHead{})}},
			{Route: "GET /users", Type: "user", Responses: map[int]versioning.Schema{200: versioning.SchemaFor(userList{})}},
			{Route: "GET /users/{id}/keys", Responses: map[int]versioning.Schema{200: {"type": "array", "items": map[string]any{"type": "string"}}}},
			{Route: "DELETE /users/{id}", Responses: map[int]versioning.Schema{204: nil}},
		},
	})
	require.NoError(t, err)
	return api
}

func properties(t *testing.T, s versioning.Schema) []string {
	t.Helper()
	require.NotNil(t, s)
	props, ok := s["properties"].(map[string]any)
	require.True(t, ok, "schema %v has no properties", s)
	var out []string
	for k := range props {
		out = append(out, k)
	}
	return out
}

func TestSchemasAreDerivedDownFromTheHead(t *testing.T) {
	api := documentedAPI(t)
	want := map[string][]string{
		"2025-06-01": {"id", "full_name", "email", "plan"},
		"2025-01-01": {"id", "full_name", "email", "plan", "nickname"},
		"2024-06-01": {"id", "full_name", "email", "nickname"},
		"2024-01-01": {"id", "name", "email", "nickname"},
	}
	for v, fields := range want {
		assert.ElementsMatch(t, fields, properties(t, api.ResponseSchema(v, "GET /users/{id}", 200)), "user at %s", v)
	}
	list := api.ResponseSchema("2024-01-01", "GET /users", 200)
	items := list["properties"].(map[string]any)["data"].(map[string]any)["items"].(map[string]any)
	assert.ElementsMatch(t, want["2024-01-01"], properties(t, items), "a page's items follow the user's changes")
	assert.ElementsMatch(t, []string{"name", "email"}, properties(t, api.RequestSchema("2024-01-01", "POST /users")))
	assert.Contains(t, api.ResponseSchema("2024-01-01", "GET /users/{id}", 200)["required"], "name", "a renamed required field stays required")
	assert.ElementsMatch(t, want["2025-06-01"], properties(t, api.ResponseSchema("2025-06-01", "GET /users/{id}", 200)), "the head is unchanged")
}

func TestEveryVersionHasAValidOpenAPIDocument(t *testing.T) {
	api := documentedAPI(t)
	for _, v := range api.Versions() {
		data, ok := api.OpenAPI(v)
		require.True(t, ok, v)
		doc, err := openapi3.NewLoader().LoadFromData(data)
		require.NoError(t, err, v)
		require.NoError(t, doc.Validate(context.Background()), "the document of %s", v)
		assert.Equal(t, v, doc.Info.Version)
		keys := doc.Paths.Find("/users/{id}/keys")
		if v < "2025-01-01" {
			assert.Nil(t, keys, "%s: the keys route came later", v)
		} else {
			require.NotNil(t, keys, v)
			assert.NotNil(t, keys.Get)
		}
		get := doc.Paths.Find("/users/{id}").Get
		require.NotNil(t, get, v)
		assert.NotNil(t, get.Responses.Default(), "errors are problems")
		assert.NotNil(t, get.Parameters.GetByInAndName("path", "id"), "the path parameter is declared")
	}
}

func TestOpenAPIHandlerServesEachDocument(t *testing.T) {
	api := documentedAPI(t)
	srv := httptest.NewServer(http.StripPrefix("/openapi", api.OpenAPIHandler()))
	defer srv.Close()
	get := func(path string) (*http.Response, []byte) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, body
	}
	resp, body := get("/openapi/2024-06-01.json")
	require.Equal(t, 200, resp.StatusCode)
	want, _ := api.OpenAPI("2024-06-01")
	assert.Equal(t, want, body)
	resp, body = get("/openapi/")
	require.Equal(t, 200, resp.StatusCode)
	var index struct{ Head string }
	require.NoError(t, json.Unmarshal(body, &index))
	assert.Equal(t, "2025-06-01", index.Head)
	for _, bad := range []string{"/openapi/2023-01-01.json", "/openapi/2024-06-01", "/openapi/..%2f.json"} {
		resp, body = get(bad)
		assert.Equal(t, 404, resp.StatusCode, "%s: %s", bad, body)
		assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	}
}

func TestASchemaEffectOnAMissingFieldIsRefusedAtRegistration(t *testing.T) {
	for name, c := range map[string]versioning.Change{
		"renamed field absent": {Version: "2025-06-01", Responses: []versioning.Migration{{Types: []string{"user"},
			Apply: versioning.RenameField("x", "y"), Effects: []versioning.SchemaEffect{versioning.FieldRenamed("surname", "last_name")}}}},
		"removed field present": {Version: "2025-06-01", Requests: []versioning.Migration{{Routes: []string{"POST /users"},
			Apply: versioning.RemoveField("email"), Effects: []versioning.SchemaEffect{versioning.FieldRemoved("email", versioning.Schema{"type": "string"})}}}},
	} {
		_, err := versioning.New(versioning.Options{
			Versions:   []string{"2025-01-01", "2025-06-01"},
			Changes:    []versioning.Change{c},
			Operations: []versioning.Operation{{Route: "POST /users", Type: "user", Request: versioning.SchemaFor(newUserHead{}), Responses: map[int]versioning.Schema{201: versioning.SchemaFor(userHead{})}}},
		})
		assert.ErrorIs(t, err, versioning.ErrInvalid, name)
		assert.ErrorContains(t, err, "change of version 2025-06-01", name)
	}
	_, err := versioning.New(versioning.Options{Versions: []string{"v1"}, Operations: []versioning.Operation{{Route: "/users"}}})
	assert.ErrorContains(t, err, "with a method", "a route without a method cannot be documented")
}

func TestMigrationGuideSaysWhatChanged(t *testing.T) {
	guide := documentedAPI(t).MigrationGuide()
	for _, want := range []string{
		"## From 2024-01-01 to 2024-06-01", "- In requests to `POST /users`: `name` is renamed `full_name`.",
		"- In responses of `user`: `plan` is added.", "- `GET /users/{id}/keys` is new.",
		"- In responses of `user`: `nickname` is removed.", "- Reference: [2025-06-01](/openapi/2025-06-01.json).",
	} {
		assert.Contains(t, guide, want)
	}
	assert.Contains(t, documentedAPI(t).Changelog(), "[OpenAPI document](/openapi/2024-01-01.json)")
}

// TestARemovedRouteKeepsItsLastSchema: a route removed by a change is
// documented, in the versions before it, from the schema it had last;
// the removing change and later ones do not touch it.
func TestARemovedRouteKeepsItsLastSchema(t *testing.T) {
	api, err := versioning.New(versioning.Options{
		Versions: []string{"v1", "v2", "v3"},
		Changes: []versioning.Change{
			{Version: "v2", Responses: []versioning.Migration{{Apply: versioning.RenameField("full_name", "name"), Effects: []versioning.SchemaEffect{versioning.FieldRenamed("name", "full_name")}}}},
			{Version: "v3", RemovedRoutes: []string{"GET /old"}, Responses: []versioning.Migration{{Apply: versioning.RemoveField("plan"), Effects: []versioning.SchemaEffect{versioning.FieldAdded("plan")}}}},
		},
		Operations: []versioning.Operation{
			{Route: "GET /users/{id}", Responses: map[int]versioning.Schema{200: versioning.SchemaFor(userHead{})}},
			{Route: "GET /old", Responses: map[int]versioning.Schema{200: versioning.SchemaFor(struct {
				ID       string `json:"id"`
				FullName string `json:"full_name"`
			}{})}},
		},
	})
	require.NoError(t, err, "v3's FieldAdded(plan) does not reach GET /old, which v3 removed")
	assert.ElementsMatch(t, []string{"id", "full_name"}, properties(t, api.ResponseSchema("v2", "GET /old", 200)))
	assert.ElementsMatch(t, []string{"id", "name"}, properties(t, api.ResponseSchema("v1", "GET /old", 200)))
	assert.False(t, api.Exists("v3", "GET /old"))
	doc, _ := api.OpenAPI("v3")
	assert.NotContains(t, string(doc), `"/old"`)
}

// TestATypeChangeIsDerivedAndChecked: amount was a string before v2;
// the v1 document says so, and CheckChanges holds the migration to it.
func TestATypeChangeIsDerivedAndChecked(t *testing.T) {
	type charge struct {
		Amount int64 `json:"amount"`
	}
	api, err := versioning.New(versioning.Options{
		Versions: []string{"v1", "v2"},
		Changes: []versioning.Change{{Version: "v2", Responses: []versioning.Migration{{
			Apply: func(b *versioning.Body) error {
				b.Objects(func(o map[string]any) { o["amount"] = fmt.Sprint(o["amount"]) })
				return nil
			},
			Effects: []versioning.SchemaEffect{versioning.FieldTypeChanged("amount", versioning.Schema{"type": "string"})},
		}}}},
		Operations: []versioning.Operation{{Route: "GET /charges/{id}", Responses: map[int]versioning.Schema{200: versioning.SchemaFor(charge{})}}},
	})
	require.NoError(t, err)
	amount := func(v string) any {
		return api.ResponseSchema(v, "GET /charges/{id}", 200)["properties"].(map[string]any)["amount"].(map[string]any)["type"]
	}
	assert.Equal(t, "string", amount("v1"))
	assert.Equal(t, "integer", amount("v2"))
	assert.Contains(t, api.MigrationGuide(), "`amount` changes type")
	versioningtest.CheckChanges(t, api)
}
