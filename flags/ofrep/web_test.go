package ofrep_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/flags/ofrep"
	"github.com/saaskit/saaskit/internal/await"
	"github.com/saaskit/saaskit/internal/headless"
	"github.com/saaskit/saaskit/internal/ofrepweb"
)

// The OpenFeature web SDK's OFREP provider, in Chromium, evaluates the
// frontend set: bulk evaluation at start, a boolean and a string flag,
// and polling that revalidates with the ETag (304) until a flag
// changes (200, and the page sees the new value).
func TestWebProvider(t *testing.T) {
	exe := headless.Chromium(t)
	modules := ofrepweb.Modules(t)
	ev := newEvaluator(t)
	var seen ofrepweb.Revalidations
	h := ofrep.NewHandler(ev, ofrep.Options{Sets: []string{"frontend"}})
	srv := httptest.NewServer(ofrepweb.Handler(modules, seen.Wrap(asTenant(acme, acme, h))))
	t.Cleanup(srv.Close)

	b := ofrepweb.Open(t, exe, srv.URL+ofrepweb.PagePath)
	await.True(t, func() bool {
		require.Empty(t, ofrepweb.Eval[[]string](b, `window.errors`))
		return ofrepweb.Eval[bool](b, `window.ready === true`)
	}, "the provider becomes ready")

	assert.True(t, ofrepweb.Eval[bool](b, `client.getBooleanValue('new-nav', false)`), "acme's tenant targeting")
	assert.Equal(t, "bonjour", ofrepweb.Eval[string](b, `client.getStringValue('greeting', 'none')`))
	assert.Equal(t, "TARGETING_MATCH", ofrepweb.Eval[string](b, `client.getStringDetails('greeting', 'none').reason`))
	assert.Equal(t, "fr", ofrepweb.Eval[string](b, `client.getStringDetails('greeting', 'none').variant`))
	assert.Equal(t, 50.0, ofrepweb.Eval[float64](b, `client.getNumberValue('page-size', 0)`))
	assert.Equal(t, "frontend", ofrepweb.Eval[string](b, `client.getBooleanDetails('new-nav', false).flagMetadata.flagSetId`))
	assert.Equal(t, "code default", ofrepweb.Eval[string](b, `client.getStringValue('killed', 'code default')`), "a disabled flag")
	assert.Equal(t, "FLAG_NOT_FOUND", ofrepweb.Eval[string](b, `client.getNumberDetails('batch', 0).errorCode`), "the backend set is not served")

	await.True(t, func() bool { return seen.Saw(http.StatusNotModified) }, "polling revalidates with the ETag")
	changes := ofrepweb.Eval[int](b, `window.changes`)
	require.NoError(t, ev.Edit(func(d *flags.Definitions) error {
		front := d.Sets["frontend"]
		front.Flags["greeting"].Variants["fr"] = "salut"
		delete(front.Flags, "broken")
		return nil
	}))
	await.True(t, func() bool {
		return ofrepweb.Eval[string](b, `client.getStringValue('greeting', 'none')`) == "salut"
	}, "the page sees the change")
	assert.True(t, seen.Saw(http.StatusOK), "a changed ETag gives the new evaluations")
	assert.Greater(t, ofrepweb.Eval[int](b, `window.changes`), changes, "the provider reported a configuration change")
}
