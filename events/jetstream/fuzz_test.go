package jetstream_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/events"
	ejs "github.com/saaskit/saaskit/events/jetstream"
)

// FuzzDecode: Decode reads headers anyone who can publish to the stream
// wrote. It never panics, and what it accepts is a valid event that
// Message encodes and Decode reads back the same.
func FuzzDecode(f *testing.F) {
	e := &events.Event{ID: "e1", TenantID: "acme", Type: "user.created", Version: 2, AggregateKey: "user/1", AggregateSeq: 3,
		SubjectKey: "1", Payload: []byte(`{}`), OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		Trace: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	m := ejs.Message("events", "saaskit", e)
	h := m.Header
	f.Add(m.Subject, h.Get(ejs.HeaderID), h.Get(ejs.HeaderTenant), h.Get(ejs.HeaderType), h.Get(ejs.HeaderVersion),
		h.Get(ejs.HeaderAggregate), h.Get(ejs.HeaderAggregateSeq), h.Get(ejs.HeaderTime), h.Get("traceparent"), m.Data)
	f.Add("x", "", "", "", "", "", "", "", "", []byte(nil))
	f.Add("x", "e1", "acme", "a.b", "1", "agg", "", "2026-01-02T03:04:05+01:00", "", []byte("x"))
	f.Add("x", "e1", "acme", "a.b", "-1", "agg", "x", "2026-01-02T03:04:05Z", "", []byte("x"))
	f.Fuzz(func(t *testing.T, subject, id, tenant, typ, version, agg, seq, at, traceparent string, data []byte) {
		h := nats.Header{}
		for k, v := range map[string]string{ejs.HeaderID: id, ejs.HeaderTenant: tenant, ejs.HeaderType: typ, ejs.HeaderVersion: version,
			ejs.HeaderAggregate: agg, ejs.HeaderAggregateSeq: seq, ejs.HeaderTime: at, "traceparent": traceparent} {
			if v != "" {
				h.Set(k, v)
			}
		}
		got, err := ejs.Decode(subject, h, data)
		if err != nil {
			assert.ErrorIs(t, err, events.ErrInvalid)
			return
		}
		require.NoError(t, got.Validate())
		again := ejs.Message("events", "saaskit", got)
		back, err := ejs.Decode(again.Subject, again.Header, again.Data)
		require.NoError(t, err)
		assert.Equal(t, got, back)
	})
}
