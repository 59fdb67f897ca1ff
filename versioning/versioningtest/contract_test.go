package versioningtest_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/saaskit/saaskit/versioning"
	"github.com/saaskit/saaskit/versioning/versioningtest"
)

type user struct {
	ID       string `json:"id"`
	FullName string `json:"full_name"`
}

type newUser struct {
	FullName string `json:"full_name"`
}

func api(t *testing.T, responseApply func(*versioning.Body) error) *versioning.API {
	t.Helper()
	a, err := versioning.New(versioning.Options{
		Versions: []string{"2024-01-01", "2024-06-01"},
		Changes: []versioning.Change{{Version: "2024-06-01",
			Requests: []versioning.Migration{{Routes: []string{"POST /users"}, Apply: versioning.RenameField("name", "full_name"),
				Effects: []versioning.SchemaEffect{versioning.FieldRenamed("name", "full_name")}}},
			Responses: []versioning.Migration{{Types: []string{"user"}, Apply: responseApply,
				Effects: []versioning.SchemaEffect{versioning.FieldRenamed("name", "full_name")}}},
		}},
		Operations: []versioning.Operation{
			{Route: "POST /users", Type: "user", Request: versioning.SchemaFor(newUser{}), Responses: map[int]versioning.Schema{201: versioning.SchemaFor(user{})}},
			{Route: "GET /users/{id}", Type: "user", Responses: map[int]versioning.Schema{200: versioning.SchemaFor(user{})}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// app is the head version's handlers behind the API's middleware.
func app(a *versioning.API, fullName string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /users", func(w http.ResponseWriter, r *http.Request) {
		var in newUser
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.FullName == "" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"title":"bad request","status":400}`))
			return
		}
		versioning.SetType(r.Context(), "user")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_ = json.NewEncoder(w).Encode(user{ID: "u1", FullName: in.FullName})
	})
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		versioning.SetType(r.Context(), "user")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": r.PathValue("id"), fullName: "Ada"})
	})
	return a.Middleware(mux)
}

func TestContractHoldsEveryVersionToItsDocument(t *testing.T) {
	a := api(t, versioning.RenameField("full_name", "name"))
	versioningtest.CheckChanges(t, a)
	versioningtest.RunContract(t, a, app(a, "full_name"), "", []versioningtest.Case{
		{Method: "GET", Path: "/users/u1"},
		{Method: "POST", Path: "/users", Body: `{"name": "Ada"}`, BodyFrom: map[string]string{"2024-06-01": `{"full_name": "Ada"}`}},
	})
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed []string
}

func (r *recorder) Errorf(format string, args ...any) { r.failed = append(r.failed, format) }
func (r *recorder) Fatalf(format string, args ...any) { r.TB.Fatalf(format, args...) }
func (r *recorder) Helper()                           {}

func TestCheckChangesNamesAMigrationThatBreaksItsEffects(t *testing.T) {
	wrong := api(t, versioning.RenameField("full_name", "fullname")) // not what FieldRenamed("name", "full_name") declares
	rec := &recorder{TB: t}
	versioningtest.CheckChanges(rec, wrong)
	if len(rec.failed) == 0 {
		t.Fatal("a response migration that renames to the wrong field passed")
	}
}

func TestContractCatchesAResponseOffItsDocument(t *testing.T) {
	a := api(t, versioning.RenameField("full_name", "name"))
	rec := &recorder{TB: t}
	versioningtest.RunContract(rec, a, app(a, "fullName"), "", []versioningtest.Case{{Method: "GET", Path: "/users/u1"}})
	if len(rec.failed) != 2 {
		t.Fatalf("a response with an undocumented field failed %d times, not once per version: %v", len(rec.failed), rec.failed)
	}
}
