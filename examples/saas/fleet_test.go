package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/redistest"
	"github.com/saaskit/saaskit/webhook"
)

// TestDemoFleet runs two demo processes on one PostgreSQL database, as
// two replicas behind a load balancer, first with their shared state in
// the database and then in Redis. What one replica does, the other
// sees: a tenant's rate limit holds across both, an inbound webhook
// accepted by one is refused as a replay by the other, a legal hold
// placed through one blocks an erasure through the other and survives
// a restart of both, a flag change made through one is served by the
// other, and a console session made on one works on the other.
func TestDemoFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo binary")
	}
	bin := buildDemo(t)
	t.Run("database", func(t *testing.T) { testFleet(t, bin) })
	t.Run("redis", func(t *testing.T) {
		o := redistest.Options(t)
		msgID := testFleet(t, bin, "-redis", fmt.Sprintf("redis://%s/%d", o.Addr, o.DB))
		// The replay store was Redis, not the database.
		c := redistest.Client(t)
		keys, err := c.Keys(context.Background(), "saaskit:*"+msgID).Result()
		require.NoError(t, err)
		assert.Len(t, keys, 1, "the accepted webhook id is not in Redis")
		require.NoError(t, c.Del(context.Background(), keys...).Err())
	})
}

// testFleet runs the replicas with extra flags and returns the id of
// the inbound webhook they accepted.
func testFleet(t *testing.T, bin string, extra ...string) (msgID string) {
	t.Setenv("SAASKIT_OPERATOR_TOKEN", "op-fleet")
	args := append([]string{"-db", postgresSchema(t)}, extra...)
	data := t.TempDir() // the replicas' shared secrets: root key, operator token
	a := start(t, bin, data, args...)
	b := start(t, bin, data, args...)
	acme, globex := a.as(t, "acme"), a.as(t, "globex")
	operator := []string{"Authorization", "Bearer op-fleet"}

	t.Run("rate limit", func(t *testing.T) {
		// globex's plan: 5 requests a second in bursts of 10. Requests
		// alternate between the replicas; together they allow the plan
		// once, where per-process buckets would allow it twice.
		const rate, burst = 5.0, 10
		allowed, begin := 0, time.Now()
		for i := range 40 {
			s := []*server{a, b}[i%2]
			resp, body := s.call(t, "GET", "localhost", "/api/tenant", nil, globex...)
			switch resp.StatusCode {
			case 200:
				allowed++
			case 429:
			default:
				t.Fatalf("GET /api/tenant: %d %s", resp.StatusCode, body)
			}
		}
		elapsed := time.Since(begin).Seconds()
		limit := float64(burst) + rate*elapsed
		t.Logf("%d of 40 allowed in %.2fs; the plan allows %.1f", allowed, elapsed, limit)
		assert.LessOrEqual(t, float64(allowed), limit*1.05+1, "the replicas together exceeded the plan")
		assert.GreaterOrEqual(t, allowed, burst, "the burst was not allowed")
	})

	t.Run("replayed webhook", func(t *testing.T) {
		resp, body := a.call(t, "POST", "localhost", "/api/webhooks/endpoints",
			strings.NewReader(`{"url":"http://127.0.0.1:`+a.port+`/webhooks/inbound/acme"}`), acme...)
		require.Equal(t, 201, resp.StatusCode, body)
		var ep struct{ Secret string }
		require.NoError(t, json.Unmarshal([]byte(body), &ep))
		signer, err := webhook.NewSigner(ep.Secret)
		require.NoError(t, err)
		msg := []byte(`{"type":"invoice.paid","data":{"id":"in_1"}}`)
		header := http.Header{}
		msgID = fmt.Sprintf("msg_fleet_%d", time.Now().UnixNano())
		require.NoError(t, signer.SetHeaders(header, msgID, time.Now(), msg))
		var hdr []string
		for k := range header {
			hdr = append(hdr, k, header.Get(k))
		}
		resp, body = a.call(t, "POST", "localhost", "/webhooks/inbound/acme", strings.NewReader(string(msg)), hdr...)
		require.Equal(t, 204, resp.StatusCode, body)
		resp, body = b.call(t, "POST", "localhost", "/webhooks/inbound/acme", strings.NewReader(string(msg)), hdr...)
		assert.Equal(t, 409, resp.StatusCode, "the other replica took a replay: %s", body)
	})

	t.Run("flag change", func(t *testing.T) {
		resp, _ := b.call(t, "GET", "localhost", "/api/insights", nil, acme...)
		require.Equal(t, 200, resp.StatusCode, "acme is in the flag's ring")
		resp, body := a.call(t, "POST", "localhost", "/admin/flags/usage-insights/kill", nil, operator...)
		require.Equal(t, 204, resp.StatusCode, body)
		await.True(t, func() bool {
			resp, _ := b.call(t, "GET", "localhost", "/api/insights", nil, acme...)
			return resp.StatusCode == 404
		}, "the other replica still serves the flag")
	})

	t.Run("console session", func(t *testing.T) {
		cookie := consoleLogin(t, a, "op-fleet")
		assert.Contains(t, consolePage(t, b, "/console/tenants", cookie), "Acme Corporation")
	})

	// A legal hold placed through one replica blocks the erasure
	// through the other, and through both after they restart.
	resp, body := a.call(t, "POST", "localhost", "/api/users", strings.NewReader(`{"email_address":"ada@example.com","first_name":"Ada","last_name":"L"}`), acme...)
	require.Equal(t, 201, resp.StatusCode, body)
	var u struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(body), &u))
	resp, body = a.call(t, "PUT", "localhost", "/admin/tenants/acme/holds", strings.NewReader(`{"subject":"`+u.ID+`","reason":"litigation 2026-17"}`), operator...)
	require.Equal(t, 200, resp.StatusCode, body)
	resp, body = b.call(t, "DELETE", "localhost", "/api/users/"+u.ID, nil, acme...)
	assert.Equal(t, 409, resp.StatusCode, "held through the other replica: %s", body)
	a.Stop(t)
	b.Stop(t)
	a = start(t, bin, data, args...)
	defer a.Stop(t)
	b = start(t, bin, data, args...)
	defer b.Stop(t)
	resp, body = b.call(t, "DELETE", "localhost", "/api/users/"+u.ID, nil, acme...)
	assert.Equal(t, 409, resp.StatusCode, "the hold did not survive the restart: %s", body)
	resp, body = a.call(t, "DELETE", "localhost", "/admin/tenants/acme/holds?subject="+u.ID, nil, operator...)
	require.Equal(t, 204, resp.StatusCode, body)
	resp, body = b.call(t, "DELETE", "localhost", "/api/users/"+u.ID, nil, acme...)
	assert.Equal(t, 200, resp.StatusCode, "lifted through the other replica: %s", body)
	return msgID
}
