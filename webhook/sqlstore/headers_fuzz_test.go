package sqlstore_test

import (
	"net/http"
	"testing"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/sqlstore"
)

// FuzzRecordedHeadersRoundTrip: whatever a receiver answers with,
// recorded headers encode to JSON that decodes to the same headers (the
// hand-written encoder escapes what JSON must escape).
func FuzzRecordedHeadersRoundTrip(f *testing.F) {
	for _, seed := range [][2]string{{"X-A", "b"}, {"Q\"uote", "back\\slash"}, {"Ctl", "a\x00\x1f\nb"}, {"Utf", "é\xff\xfe"}, {"", ""}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		h := webhook.RecordedHeaders(http.Header{name: {value, value}, "Authorization": {value}})
		got, err := sqlstore.DecodeHeaders(sqlstore.EncodeHeaders(h))
		if err != nil {
			t.Fatalf("%q: %v", sqlstore.EncodeHeaders(h), err)
		}
		if len(got) != len(h) {
			t.Fatalf("decoded %v, recorded %v", got, h)
		}
		for k, v := range h {
			if got[k] != v {
				t.Fatalf("header %q: decoded %q, recorded %q", k, got[k], v)
			}
		}
	})
}
