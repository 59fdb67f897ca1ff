package versioning_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/versioning"
	"github.com/saaskit/saaskit/versioning/memstore"
)

func TestParseVersion(t *testing.T) {
	for _, s := range []string{"2024-01-15", "2024-09-30.acacia", "2024-02-29", "v1", "v12"} {
		v, err := versioning.ParseVersion(s)
		require.NoError(t, err, s)
		assert.Equal(t, s, v.String())
	}
	for _, s := range []string{"", "2024-1-15", "2023-02-29", "2024-01-15.", "2024-01-15.Acacia", "2024-01-15.a-b",
		"v0", "v01", "v", "v-1", "v+1", "V1", "1", "latest", strings.Repeat("v1", 40), "2024-01-15x"} {
		_, err := versioning.ParseVersion(s)
		assert.ErrorIs(t, err, versioning.ErrInvalidVersion, "%q", s)
	}
	a, _ := versioning.ParseVersion("2024-09-30")
	b, _ := versioning.ParseVersion("2024-09-30.acacia")
	c, _ := versioning.ParseVersion("2025-01-01")
	assert.Zero(t, a.Compare(b), "a name does not change a date version")
	assert.Negative(t, a.Compare(c))
	v2, _ := versioning.ParseVersion("v2")
	v10, _ := versioning.ParseVersion("v10")
	assert.Negative(t, v2.Compare(v10), "majors compare as numbers")
}

func TestNewRefusesInconsistentDefinitions(t *testing.T) {
	apply := func(*versioning.Body) error { return nil }
	for name, opts := range map[string]versioning.Options{
		"no versions":     {},
		"out of order":    {Versions: []string{"2024-02-01", "2024-01-01"}},
		"repeated":        {Versions: []string{"v1", "v1"}},
		"mixed":           {Versions: []string{"v1", "2024-01-01"}},
		"bad version":     {Versions: []string{"v1", "two"}},
		"unknown default": {Versions: []string{"v1"}, Default: "v2"},
		"change unknown":  {Versions: []string{"v1", "v2"}, Changes: []versioning.Change{{Version: "v3"}}},
		"change at first": {Versions: []string{"v1", "v2"}, Changes: []versioning.Change{{Version: "v1"}}},
		"two changes":     {Versions: []string{"v1", "v2"}, Changes: []versioning.Change{{Version: "v2"}, {Version: "v2"}}},
		"no apply":        {Versions: []string{"v1", "v2"}, Changes: []versioning.Change{{Version: "v2", Requests: []versioning.Migration{{}}}}},
		"bad pattern":     {Versions: []string{"v1", "v2"}, Changes: []versioning.Change{{Version: "v2", Responses: []versioning.Migration{{Routes: []string{"GET users"}, Apply: apply}}}}},
		"autopin no pins": {Versions: []string{"v1"}, AutoPin: true},
		"sunset first": {Versions: []string{"v1", "v2"}, VersionLifecycle: map[string]versioning.Lifecycle{
			"v1": {Deprecated: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), Sunset: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}},
	} {
		_, err := versioning.New(opts)
		assert.Error(t, err, name)
	}
}

// TestResolutionPrecedence: header, then path prefix, then Accept, then
// the tenant's pin, then the default.
func TestResolutionPrecedence(t *testing.T) {
	pins := memstore.NewPins()
	require.NoError(t, pins.SetPin(context.Background(), "pinned", "v2"))
	api, err := versioning.New(versioning.Options{
		Versions: []string{"v1", "v2", "v3"}, PathPrefix: true, MediaType: "application/vnd.demo+json",
		Pins: pins, Default: "v1",
	})
	require.NoError(t, err)
	for _, tc := range []struct {
		name, path, header, accept, tenant string
		want, wantPath                     string
	}{
		{"default", "/users", "", "", "", "v1", "/users"},
		{"pin", "/users", "", "", "pinned", "v2", "/users"},
		{"tenant without pin", "/users", "", "", "fresh", "v1", "/users"},
		{"accept over pin", "/users", "", "application/vnd.demo+json; version=v3", "pinned", "v3", "/users"},
		{"accept among others", "/users", "", "text/html, application/vnd.demo+json;version=v2;q=0.9", "", "v2", "/users"},
		{"other media type ignored", "/users", "", "application/json; version=v3", "", "v1", "/users"},
		{"path over accept", "/v2/users", "", "application/vnd.demo+json; version=v3", "", "v2", "/users"},
		{"path root", "/v3", "", "", "", "v3", "/"},
		{"not a version segment", "/vip/users", "", "", "", "v1", "/vip/users"},
		{"header over path", "/v2/users", "v3", "", "pinned", "v3", "/users"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.path, nil)
			if tc.header != "" {
				r.Header.Set("API-Version", tc.header)
			}
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			if tc.tenant != "" {
				r = r.WithContext(tenancy.WithTenant(r.Context(), &tenancy.Tenant{ID: tc.tenant}))
			}
			v, path, err := api.Resolve(r)
			require.NoError(t, err)
			assert.Equal(t, tc.want, v.String())
			assert.Equal(t, tc.wantPath, path)
		})
	}
	for _, bad := range []struct{ header, path string }{{"v9", "/x"}, {"nine", "/x"}, {"", "/v9/users"}, {"", "/v01/users"}} {
		r := httptest.NewRequest("GET", bad.path, nil)
		if bad.header != "" {
			r.Header.Set("API-Version", bad.header)
		}
		_, _, err := api.Resolve(r)
		var re *versioning.ResolveError
		assert.ErrorAs(t, err, &re, "%+v", bad)
	}
}

func TestAutoPinAtFirstRequest(t *testing.T) {
	pins := memstore.NewPins()
	api, err := versioning.New(versioning.Options{Versions: []string{"2024-01-01", "2024-06-01"}, Pins: pins, AutoPin: true})
	require.NoError(t, err)
	ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "acme"})
	v, _, err := api.Resolve(httptest.NewRequest("GET", "/", nil).WithContext(ctx))
	require.NoError(t, err)
	assert.Equal(t, "2024-06-01", v.String())
	pinned, err := pins.Pin(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, "2024-06-01", pinned, "pinned to the version current at its first request")
}

// demoAPI is three versions of a users API: 2024-06-01 renamed "name" to
// "full_name"; 2025-01-01 split "full_name" into first and last names
// and removed GET /legacy; 2025-01-01 also added POST /users/{id}/invite.
func demoAPI(t *testing.T, opts versioning.Options) *versioning.API {
	t.Helper()
	opts.Versions = []string{"2024-01-01", "2024-06-01", "2025-01-01"}
	opts.Changes = []versioning.Change{
		{
			Version:     "2024-06-01",
			Description: "`name` is now `full_name`.",
			Requests:    []versioning.Migration{{Routes: []string{"POST /users"}, Apply: versioning.RenameField("name", "full_name")}},
			Responses:   []versioning.Migration{{Types: []string{"user"}, Apply: versioning.RenameField("full_name", "name")}},
		},
		{
			Version:     "2025-01-01",
			Description: "`full_name` is split into `first_name` and `last_name`.",
			Requests: []versioning.Migration{{Routes: []string{"POST /users"}, Apply: func(b *versioning.Body) error {
				b.Objects(func(o map[string]any) {
					full, _ := o["full_name"].(string)
					first, last, _ := strings.Cut(full, " ")
					delete(o, "full_name")
					o["first_name"], o["last_name"] = first, last
				})
				return nil
			}}},
			Responses: []versioning.Migration{{Types: []string{"user"}, Apply: func(b *versioning.Body) error {
				b.Objects(func(o map[string]any) {
					o["full_name"] = strings.TrimSpace(o["first_name"].(string) + " " + o["last_name"].(string))
					delete(o, "first_name")
					delete(o, "last_name")
				})
				return nil
			}}},
			AddedRoutes:   []string{"POST /users/{id}/invite"},
			RemovedRoutes: []string{"GET /legacy"},
		},
	}
	api, err := versioning.New(opts)
	require.NoError(t, err)
	return api
}

// head is the handler at the newest version.
func head() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /users", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			FirstName string `json:"first_name"`
			LastName  string `json:"last_name"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.FirstName == "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(422)
			_, _ = io.WriteString(w, `{"error":"first_name is required"}`)
			return
		}
		versioning.SetType(r.Context(), "user")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": 12345678901234567, "first_name": in.FirstName, "last_name": in.LastName})
	})
	mux.HandleFunc("GET /users", func(w http.ResponseWriter, r *http.Request) {
		versioning.SetType(r.Context(), "user")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":[{"id":1,"first_name":"Ada","last_name":"Lovelace"}],"has_more":false}`)
	})
	mux.HandleFunc("GET /legacy", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "old") })
	mux.HandleFunc("POST /users/{id}/invite", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(202) })
	return mux
}

func call(t *testing.T, h http.Handler, method, path, version, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if version != "" {
		r.Header.Set("API-Version", version)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func TestMigrationsAtEveryVersion(t *testing.T) {
	h := demoAPI(t, versioning.Options{}).Middleware(head())
	for _, tc := range []struct{ version, body, want string }{
		{"2025-01-01", `{"first_name":"Ada","last_name":"Lovelace"}`, `{"id":12345678901234567,"first_name":"Ada","last_name":"Lovelace"}`},
		{"2024-06-01", `{"full_name":"Ada Lovelace"}`, `{"id":12345678901234567,"full_name":"Ada Lovelace"}`},
		{"2024-01-01", `{"name":"Ada Lovelace"}`, `{"id":12345678901234567,"name":"Ada Lovelace"}`},
	} {
		rec := call(t, h, "POST", "/users", tc.version, tc.body)
		require.Equal(t, 201, rec.Code, "%s: %s", tc.version, rec.Body)
		assert.JSONEq(t, tc.want, rec.Body.String(), tc.version)
		assert.Equal(t, tc.version, rec.Header().Get("API-Version"), "the version is echoed")
		dec := json.NewDecoder(rec.Body)
		dec.UseNumber()
		var got map[string]any
		require.NoError(t, dec.Decode(&got))
		assert.Equal(t, json.Number("12345678901234567"), got["id"], "numbers are not rounded through float64")
	}
	rec := call(t, h, "GET", "/users", "2024-01-01", "")
	assert.JSONEq(t, `{"data":[{"id":1,"name":"Ada Lovelace"}],"has_more":false}`, rec.Body.String(), "lists migrate item by item")

	rec = call(t, h, "POST", "/users", "2024-01-01", `{"nickname":"x"}`)
	assert.Equal(t, 422, rec.Code)
	assert.JSONEq(t, `{"error":"first_name is required"}`, rec.Body.String(), "errors pass through the migrations (untyped: unchanged)")
}

func TestRouteLifecycle(t *testing.T) {
	h := demoAPI(t, versioning.Options{}).Middleware(head())
	assert.Equal(t, 200, call(t, h, "GET", "/legacy", "2024-06-01", "").Code, "still served to older callers")
	rec := call(t, h, "GET", "/legacy", "2025-01-01", "")
	assert.Equal(t, 410, rec.Code)
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	assert.Equal(t, 404, call(t, h, "POST", "/users/7/invite", "2024-06-01", "").Code, "not there yet")
	assert.Equal(t, 202, call(t, h, "POST", "/users/7/invite", "2025-01-01", "").Code)
}

func TestDeprecationAndSunset(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	dep, sunset := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	api := demoAPI(t, versioning.Options{
		Now: func() time.Time { return now },
		VersionLifecycle: map[string]versioning.Lifecycle{
			"2024-01-01": {Deprecated: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Sunset: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
			"2024-06-01": {Deprecated: dep, Sunset: sunset, Link: "https://docs.example.com/migrate"},
		},
		RouteLifecycle: map[string]versioning.Lifecycle{"GET /users": {Deprecated: dep}},
	})
	h := api.Middleware(head())
	rec := call(t, h, "POST", "/users", "2024-06-01", `{"full_name":"Ada Lovelace"}`)
	require.Equal(t, 201, rec.Code)
	assert.Equal(t, "@1767225600", rec.Header().Get("Deprecation"))
	assert.Equal(t, "Thu, 31 Dec 2026 00:00:00 GMT", rec.Header().Get("Sunset"))
	assert.Equal(t, `<https://docs.example.com/migrate>; rel="deprecation"`, rec.Header().Get("Link"))

	rec = call(t, h, "GET", "/users", "2025-01-01", "")
	assert.Equal(t, "@1767225600", rec.Header().Get("Deprecation"), "a deprecated route")
	assert.Empty(t, rec.Header().Get("Sunset"))

	rec = call(t, h, "GET", "/users", "2024-01-01", "")
	assert.Equal(t, 410, rec.Code, "past its sunset")
	var p map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	assert.Equal(t, "2024-06-01", p["oldest_supported_version"])
	assert.Contains(t, p["detail"], "oldest supported version is 2024-06-01")

	rec = call(t, h, "GET", "/users", "2023-01-01", "")
	assert.Equal(t, 400, rec.Code)
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	assert.Equal(t, []any{"2024-06-01", "2025-01-01"}, p["supported_versions"], "unknown versions list the supported ones")
	rec = call(t, h, "GET", "/users", "junk", "")
	assert.Equal(t, 400, rec.Code)
}

func TestRenderPayloadForPinnedEndpoints(t *testing.T) {
	api := demoAPI(t, versioning.Options{})
	head := []byte(`{"id":1,"first_name":"Ada","last_name":"Lovelace"}`)
	for version, want := range map[string]string{
		"":           string(head),
		"2025-01-01": string(head),
		"2024-06-01": `{"id":1,"full_name":"Ada Lovelace"}`,
		"2024-01-01": `{"id":1,"name":"Ada Lovelace"}`,
	} {
		out, err := api.RenderPayload(version, "user", head)
		require.NoError(t, err, version)
		assert.JSONEq(t, want, string(out), version)
	}
	out, err := api.RenderPayload("2024-01-01", "invoice", head)
	require.NoError(t, err)
	assert.JSONEq(t, string(head), string(out), "other types are untouched")
	_, err = api.RenderPayload("1999-01-01", "user", head)
	assert.ErrorIs(t, err, versioning.ErrUnknownVersion)
}

func TestUsageMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	api := demoAPI(t, versioning.Options{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	h := api.Middleware(head())
	r := httptest.NewRequest("GET", "/users", nil)
	r.Header.Set("API-Version", "2024-06-01")
	r = r.WithContext(tenancy.WithTenant(r.Context(), &tenancy.Tenant{ID: "acme"}))
	h.ServeHTTP(httptest.NewRecorder(), r)
	h.ServeHTTP(httptest.NewRecorder(), r)
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	sum := rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Sum[int64])
	require.Len(t, sum.DataPoints, 1)
	dp := sum.DataPoints[0]
	assert.EqualValues(t, 2, dp.Value)
	v, _ := dp.Attributes.Value("saaskit.versioning.version")
	tenant, _ := dp.Attributes.Value("tenant.id")
	assert.Equal(t, "2024-06-01", v.AsString())
	assert.Equal(t, "acme", tenant.AsString())
}

func TestChangelog(t *testing.T) {
	api := demoAPI(t, versioning.Options{VersionLifecycle: map[string]versioning.Lifecycle{
		"2024-01-01": {Sunset: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	}})
	want := "# API changelog\n\n" +
		"## 2025-01-01 (current)\n\n`full_name` is split into `first_name` and `last_name`.\n- Added `POST /users/{id}/invite`.\n- Removed `GET /legacy`.\n\n" +
		"## 2024-06-01\n\n`name` is now `full_name`.\n\n" +
		"## 2024-01-01\n\nThe first version.\n- Sunset on Thu, 01 Jan 2026 00:00:00 GMT.\n"
	assert.Equal(t, want, api.Changelog())
}

// TestFailingRequestMigrationRefuses: a request whose migration fails
// never reaches the head handler in its old shape.
func TestFailingRequestMigrationRefuses(t *testing.T) {
	api, err := versioning.New(versioning.Options{Versions: []string{"v1", "v2"}, Changes: []versioning.Change{{
		Version: "v2", Requests: []versioning.Migration{{Apply: func(*versioning.Body) error { return errors.New("amount must be in cents") }}},
	}}})
	require.NoError(t, err)
	called := false
	h := api.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	rec := call(t, h, "POST", "/payments", "v1", `{"amount": 12.50}`)
	assert.Equal(t, 400, rec.Code)
	assert.Contains(t, rec.Body.String(), "amount must be in cents")
	assert.False(t, called)

	rec = call(t, h, "POST", "/payments", "v1", `not json at all`)
	assert.True(t, called, "a body that is not JSON goes to the handler, which says what is wrong")
	assert.Equal(t, 200, rec.Code)
}

// TestNonJSONResponsesStream: under response migrations, a response
// that is not JSON goes straight to the client, flushes included.
func TestNonJSONResponsesStream(t *testing.T) {
	api := demoAPI(t, versioning.Options{})
	flushed := make(chan bool, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		flushed <- true
		_, _ = io.WriteString(w, "data: two\n\n")
	})
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/users", nil)
	r.Header.Set("API-Version", "2024-01-01")
	api.Middleware(mux).ServeHTTP(rec, r)
	assert.True(t, <-flushed)
	assert.True(t, rec.Flushed, "the flush reached the client")
	assert.Equal(t, "data: one\n\ndata: two\n\n", rec.Body.String())
	assert.Equal(t, "text/event-stream", rec.Header().Get("Content-Type"))
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestMigratedBodiesAreBounded: a request body to migrate is refused
// with 413 past MaxBody (1 MiB by default): at once by its declared
// length, without reading it, and by reading no more than the bound plus
// one byte when its length is not declared.
func TestMigratedBodiesAreBounded(t *testing.T) {
	big := `{"name":"` + strings.Repeat("a", 2<<20) + `"}`
	for _, tc := range []struct {
		name    string
		opts    versioning.Options
		body    string
		status  int
		declare bool
	}{
		{"declared, over the default", versioning.Options{}, big, 413, true},
		{"chunked, over the default", versioning.Options{}, big, 413, false},
		{"under the default", versioning.Options{}, `{"name":"Ada Lovelace"}`, 201, true},
		{"over a smaller bound", versioning.Options{MaxBody: 16}, `{"name":"Ada Lovelace"}`, 413, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := demoAPI(t, tc.opts).Middleware(head())
			body := &countingReader{r: strings.NewReader(tc.body)}
			r := httptest.NewRequest("POST", "/users", body)
			r.ContentLength = -1
			if tc.declare {
				r.ContentLength = int64(len(tc.body))
			}
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("API-Version", "2024-01-01")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			if tc.status != 413 {
				return
			}
			assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
			limit := tc.opts.MaxBody
			if limit == 0 {
				limit = versioning.DefaultMaxBody
			}
			if tc.declare {
				assert.Zero(t, body.n, "a declared oversize body is refused unread")
			} else {
				assert.LessOrEqual(t, body.n, limit+1+32<<10, "read past the bound")
			}
		})
	}
}
