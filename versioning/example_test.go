package versioning_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/saaskit/saaskit/versioning"
)

// A users API whose 2024-06-01 version renamed "name" to "full_name":
// the handler knows only full_name; a 2024-01-01 caller still sends and
// receives name.
func Example() {
	api, err := versioning.New(versioning.Options{
		Versions: []string{"2024-01-01", "2024-06-01"},
		Changes: []versioning.Change{{
			Version:     "2024-06-01",
			Description: "`name` is now `full_name`.",
			Requests:    []versioning.Migration{{Routes: []string{"POST /users"}, Apply: versioning.RenameField("name", "full_name")}},
			Responses:   []versioning.Migration{{Types: []string{"user"}, Apply: versioning.RenameField("full_name", "name")}},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /users", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		versioning.SetType(r.Context(), "user")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body) // echoes the user it was given, at the head
	})
	h := api.Middleware(mux)
	for _, tc := range []struct{ version, body string }{
		{"2024-06-01", `{"full_name":"Ada Lovelace"}`},
		{"2024-01-01", `{"name":"Ada Lovelace"}`},
	} {
		r := httptest.NewRequest("POST", "/users", strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("API-Version", tc.version)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fmt.Println(rec.Header().Get("API-Version"), rec.Body.String())
	}
	fmt.Print(api.Changelog())
	// Output:
	// 2024-06-01 {"full_name":"Ada Lovelace"}
	// 2024-01-01 {"name":"Ada Lovelace"}
	// # API changelog
	//
	// ## 2024-06-01 (current)
	//
	// `name` is now `full_name`.
	//
	// ## 2024-01-01
	//
	// The first version.
}
