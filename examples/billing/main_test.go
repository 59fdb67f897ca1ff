package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/events"
	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/natstest"
	"github.com/saaskit/saaskit/internal/proctest"
	"github.com/saaskit/saaskit/sqlopen"
)

func call(t *testing.T, method, url, body string, header ...string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// accounts lists billing accounts by user ID: GET url, with header.
func accounts(t *testing.T, url string, header ...string) map[string]account {
	t.Helper()
	code, body := call(t, "GET", url, "", header...)
	require.Equal(t, http.StatusOK, code, body)
	var out struct {
		Accounts []account `json:"accounts"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	m := map[string]account{}
	for _, a := range out.Accounts {
		m[a.UserID] = a
	}
	return m
}

// span is a span as OTEL_TRACES_EXPORTER=console prints it.
type span struct {
	Name        string
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct {
		TraceID, SpanID string
		Remote          bool
	}
}

// findSpan looks for the span named name of the trace in what p printed.
func findSpan(p *proctest.Proc, name, traceID string) (span, bool) {
	for _, l := range p.Lines() {
		var s span
		if strings.Contains(l, traceID) && json.Unmarshal([]byte(l), &s) == nil && s.Name == name && s.SpanContext.TraceID == traceID {
			return s, true
		}
	}
	return span{}, false
}

// TestDemoToBilling runs the demo and billing as two processes on the
// local NATS: a user created in the demo opens a billing account, every
// event redelivered to billing changes nothing, and the user's erasure
// closes the account and purges the user's events from the demo's
// outbox and stream.
func TestDemoToBilling(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo and billing binaries")
	}
	_, js := natstest.Connect(t)
	ctx := context.Background()
	demoBin, billingBin := proctest.Build(t, "../saas"), proctest.Build(t, ".")
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	consumer := "billing_test_" + hex.EncodeToString(suffix)
	t.Cleanup(func() { _ = js.DeleteConsumer(ctx, stream, consumer) })

	// Both processes print their spans, so that the test can follow the
	// trace from the demo's request to billing's handler.
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	demoData := t.TempDir()
	demo, port := proctest.Start(t, demoBin, regexp.MustCompile(`listening on http://localhost:(\d+)`),
		"-addr", "127.0.0.1:0", "-data", demoData, "-domain", "localhost", "-nats", natstest.URL())
	defer demo.Stop(t)
	var acme string
	for _, l := range demo.Lines() {
		if m := regexp.MustCompile(`seeded tenant acme; its demo API key \(shown once\): (\S+)`).FindStringSubmatch(l); m != nil {
			acme = m[1]
		}
	}
	require.NotEmpty(t, acme, "the demo printed acme's key")
	demoBase, auth := "http://127.0.0.1:"+port, []string{"Authorization", "Bearer " + acme}
	code, body := call(t, "GET", demoBase+"/readyz", "")
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, `"nats"`)
	assert.Contains(t, body, `"events:outbox"`)

	billingData := t.TempDir()
	billingReady := regexp.MustCompile(`accounts at http://([^/\s]+)/`)
	startBilling := func(extra ...string) (*proctest.Proc, string) {
		p, addr := proctest.Start(t, billingBin, billingReady, append([]string{
			"-addr", "127.0.0.1:0", "-data", billingData, "-nats", natstest.URL(), "-consumer", consumer}, extra...)...)
		return p, "http://" + addr
	}
	// First on the loopback operator endpoint, which names the tenant.
	billing, billingBase := startBilling()
	operatorList := func(tenant string) map[string]account {
		return accounts(t, billingBase+"/tenants/"+tenant+"/accounts")
	}

	traceBytes := make([]byte, 16)
	_, _ = rand.Read(traceBytes)
	traceID := hex.EncodeToString(traceBytes) // a trace of its own, sampled: both processes record it
	code, body = call(t, "POST", demoBase+"/api/users", `{"email_address":"ada@example.com","first_name":"Ada","last_name":"Lovelace"}`,
		append(auth, "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")...)
	require.Equal(t, http.StatusCreated, code, body)
	var ada struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(body), &ada))
	await.True(t, func() bool { _, ok := operatorList("acme")[ada.ID]; return ok }, "billing opened Ada's account")
	acct := operatorList("acme")[ada.ID]
	assert.Equal(t, "ada@example.com", acct.Email)
	assert.Equal(t, "free", acct.Plan)
	assert.NotContains(t, operatorList("globex"), ada.ID, "another tenant's list has no acme account")

	// Billing's handler span is a child of the demo's request span: the
	// trace context went from the request to the outbox, the message's
	// headers and the consumer.
	var handled, request span
	await.True(t, func() (ok bool) { handled, ok = findSpan(billing, "saaskit.events.handle", traceID); return ok }, "billing's handler span")
	await.True(t, func() (ok bool) { request, ok = findSpan(demo, "POST /api/users", traceID); return ok }, "the demo's request span")
	assert.Equal(t, request.SpanContext.SpanID, handled.Parent.SpanID)
	assert.True(t, handled.Parent.Remote)

	// Redelivery: billing starts again on a consumer made afresh, which
	// hands it every event in the stream once more. This time it shares
	// the demo's tenants and keys.
	billing.Stop(t)
	require.NoError(t, js.DeleteConsumer(ctx, stream, consumer))
	billing, billingBase = startBilling("-tenancy-db", "sqlite:"+filepath.Join(demoData, "saas.db"))
	defer func() { billing.Stop(t) }()
	list := func(header ...string) map[string]account { return accounts(t, billingBase+"/api/accounts", header...) }
	await.True(t, func() bool {
		c, err := js.Consumer(ctx, stream, consumer)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Consumer > 0
	}, "billing acked every redelivered event")
	db, err := sqlopen.Open(ctx, "sqlite:"+filepath.Join(billingData, "billing.db"))
	require.NoError(t, err)
	defer db.Close()
	var applied int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM billing_history WHERE tenant_id = 'acme' AND user_id = ?`, ada.ID).Scan(&applied))
	assert.Equal(t, 1, applied, "the redelivered user.created was not applied again")
	assert.Contains(t, list(auth...), ada.ID, "acme's key lists acme's accounts")
	var globex string
	for _, l := range demo.Lines() {
		if m := regexp.MustCompile(`seeded tenant globex; its demo API key \(shown once\): (\S+)`).FindStringSubmatch(l); m != nil {
			globex = m[1]
		}
	}
	require.NotEmpty(t, globex)
	assert.NotContains(t, list("Authorization", "Bearer "+globex), ada.ID, "globex's key lists no acme account")
	code, _ = call(t, "GET", billingBase+"/api/accounts", "")
	assert.Equal(t, http.StatusUnauthorized, code, "no key, no accounts")
	code, _ = call(t, "GET", billingBase+"/tenants/acme/accounts", "", auth...)
	assert.Equal(t, http.StatusNotFound, code, "the unauthenticated operator endpoint is not served beside the keys")

	// Erasure, through the privacy engine.
	code, body = call(t, "POST", demoBase+"/api/users/"+ada.ID+"/privacy-requests", `{"kind":"erasure"}`, auth...)
	require.Equal(t, http.StatusCreated, code, body)
	assert.Contains(t, body, `"events-outbox"`)
	assert.Contains(t, body, `"events-events"`)
	await.True(t, func() bool { _, ok := list(auth...)[ada.ID]; return !ok }, "billing closed Ada's account")
	var erased int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM billing_erased WHERE tenant_id = 'acme' AND user_id = ?`, ada.ID).Scan(&erased))
	assert.Equal(t, 1, erased)

	// The demo kept none of Ada's events, in its outbox or the stream.
	demoDB, err := sqlopen.Open(ctx, "sqlite:"+filepath.Join(demoData, "saas.db"))
	require.NoError(t, err)
	defer demoDB.Close()
	var kept int
	require.NoError(t, demoDB.QueryRow(`SELECT COUNT(*) FROM events_outbox WHERE subject_key = ?`, ada.ID).Scan(&kept))
	assert.Zero(t, kept, "outbox")
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("events.acme."+events.SubjectToken(ada.ID)+".>"))
	require.NoError(t, err)
	assert.Empty(t, info.State.Subjects, "stream")
}
