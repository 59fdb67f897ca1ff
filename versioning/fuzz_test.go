package versioning_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
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
