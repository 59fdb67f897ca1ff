package versioning_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/saaskit/saaskit/versioning"
)

// kibBody is a 1 KiB JSON object of twenty fields.
var kibBody = func() []byte {
	var b strings.Builder
	b.WriteString("{")
	for i := range 20 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"field_%02d":"%s"`, i, strings.Repeat("x", 36))
	}
	b.WriteString("}")
	return []byte(b.String())
}()

// jsonHandler is a trivial JSON handler: the limit.
var jsonHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	versioning.SetType(r.Context(), "record")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(kibBody)
})

// stepAPI has versions v1..v(n+1); each change renames a field of
// "record" responses, so a v1 caller's response takes n steps.
func stepAPI(b *testing.B, n int) *versioning.API {
	versions := []string{"v1"}
	var changes []versioning.Change
	for i := range n {
		v := fmt.Sprint("v", i+2)
		versions = append(versions, v)
		changes = append(changes, versioning.Change{Version: v, Responses: []versioning.Migration{{
			Types: []string{"record"}, Apply: versioning.RenameField(fmt.Sprintf("field_%02d", i), fmt.Sprintf("old_%02d", i)),
		}}})
	}
	api, err := versioning.New(versioning.Options{Versions: versions, Changes: changes})
	if err != nil {
		b.Fatal(err)
	}
	return api
}

func serve(b *testing.B, h http.Handler, version string) {
	r := httptest.NewRequest("GET", "/records/1", nil)
	if version != "" {
		r.Header.Set("API-Version", version)
	}
	w := &discard{header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.header)
		h.ServeHTTP(w, r)
	}
}

// discard is a ResponseWriter that keeps nothing, so the benchmark
// measures the handler and the middleware only.
type discard struct{ header http.Header }

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkMiddleware: the trivial handler bare (the limit), behind the
// middleware at the head (nothing to migrate), and for a caller 1, 2, 4
// and 8 steps behind: the difference per step is the cost of one
// migration on a 1 KiB body.
func BenchmarkMiddleware(b *testing.B) {
	b.Run("bare-handler", func(b *testing.B) { serve(b, jsonHandler, "") })
	api := stepAPI(b, 8)
	h := api.Middleware(jsonHandler)
	b.Run("head", func(b *testing.B) { serve(b, h, api.Head()) })
	for _, steps := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprint("steps-", steps), func(b *testing.B) { serve(b, h, fmt.Sprint("v", 9-steps)) })
	}
}

// BenchmarkServer measures the same through a loopback HTTP server, as a
// handler runs in production: the bare handler, and behind the
// middleware at the head.
func BenchmarkServer(b *testing.B) {
	api := stepAPI(b, 8)
	for name, h := range map[string]http.Handler{"bare-handler": jsonHandler, "head": api.Middleware(jsonHandler)} {
		b.Run(name, func(b *testing.B) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			client := srv.Client()
			req, _ := http.NewRequest("GET", srv.URL+"/records/1", nil)
			req.Header.Set("API-Version", api.Head())
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// BenchmarkRenderPayload migrates a 1 KiB webhook payload 1 and 8 steps.
func BenchmarkRenderPayload(b *testing.B) {
	api := stepAPI(b, 8)
	for _, steps := range []int{1, 8} {
		b.Run(fmt.Sprint("steps-", steps), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := api.RenderPayload(fmt.Sprint("v", 9-steps), "record", kibBody); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMigrationStep is the cost of one migration step on a decoded
// 1 KiB body (a field renamed, then renamed back: two steps per op),
// apart from decoding and encoding the body once per request, which
// BenchmarkDecodeEncode measures.
func BenchmarkMigrationStep(b *testing.B) {
	var body versioning.Body
	if err := json.Unmarshal(kibBody, &body.Value); err != nil {
		b.Fatal(err)
	}
	there, back := versioning.RenameField("field_07", "legacy_07"), versioning.RenameField("legacy_07", "field_07")
	b.ReportAllocs()
	for b.Loop() {
		_ = there(&body)
		_ = back(&body)
	}
}

// BenchmarkDecodeEncode is the fixed cost of migrating a 1 KiB body:
// decoding it (numbers kept exact) and encoding the result.
func BenchmarkDecodeEncode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		dec := json.NewDecoder(bytes.NewReader(kibBody))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}

// documentOptions has 20 versions and 50 routes of a 20-field record;
// each change renames one field of every record, in requests and in
// responses.
func documentOptions() versioning.Options {
	record := versioning.Schema{"type": "object", "additionalProperties": false, "properties": map[string]any{}}
	for i := range 20 {
		record["properties"].(map[string]any)[fmt.Sprintf("field_%02d", i)] = map[string]any{"type": "string"}
	}
	opts := versioning.Options{Title: "Bench"}
	for i := range 20 {
		opts.Versions = append(opts.Versions, fmt.Sprintf("v%d", i+1))
	}
	for i := 1; i < 20; i++ {
		from, to := fmt.Sprintf("old_%02d", i), fmt.Sprintf("field_%02d", i)
		opts.Changes = append(opts.Changes, versioning.Change{Version: fmt.Sprintf("v%d", i+1),
			Requests:  []versioning.Migration{{Apply: versioning.RenameField(from, to), Effects: []versioning.SchemaEffect{versioning.FieldRenamed(from, to)}}},
			Responses: []versioning.Migration{{Apply: versioning.RenameField(to, from), Effects: []versioning.SchemaEffect{versioning.FieldRenamed(from, to)}}},
		})
	}
	for i := range 50 {
		opts.Operations = append(opts.Operations, versioning.Operation{Route: fmt.Sprintf("POST /records%02d/{id}", i), Type: "record",
			Request: record, Responses: map[int]versioning.Schema{200: record}})
	}
	return opts
}

// BenchmarkDocuments: New with 20 versions × 50 routes, every version's
// OpenAPI document rendered, against New without operations (the
// limit: no documents), and serving one document.
//
//	go test -run '^$' -bench Documents -count 5 ./versioning/
func BenchmarkDocuments(b *testing.B) {
	opts := documentOptions()
	b.Run("new-20-versions-50-routes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := versioning.New(opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("limit-new-without-documents", func(b *testing.B) {
		bare := opts
		bare.Operations = nil
		for i := range bare.Changes {
			bare.Changes[i].Requests, bare.Changes[i].Responses = nil, nil
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := versioning.New(bare); err != nil {
				b.Fatal(err)
			}
		}
	})
	api, err := versioning.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	h := http.StripPrefix("/openapi", api.OpenAPIHandler())
	doc, _ := api.OpenAPI("v1")
	b.Run("serve-document", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi/v1.json", nil))
			if rec.Code != 200 {
				b.Fatal(rec.Code)
			}
		}
	})
	b.Run("limit-write-bytes", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			rec := httptest.NewRecorder()
			rec.Header().Set("Content-Type", "application/json")
			_, _ = rec.Write(doc)
		}
	})
}
