package versioning_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/saaskit/saaskit/versioning"
)

// FuzzParseVersion: no input panics; what parses prints back as given
// and equals itself.
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"2024-01-15", "2024-09-30.acacia", "v1", "v99", "", "v0", "2024-13-01", "2024-01-15.", "vv1", "v1.2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := versioning.ParseVersion(s)
		if err != nil {
			if !errors.Is(err, versioning.ErrInvalidVersion) {
				t.Fatalf("error %v does not wrap ErrInvalidVersion", err)
			}
			return
		}
		if v.String() != s || v.Compare(v) != 0 {
			t.Fatalf("%q parsed as %q", s, v)
		}
	})
}

// FuzzResolve feeds arbitrary version headers, paths and Accept headers
// to the resolver: it never panics, and either resolves to one of the
// API's versions or says why not with a ResolveError.
func FuzzResolve(f *testing.F) {
	api, err := versioning.New(versioning.Options{Versions: []string{"v1", "v2", "v3"}, PathPrefix: true, MediaType: "application/vnd.demo+json"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("", "/v2/users", "")
	f.Add("v3", "/users", "")
	f.Add("", "/users", "application/vnd.demo+json; version=v1")
	f.Add("", "/v/x", `application/vnd.demo+json; version="v2"; q=0.1, */*`)
	f.Add("2024-01-01", "/v9", ";;;")
	f.Fuzz(func(t *testing.T, header, path, accept string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL = &url.URL{Path: path}
		if header != "" {
			r.Header = http.Header{"Api-Version": {header}}
		}
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		v, _, err := api.Resolve(r)
		if err != nil {
			var re *versioning.ResolveError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a ResolveError", err)
			}
			return
		}
		if !slices.Contains(api.Versions(), v.String()) {
			t.Fatalf("resolved to %q, not one of the versions", v)
		}
	})
}

// FuzzFormBodies sends arbitrary form-encoded (or JSON) bodies, queries
// and headers to an older version through migrations of each: the
// middleware never panics or answers 500; the handler gets a body that
// is the sent one or a valid form (or JSON) with the field renamed.
func FuzzFormBodies(f *testing.F) {
	api, err := versioning.New(versioning.Options{Versions: []string{"v1", "v2"}, Changes: []versioning.Change{{Version: "v2",
		Requests: []versioning.Migration{{Apply: func(b *versioning.Body) error {
			if p, ok := b.Query["p"]; ok {
				delete(b.Query, "p")
				b.Query["page"] = p
			}
			return versioning.RenameField("amt", "amount")(b)
		}}},
	}}})
	if err != nil {
		f.Fatal(err)
	}
	var got []byte
	h := api.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	for _, seed := range [][3]string{
		{"application/x-www-form-urlencoded", "amt=5&x=1&x=2", "p=1"},
		{"application/x-www-form-urlencoded", "%zz&amt", "p=%zz"},
		{"application/x-www-form-urlencoded; charset=utf-8", "a=%00&amt=%ff", ""},
		{"application/json", `{"amt": 1e400}`, "p=1&p=2"},
		{"", "amt=1", ";;"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, contentType, body, query string) {
		r := httptest.NewRequest("POST", "/charges", strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("API-Version", "v1")
		if contentType != "" {
			r.Header["Content-Type"] = []string{contentType}
		}
		got = nil
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("%d for %q %q: %s", rec.Code, contentType, body, rec.Body)
		}
		if rec.Code != http.StatusOK || got == nil || string(got) == body {
			return
		}
		if _, err := url.ParseQuery(string(got)); err != nil && !json.Valid(got) {
			t.Fatalf("the handler got %q for %q, neither the body sent nor a form nor JSON", got, body)
		}
	})
}
