package webhookportal_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/webhookportal"
)

func TestEndpointLifecycle(t *testing.T) {
	exerciseEndpoints(t, newFixture(t, newDispatcher(t), webhookportal.Options{}))
}

func TestEndpointLifecycleOnSQLite(t *testing.T) {
	f := newFixture(t, newSQLiteDispatcher(t), webhookportal.Options{})
	exerciseEndpoints(t, f)
	exerciseDeliveries(t, f)
}

func TestDeliveries(t *testing.T) {
	exerciseDeliveries(t, newFixture(t, newDispatcher(t), webhookportal.Options{}))
}

// exerciseEndpoints walks an endpoint's life through the portal's pages.
func exerciseEndpoints(t *testing.T, f *fixture) {
	ctx := context.Background()
	acme := f.as("acme")
	rc := newReceiver(t)

	page := acme.get("/")
	require.Equal(t, http.StatusOK, page.status, page.body)
	assert.Contains(t, page.body, "No endpoints yet")
	assert.Contains(t, page.body, "Acme Cloud", "the tenant's product name")
	assert.Contains(t, page.body, `src="https://cdn.acme.example/logo.svg"`)
	assert.Contains(t, page.body, "help@acme.example")

	form := acme.get("/endpoints/new")
	require.Equal(t, http.StatusOK, form.status)
	for _, name := range []string{"invoice.paid", "invoice.voided", "user.created", "An invoice was paid"} {
		assert.Contains(t, form.body, name, "the catalogue is offered")
	}

	e, secret := acme.createEndpoint(url.Values{"url": {rc.srv.URL + "/in"}, "event_types": {"invoice.paid"}, "more_event_types": {"user.*"}})
	assert.True(t, strings.HasPrefix(secret, "whsec_"), secret)
	assert.Equal(t, []string{"invoice.paid", "user.*"}, e.EventTypes)

	page = acme.get("/")
	assert.Contains(t, page.body, `id="endpoint-`+e.ID+`"`)
	assert.Contains(t, page.body, rc.srv.URL+"/in")
	assert.NotContains(t, page.body, secret, "the secret is shown once")

	detail := acme.get("/endpoints/" + e.ID)
	require.Equal(t, http.StatusOK, detail.status, detail.body)
	assert.Contains(t, detail.body, "invoice.paid, user.*")
	assert.Contains(t, detail.body, "enabled")
	assert.NotContains(t, detail.body, secret)

	edit := acme.get("/endpoints/" + e.ID + "/edit")
	require.Equal(t, http.StatusOK, edit.status)
	assert.Regexp(t, `value="invoice.paid" checked`, edit.body)
	assert.Contains(t, edit.body, `value="user.*"`)

	saved := acme.post("/endpoints/"+e.ID, url.Values{"url": {rc.srv.URL + "/v2"}, "event_types": {"invoice.paid", "invoice.voided"},
		"channels": {"eu, us"}, "rate_limit": {"2.5"}, "ordered": {"on"}, "headers": {"X-Team: billing\n\nX-Env: prod"}})
	require.Equal(t, http.StatusSeeOther, saved.status, saved.body)
	assert.Equal(t, "endpoints/"+e.ID, saved.location())
	detail = acme.get("/endpoints/" + e.ID)
	assert.Equal(t, "Endpoint saved.", detail.flash())
	assert.Empty(t, acme.get("/endpoints/"+e.ID).flash(), "a notice is shown once")
	e, err := f.d.GetEndpoint(ctx, "acme", e.ID)
	require.NoError(t, err)
	assert.Equal(t, rc.srv.URL+"/v2", e.URL)
	assert.Equal(t, []string{"eu", "us"}, e.Channels)
	assert.Equal(t, 2.5, e.RateLimit)
	assert.True(t, e.Ordered)
	assert.Equal(t, map[string]string{"X-Team": "billing", "X-Env": "prod"}, e.Headers)

	disabled := acme.post("/endpoints/"+e.ID+"/disable", url.Values{"reason": {"maintenance"}})
	require.Equal(t, http.StatusSeeOther, disabled.status, disabled.body)
	assert.Contains(t, acme.get("/endpoints/"+e.ID).body, "disabled: maintenance")
	enabled := acme.post("/endpoints/"+e.ID+"/enable", nil)
	require.Equal(t, http.StatusSeeOther, enabled.status, enabled.body)
	assert.Contains(t, acme.get("/endpoints/"+e.ID).body, `<span class="good">enabled</span>`)

	rotated := acme.post("/endpoints/"+e.ID+"/rotate", url.Values{"overlap_hours": {"48"}})
	require.Equal(t, http.StatusOK, rotated.status, rotated.body)
	newSecret := regexp.MustCompile(`id="secret">([^<]+)<`).FindStringSubmatch(rotated.body)
	require.NotNil(t, newSecret)
	assert.NotEqual(t, secret, newSecret[1])
	assert.Contains(t, rotated.body, "keeps signing beside the new one until")
	e, err = f.d.GetEndpoint(ctx, "acme", e.ID)
	require.NoError(t, err)
	assert.Len(t, e.Secrets, 2, "the old secret overlaps the new")
	assert.WithinDuration(t, time.Now().Add(48*time.Hour), e.PreviousSecretsUntil, time.Hour)

	ed, pub := acme.createEndpoint(url.Values{"url": {rc.srv.URL + "/ed"}, "signature": {"v1a"}})
	assert.True(t, strings.HasPrefix(pub, "whpk_"), "an Ed25519 endpoint's owner is shown its public key")
	assert.Empty(t, ed.EventTypes, "none ticked: every type")

	unconfirmed := acme.post("/endpoints/"+ed.ID+"/delete", nil)
	assert.Equal(t, http.StatusBadRequest, unconfirmed.status)
	assert.Contains(t, unconfirmed.flash(), "confirm")
	deleted := acme.post("/endpoints/"+ed.ID+"/delete", url.Values{"confirm": {"yes"}})
	require.Equal(t, http.StatusSeeOther, deleted.status, deleted.body)
	assert.Empty(t, deleted.location())
	assert.Contains(t, acme.get("/").flash(), "deleted")
	assert.Equal(t, http.StatusNotFound, acme.get("/endpoints/"+ed.ID).status)

	types := acme.get("/event-types")
	require.Equal(t, http.StatusOK, types.status)
	assert.Contains(t, types.body, `id="type-invoice.paid"`)
	assert.Contains(t, types.body, "An invoice was voided")
	assert.Contains(t, types.body, "JSON Schema")
}

// exerciseDeliveries sends messages and follows them through the
// portal: messages, deliveries, attempts with their requests and
// responses, resend, replay, recover, retry and the charts.
func exerciseDeliveries(t *testing.T, f *fixture) {
	acme := f.as("acme")
	rc := newReceiver(t)
	e, _ := acme.createEndpoint(url.Values{"url": {rc.srv.URL + "/hooks"}, "headers": {"X-Team: billing"}})
	rc.answer(http.StatusInternalServerError, `<script>alert("receiver")</script>`)
	msg := f.send("acme", "invoice.paid", `{"invoice":"in_1","note":"<b>bold</b>"}`, 1)

	list := acme.get("/messages")
	require.Equal(t, http.StatusOK, list.status, list.body)
	assert.Contains(t, list.body, `id="message-`+msg.ID+`"`)
	filtered := acme.get("/messages?event_type=user.created")
	assert.NotContains(t, filtered.body, msg.ID)
	since := acme.get("/messages?since=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04")))
	assert.NotContains(t, since.body, msg.ID, "sent before since")

	page := acme.get("/messages/" + msg.ID)
	require.Equal(t, http.StatusOK, page.status, page.body)
	assert.Contains(t, page.body, "&lt;b&gt;bold&lt;/b&gt;", "the payload, escaped")
	assert.NotContains(t, page.body, "<b>bold</b>")
	deliveryLink := regexp.MustCompile(`href="/portal/webhooks/(messages/[^"]+/deliveries/[^"]+)"`).FindStringSubmatch(page.body)
	require.NotNil(t, deliveryLink, page.body)

	d := acme.get(deliveryLink[1])
	require.Equal(t, http.StatusOK, d.status, d.body)
	assert.Contains(t, d.body, "POST "+rc.srv.URL+"/hooks")
	assert.Contains(t, d.body, "<th>webhook-id</th><td>"+msg.ID+"</td>")
	assert.Contains(t, d.body, "<th>X-Team</th><td>billing</td>")
	assert.Contains(t, d.body, "&#34;invoice&#34;: &#34;in_1&#34;", "the request body, indented and escaped")
	assert.Contains(t, d.body, `<td class="status">500</td>`)
	assert.Contains(t, d.body, "&lt;script&gt;alert(&#34;receiver&#34;)&lt;/script&gt;", "the response body, escaped")
	assert.NotContains(t, d.body, `<script>alert`)
	assert.Contains(t, d.body, "failed")

	// The second attempt is the last (MaxAttempts 2): the delivery dies,
	// and the portal retries it.
	dead := waitDead(t, f, acme, deliveryLink[1])
	rc.answer(http.StatusOK, `{"received":true}`)
	require.Contains(t, dead.body, `id="retry"`)
	retried := acme.post(deliveryLink[1]+"/retry", nil)
	require.Equal(t, http.StatusSeeOther, retried.status, retried.body)
	assert.Equal(t, webhook.StateSucceeded, f.outcome().Delivery.State)
	d = acme.get(deliveryLink[1])
	assert.Equal(t, "Delivery queued again.", d.flash())
	assert.Contains(t, d.body, `<td class="state">succeeded</td>`)
	assert.Equal(t, 3, strings.Count(d.body, `class="attempt"`))
	assert.Contains(t, d.body, "&#34;received&#34;: true")
	again := acme.post(deliveryLink[1]+"/retry", nil)
	assert.Equal(t, http.StatusConflict, again.status, "only a dead delivery is retried")

	resent := acme.post("/messages/"+msg.ID+"/resend", url.Values{"endpoint_id": {e.ID}})
	require.Equal(t, http.StatusSeeOther, resent.status, resent.body)
	assert.Regexp(t, `^messages/`+msg.ID+`/deliveries/`, resent.location())
	assert.NotEqual(t, deliveryLink[1], resent.location())
	assert.Equal(t, webhook.StateSucceeded, f.outcome().Delivery.State)
	d = acme.get(resent.location())
	assert.Equal(t, "Message queued to the endpoint again.", d.flash())
	assert.Contains(t, d.body, `<td class="status">200</td>`)

	replayed := acme.post("/endpoints/"+e.ID+"/replay", url.Values{"since": {time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04")}})
	require.Equal(t, http.StatusSeeOther, replayed.status, replayed.body)
	assert.Equal(t, "1 message queued again.", acme.get(replayed.location()).flash())
	f.outcome()
	missing := acme.post("/endpoints/"+e.ID+"/replay", url.Values{"only_missing": {"on"}})
	assert.Equal(t, "0 messages queued again.", acme.get(missing.location()).flash(), "it has every message")
	recovered := acme.post("/endpoints/"+e.ID+"/recover", url.Values{})
	require.Equal(t, http.StatusSeeOther, recovered.status, recovered.body)
	assert.Equal(t, "0 failed deliveries queued again.", acme.get(recovered.location()).flash())

	// Five attempts so far: two failed, three succeeded.
	for _, path := range []string{"/", "/endpoints/" + e.ID} {
		page := acme.get(path)
		require.Equal(t, http.StatusOK, page.status, page.body)
		assert.Contains(t, page.body, "5 attempts in the last 24 hours, 60% succeeded.", path)
		assert.Contains(t, page.body, `<title id="`, path)
		assert.Regexp(t, `<rect class="bar s-ok"[^>]*><title>\d\d:00 · succeeded: 60%</title>`, page.body, path)
		assert.Regexp(t, `<rect class="bar s-p95"[^>]*><title>\d\d:00 · p95: [0-9.]+(µs|ms|s)</title>`, page.body, path)
		week := acme.get(path + "?period=7d")
		assert.Contains(t, week.body, "5 attempts in the last 7 days, 60% succeeded.", path)
	}
	assert.Contains(t, f.as("globex").get("/").body, "No delivery attempts in the last 24 hours.")

	states := acme.get("/endpoints/" + e.ID + "?state=dead")
	assert.Contains(t, states.body, "No deliveries dead.")
}

// waitDead reloads a delivery's page until the worker has made its last
// attempt.
func waitDead(t *testing.T, f *fixture, u *user, path string) answer {
	t.Helper()
	for {
		o := f.outcome()
		if o.Delivery.State == webhook.StateDead {
			page := u.get(path)
			require.Contains(t, page.body, `<td class="state">dead</td>`)
			return page
		}
	}
}

// TestEveryListPages follows every list's next-page links to its end:
// each row once, in order, however many pages.
func TestEveryListPages(t *testing.T) {
	f := newFixture(t, newDispatcher(t), webhookportal.Options{})
	acme := f.as("acme")
	rc := newReceiver(t)
	var ids []string
	for range 5 {
		e, _ := acme.createEndpoint(url.Values{"url": {rc.srv.URL}, "event_types": {"invoice.paid"}})
		ids = append(ids, e.ID)
	}
	assert.Equal(t, endpointIDs(t, f.d, "acme"), walk(t, acme, "/?limit=2", `id="endpoint-([^"]+)"`))

	for i := range 3 {
		f.send("acme", "invoice.paid", `{"n":`+string(rune('0'+i))+`}`, 5)
	}
	kept, err := f.d.Messages(context.Background(), "acme", webhook.MessageFilter{})
	require.NoError(t, err)
	var msgs []string
	for _, m := range kept {
		msgs = append(msgs, m.ID)
	}
	require.Len(t, msgs, 3)
	assert.Equal(t, msgs, walk(t, acme, "/messages?limit=2&event_type=invoice.paid", `id="message-([^"]+)"`))
	assert.Len(t, walk(t, acme, "/messages/"+msgs[0]+"?limit=2", `id="delivery-([^"]+)"`), 5, "one delivery per endpoint")
	assert.Len(t, walk(t, acme, "/endpoints/"+ids[0]+"?limit=1", `id="delivery-([^"]+)"`), 3, "one delivery per message")
}

// endpointIDs lists the tenant's endpoints' IDs, in the dispatcher's
// order.
func endpointIDs(t *testing.T, d *webhook.Dispatcher, tenant string) []string {
	eps, err := d.ListEndpoints(context.Background(), tenant)
	require.NoError(t, err)
	var ids []string
	for _, e := range eps {
		ids = append(ids, e.ID)
	}
	return ids
}

// walk follows a list's next-page links and returns the IDs its pages
// show, in order.
func walk(t *testing.T, u *user, path, row string) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		require.Less(t, pages, 50, "the pages never end")
		page := u.get(path)
		require.Equal(t, http.StatusOK, page.status, page.body)
		for _, m := range regexp.MustCompile(row).FindAllStringSubmatch(page.body, -1) {
			ids = append(ids, m[1])
		}
		next := regexp.MustCompile(`class="next" href="\?([^"]+)"`).FindStringSubmatch(page.body)
		if next == nil {
			return ids
		}
		path = strings.SplitN(path, "?", 2)[0] + "?" + html.UnescapeString(next[1])
	}
}
