package ofrep_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/flags/ofrep"
)

// benchFlags returns n flags cycling through the three flags of the
// package's performance targets: static, a three-clause rule, and a
// 25% fractional split.
func benchFlags(b *testing.B, n int) *flags.Evaluator {
	b.Helper()
	var sb strings.Builder
	sb.WriteString(`{"flags": {`)
	for i := range n {
		if i > 0 {
			sb.WriteString(",")
		}
		switch i % 3 {
		case 0:
			fmt.Fprintf(&sb, `"flag-%03d": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}`, i)
		case 1:
			fmt.Fprintf(&sb, `"flag-%03d": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
				"targeting": {"if": [{"and": [{"==": [{"var": "plan"}, "enterprise"]}, {"in": [{"var": "region"}, ["eu-west-1", "eu-central-1"]]},
				{"ends_with": [{"var": "email"}, "@example.com"]}]}, "on", "off"]}}`, i)
		default:
			fmt.Fprintf(&sb, `"flag-%03d": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
				"targeting": {"fractional": [["on", 25], ["off", 75]]}}`, i)
		}
	}
	sb.WriteString(`}}`)
	set, err := flags.Parse([]byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	return flags.NewEvaluator(set, flags.Options{})
}

const benchBody = `{"context": {"targetingKey": "user-42", "plan": "enterprise", "region": "eu-central-1", "email": "ada@example.com"}}`

// BenchmarkSingle evaluates one flag (the rule) through OFREP over a
// loopback connection, beside the limit: a bare net/http handler that
// reads the same request and writes the same JSON, through the same
// client.
func BenchmarkSingle(b *testing.B) {
	ev := benchFlags(b, 3)
	h := ofrep.NewHandler(ev, ofrep.Options{Public: true})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ofrep/v1/evaluate/flags/flag-001", strings.NewReader(benchBody)))
	answer := rec.Body.Bytes()
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(answer)))
		_, _ = w.Write(answer)
	})
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"ofrep", h}, {"limit-bare-net-http", bare}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewServer(bc.h)
			defer srv.Close()
			client := srv.Client()
			url := srv.URL + "/ofrep/v1/evaluate/flags/flag-001"
			body := []byte(benchBody)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !bytes.Equal(got, answer) {
					b.Fatalf("%d %s", resp.StatusCode, got)
				}
			}
		})
	}
}

// BenchmarkBulk evaluates 100 flags in process: through the Evaluator
// (EvaluateAll), and through the OFREP handler without a network
// (request decoding, evaluation, JSON and the ETag's digest).
func BenchmarkBulk(b *testing.B) {
	ev := benchFlags(b, 100)
	ctx := map[string]any{"targetingKey": "user-42", "plan": "enterprise", "region": "eu-central-1", "email": "ada@example.com"}
	b.Run("evaluate-all-100", func(b *testing.B) {
		var buf []flags.Evaluation
		b.ReportAllocs()
		for b.Loop() {
			buf = ev.EvaluateAll(ctx, buf[:0])
		}
	})
	b.Run("ofrep-handler-100", func(b *testing.B) {
		h := ofrep.NewHandler(ev, ofrep.Options{Public: true})
		body := []byte(benchBody)
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, ofrep.EvaluateFlagsPath, bytes.NewReader(body)))
			if rec.Code != http.StatusOK {
				b.Fatal(rec.Code)
			}
		}
	})
}
