package webhookportal_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/headless"
	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/webhookportal"
)

// browser drives a headless Chromium with a fresh profile.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T, exe string) *browser {
	t.Helper()
	return &browser{t: t, ctx: headless.Start(t, exe)}
}

// do runs steps. A step that never happens fails at the test's own time
// limit, not at a deadline of this test's.
func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, steps...))
}

// open loads a page and waits for its body.
func (b *browser) open(url string) {
	b.t.Helper()
	b.do(chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("body")))
}

// click clicks sel, a link or a button that submits a form, and waits
// for the page the server answers with.
func (b *browser) click(sel string) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel))))
	require.NoError(b.t, err, "click %s", sel)
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(b.t, err, "text of %s", sel)
	return strings.TrimSpace(s)
}

// evaluate runs a script in the page and decodes its result.
func evaluate[T any](b *browser, script string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](script))
	require.NoError(b.t, err, "evaluate %s", script)
	return v
}

// drawn is what Chromium drew of an inline SVG chart.
type drawn struct {
	Width, Height float64
	Title         string
	Bars          []string // the bars' titles
	BarsDrawn     int      // bars with a size and a fill on the page
}

func (b *browser) drawnSVG(sel string) drawn {
	b.t.Helper()
	return evaluate[drawn](b, `(() => {
		const svg = document.querySelector(`+strconv.Quote(sel)+`);
		const box = svg.getBoundingClientRect();
		const bars = [...svg.querySelectorAll("rect.bar")];
		return {
			Width: box.width, Height: box.height,
			Title: svg.querySelector("title").textContent,
			Bars: bars.map(r => r.querySelector("title").textContent),
			BarsDrawn: bars.filter(r => r.getBoundingClientRect().height > 0 && getComputedStyle(r).fill.startsWith("rgb(")).length,
		};
	})()`)
}

// TestBrowser drives the portal in headless Chromium, opened from a
// link as a customer would: it creates an endpoint, sees a message's
// attempt with its request and response, resends the message, rotates
// the secret and reads the charts Chromium drew. The page's CSP is
// enforced throughout (a violation would leave the link unopened or the
// styles unapplied). It skips when no Chromium is installed, unless
// SAASKIT_REQUIRE_CHROMIUM is set, as CI sets it.
func TestBrowser(t *testing.T) {
	exe := headless.Chromium(t)
	f := newFixture(t, newDispatcher(t), webhookportal.Options{})
	// Chromium keeps Secure cookies from http://127.0.0.1, a
	// potentially trustworthy origin, so the portal runs as shipped.
	srv := httptest.NewServer(f.authenticate(f.portal))
	t.Cleanup(srv.Close)
	rc := newReceiver(t)
	rc.answer(http.StatusAccepted, `{"ok":true}`)
	b := newBrowser(t, exe)

	link, err := f.portal.Link("acme", time.Minute)
	require.NoError(t, err)
	b.do(chromedp.Navigate(srv.URL+link), chromedp.WaitVisible(chromedp.CSS("#new-endpoint")))
	assert.Equal(t, "Acme Cloud", b.text(".product"))
	location, err := chromedp.Run(b.ctx, chromedp.Location())
	require.NoError(t, err)
	assert.Equal(t, srv.URL+base, location, "the token left the address bar")
	assert.Equal(t, "rgb(217, 72, 15)", evaluate[string](b, `getComputedStyle(document.querySelector("h1")).color`), "the tenant's colour, from theme.css")

	// Create an endpoint.
	b.click("#new-endpoint")
	b.do(chromedp.SetValue(chromedp.CSS("#url"), rc.srv.URL+"/in"), chromedp.Click(chromedp.CSS(`input[value="invoice.paid"]`)))
	b.click("#save")
	secret := b.text("#secret")
	assert.True(t, strings.HasPrefix(secret, "whsec_"), secret)
	b.click("#continue")
	assert.Contains(t, b.text("#endpoint .url"), rc.srv.URL+"/in")
	endpoints, err := f.d.ListEndpoints(context.Background(), "acme")
	require.NoError(t, err)
	require.Len(t, endpoints, 1)

	// A message goes to the receiver; its attempt shows the request
	// and the response.
	msg := f.send("acme", "invoice.paid", `{"invoice":"in_42"}`, 1)
	b.open(srv.URL + base + "messages")
	b.click("#message-" + msg.ID + " a")
	b.click(".deliveries a")
	assert.Equal(t, "succeeded", b.text("#delivery .state"))
	assert.Contains(t, b.text("#request-line"), "POST "+rc.srv.URL+"/in")
	assert.Contains(t, b.text("#request-headers"), msg.ID)
	assert.Contains(t, b.text("#request-body"), `"invoice": "in_42"`)
	assert.Equal(t, "202", b.text("#attempt-0 .status"))
	assert.Contains(t, b.text("#attempt-0 .response"), `"ok": true`)
	assert.Contains(t, b.text("#attempt-0 .sent"), "Webhook-Signature", "the headers the attempt sent")
	assert.Contains(t, b.text("#attempt-0 .received"), "Content-Type", "and the receiver's")

	// Resend it.
	b.click(`a[href$="/messages/` + msg.ID + `"]`)
	b.click("#resend")
	assert.Equal(t, "Message queued to the endpoint again.", b.text("#flash"))
	assert.Equal(t, webhook.StateSucceeded, f.outcome().Delivery.State)
	b.open(srv.URL + base + "messages/" + msg.ID)
	assert.Equal(t, 2, evaluate[int](b, `document.querySelectorAll(".deliveries tr[id]").length`), "the first delivery and the resent one")

	// Rotate the secret: a new one, shown once.
	b.open(srv.URL + base + "endpoints/" + endpoints[0].ID)
	b.click("#rotate")
	rotated := b.text("#secret")
	assert.NotEqual(t, secret, rotated)
	assert.True(t, strings.HasPrefix(rotated, "whsec_"))
	assert.Contains(t, b.text("#overlap"), "keeps signing beside the new one")

	// The charts, as drawn: two attempts, both succeeded.
	for _, c := range []struct{ path, id string }{{"", "all"}, {"endpoints/" + endpoints[0].ID, "endpoint"}} {
		b.open(srv.URL + base + c.path)
		assert.Equal(t, "2 attempts in the last 24 hours, 100% succeeded.", b.text("#"+c.id+"-summary"))
		success := b.drawnSVG("#" + c.id + "-success svg")
		assert.Positive(t, success.Width)
		assert.Positive(t, success.Height)
		assert.Contains(t, success.Title, "2 attempts, 100% succeeded")
		require.Len(t, success.Bars, 1, "one hour with attempts")
		assert.Equal(t, 1, success.BarsDrawn, "bars Chromium did not draw")
		assert.Regexp(t, `^\d\d:00 · succeeded: 100%$`, success.Bars[0])
		latency := b.drawnSVG("#" + c.id + "-latency svg")
		assert.Len(t, latency.Bars, 2, "a p50 and a p95 bar")
		assert.Equal(t, 2, latency.BarsDrawn)
		for _, bar := range latency.Bars {
			assert.Regexp(t, `^\d\d:00 · p(50|95): [0-9.]+(µs|ms|s)$`, bar)
		}
	}

	// Signing out ends the session.
	b.click("#logout")
	assert.Contains(t, b.text("#flash"), "signed out")
	b.open(srv.URL + base)
	assert.Contains(t, b.text("#flash"), "sign in")
}
