package flags_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/log/embedded"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/internal/await"
)

const providerDefinitions = `{
  "metadata": {"flagSetId": "billing"},
  "flags": {
    "dark-mode": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
      "targeting": {"if": [{"==": [{"var": "plan"}, "pro"]}, "on"]}, "metadata": {"owner": "web", "version": 3}},
    "greeting": {"state": "ENABLED", "variants": {"hi": "hi", "yo": "yo"}, "defaultVariant": "hi"},
    "limit": {"state": "ENABLED", "variants": {"small": 10, "big": 1000}, "defaultVariant": "big"},
    "ratio": {"state": "ENABLED", "variants": {"low": 0.25, "high": 0.75}, "defaultVariant": "low"},
    "layout": {"state": "ENABLED", "variants": {"a": {"cols": 2}, "b": {"cols": 3}}, "defaultVariant": "b"},
    "off": {"state": "DISABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}
  }
}`

// newClient binds a Provider over the definitions to an isolated
// OpenFeature API and returns a client.
func newClient(t *testing.T, p *flags.Provider) *openfeature.Client {
	t.Helper()
	api := isolated.NewAPI()
	require.NoError(t, api.SetProviderAndWait(context.Background(), p))
	t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	return api.NewClient()
}

func mustParse(t testing.TB, doc string) *flags.Set {
	t.Helper()
	set, err := flags.Parse([]byte(doc))
	require.NoError(t, err)
	return set
}

func TestProviderEvaluatesEveryType(t *testing.T) {
	ev := flags.NewEvaluator(mustParse(t, providerDefinitions), flags.Options{})
	c := newClient(t, flags.NewProvider(ev, flags.ProviderOptions{}))
	ctx := context.Background()
	pro := openfeature.NewEvaluationContext("user-1", map[string]any{"plan": "pro"})

	b, err := c.BooleanValueDetails(ctx, "dark-mode", false, pro)
	require.NoError(t, err)
	assert.True(t, b.Value)
	assert.Equal(t, "on", b.Variant)
	assert.Equal(t, openfeature.TargetingMatchReason, b.Reason)
	owner, _ := b.FlagMetadata.GetString("owner")
	assert.Equal(t, "web", owner)
	version, err := b.FlagMetadata.GetInt("version")
	require.NoError(t, err, "whole JSON numbers in metadata read as integers")
	assert.EqualValues(t, 3, version)
	set, _ := b.FlagMetadata.GetString("flagSetId")
	assert.Equal(t, "billing", set, "set metadata reaches every flag")

	s, err := c.StringValueDetails(ctx, "greeting", "x", openfeature.EvaluationContext{})
	require.NoError(t, err)
	assert.Equal(t, "hi", s.Value)
	assert.Equal(t, openfeature.StaticReason, s.Reason)
	i, err := c.IntValueDetails(ctx, "limit", 0, openfeature.EvaluationContext{})
	require.NoError(t, err)
	assert.EqualValues(t, 1000, i.Value)
	f, err := c.FloatValueDetails(ctx, "ratio", 0, openfeature.EvaluationContext{})
	require.NoError(t, err)
	assert.Equal(t, 0.25, f.Value)
	o, err := c.ObjectValueDetails(ctx, "layout", nil, openfeature.EvaluationContext{})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"cols": 3.0}, o.Value)

	off, err := c.BooleanValueDetails(ctx, "off", false, openfeature.EvaluationContext{})
	require.NoError(t, err, "a disabled flag is not an error")
	assert.False(t, off.Value)
	assert.Equal(t, openfeature.DisabledReason, off.Reason)

	missing, err := c.StringValueDetails(ctx, "nope", "fallback", openfeature.EvaluationContext{})
	require.Error(t, err)
	assert.Equal(t, "fallback", missing.Value)
	assert.Equal(t, openfeature.FlagNotFoundCode, missing.ErrorCode)
	mismatch, err := c.IntValueDetails(ctx, "greeting", 7, openfeature.EvaluationContext{})
	require.Error(t, err)
	assert.EqualValues(t, 7, mismatch.Value)
	assert.Equal(t, openfeature.TypeMismatchCode, mismatch.ErrorCode)
}

// TestProviderEmitsChangedKeys: an update reaches OpenFeature handlers
// as PROVIDER_CONFIGURATION_CHANGED naming the changed flags.
func TestProviderEmitsChangedKeys(t *testing.T) {
	ev := flags.NewEvaluator(mustParse(t, providerDefinitions), flags.Options{})
	c := newClient(t, flags.NewProvider(ev, flags.ProviderOptions{}))
	got := make(chan []string, 4)
	handler := func(d openfeature.EventDetails) { got <- d.FlagChanges }
	c.AddHandler(openfeature.ProviderConfigChange, &handler)

	require.NoError(t, ev.SetState("greeting", flags.Disabled))
	assert.Equal(t, []string{"greeting"}, <-got)
}

// TestFileSourceLiveUpdatesAndLastKnownGood runs a Provider over a
// watched file: a change is served at once, a broken file is not, and a
// snapshot serves a cold start when the file is gone.
func TestFileSourceLiveUpdatesAndLastKnownGood(t *testing.T) {
	dir := t.TempDir()
	path, snapshot := filepath.Join(dir, "flags.json"), filepath.Join(dir, "snapshot.json")
	write := func(doc string) {
		tmp := path + ".tmp"
		require.NoError(t, os.WriteFile(tmp, []byte(doc), 0o600))
		require.NoError(t, os.Rename(tmp, path)) // replaced, as deploy tools do
	}
	write(`{"flags": {"banner": {"state": "ENABLED", "variants": {"a": "old", "b": "new"}, "defaultVariant": "a"}}}`)

	var mu sync.Mutex
	var states []flags.SyncState
	ev := flags.NewEvaluator(nil, flags.Options{})
	p := flags.NewProvider(ev, flags.ProviderOptions{
		Source: flags.FileSource{Path: path},
		Sync: flags.SyncOptions{Snapshot: snapshot, Poll: time.Hour, OnStatus: func(s flags.Status) {
			mu.Lock()
			states = append(states, s.State)
			mu.Unlock()
		}},
	})
	c := newClient(t, p)
	ctx := context.Background()
	banner := func() string { return c.String(ctx, "banner", "none", openfeature.EvaluationContext{}) }
	assert.Equal(t, "old", banner(), "Init waited for the first definitions")

	write(`{"flags": {"banner": {"state": "ENABLED", "variants": {"a": "old", "b": "new"}, "defaultVariant": "b"}}}`)
	await.True(t, func() bool { return banner() == "new" })

	write(`{"flags": {"banner": {"state": "ENABLED", "variants": {"a": "old"}, "defaultVariant": "zzz"}}}`)
	await.True(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(states) > 0 && states[len(states)-1] == flags.StateError
	})
	assert.Equal(t, "new", banner(), "an invalid document never replaces the good one")

	// A new process with the file gone starts from the snapshot.
	require.NoError(t, os.Remove(path))
	ev2 := flags.NewEvaluator(nil, flags.Options{})
	c2 := newClient(t, flags.NewProvider(ev2, flags.ProviderOptions{
		Source: flags.FileSource{Path: path}, Sync: flags.SyncOptions{Snapshot: snapshot, Poll: time.Hour},
	}))
	assert.Equal(t, "new", c2.String(ctx, "banner", "none", openfeature.EvaluationContext{}))

	// Without a snapshot, Init fails and says why.
	api := isolated.NewAPI()
	t.Cleanup(func() { _ = api.Shutdown(ctx) })
	err := api.SetProviderAndWait(ctx, flags.NewProvider(flags.NewEvaluator(nil, flags.Options{}), flags.ProviderOptions{
		Source: flags.FileSource{Path: path}, Sync: flags.SyncOptions{Poll: time.Hour},
	}))
	require.Error(t, err)
	assert.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
}

func TestHTTPSourceUsesETags(t *testing.T) {
	var requests, notModified atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("If-None-Match") == `"v1"` {
			notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		_, _ = w.Write([]byte(providerDefinitions))
	}))
	t.Cleanup(srv.Close)
	src := &flags.HTTPSource{URL: srv.URL}
	first, err := src.Load(context.Background())
	require.NoError(t, err)
	second, err := src.Load(context.Background())
	require.NoError(t, err)
	assert.Equal(t, first, second)
	assert.EqualValues(t, 2, requests.Load())
	assert.EqualValues(t, 1, notModified.Load())

	_, err = (&flags.HTTPSource{URL: srv.URL + "/%zz"}).Load(context.Background())
	assert.Error(t, err)
}

// TestExposuresAreDeduplicated: evaluations through the provider record
// one exposure per flag, variant and subject; Track passes events on.
func TestExposuresAreDeduplicated(t *testing.T) {
	var mu sync.Mutex
	var got []flags.Exposure
	exp := flags.NewExposures(0, func(e flags.Exposure) {
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	})
	ev := flags.NewEvaluator(mustParse(t, providerDefinitions), flags.Options{})
	c := newClient(t, flags.NewProvider(ev, flags.ProviderOptions{Exposures: exp}))
	ctx := context.Background()
	for range 3 {
		c.Boolean(ctx, "dark-mode", false, openfeature.NewEvaluationContext("u1", map[string]any{"plan": "pro"}))
		c.Boolean(ctx, "dark-mode", false, openfeature.NewEvaluationContext("u2", map[string]any{"plan": "free"}))
	}
	c.Track(ctx, "checkout", openfeature.NewEvaluationContext("u1", nil), openfeature.NewTrackingEventDetails(42))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 3)
	assert.Equal(t, flags.Exposure{Event: "exposure", Flag: "dark-mode", Variant: "on", TargetingKey: "u1", At: got[0].At}, got[0])
	assert.Equal(t, "off", got[1].Variant)
	assert.Equal(t, "checkout", got[2].Event)
	assert.Equal(t, 42.0, got[2].Value)
}

// recordingLogs is a LoggerProvider whose one logger keeps the records
// emitted.
type recordingLogs struct {
	embedded.LoggerProvider
	logger recordingLogger
}

func (r *recordingLogs) Logger(string, ...log.LoggerOption) log.Logger { return &r.logger }

type recordingLogger struct {
	embedded.Logger
	mu      sync.Mutex
	records []log.Record
}

func (r *recordingLogger) Enabled(context.Context, log.EnabledParameters) bool { return true }
func (r *recordingLogger) Emit(_ context.Context, rec log.Record) {
	r.mu.Lock()
	r.records = append(r.records, rec.Clone())
	r.mu.Unlock()
}

func TestOTelHookEmitsEvaluationEvents(t *testing.T) {
	logs := &recordingLogs{}
	ev := flags.NewEvaluator(mustParse(t, providerDefinitions), flags.Options{})
	c := newClient(t, flags.NewProvider(ev, flags.ProviderOptions{}))
	c.AddHooks(flags.NewOTelHook(logs))
	c.Boolean(context.Background(), "dark-mode", false, openfeature.NewEvaluationContext("u1", map[string]any{"plan": "pro"}))

	logs.logger.mu.Lock()
	defer logs.logger.mu.Unlock()
	require.Len(t, logs.logger.records, 1)
	rec := logs.logger.records[0]
	assert.Equal(t, "feature_flag.evaluation", rec.EventName())
	attrs := map[string]string{}
	rec.WalkAttributes(func(kv attribute.KeyValue) bool {
		attrs[string(kv.Key)] = kv.Value.String()
		return true
	})
	assert.Equal(t, "dark-mode", attrs["feature_flag.key"])
	assert.Equal(t, "on", attrs["feature_flag.result.variant"])
	assert.Equal(t, "targeting_match", attrs["feature_flag.result.reason"])
	assert.Equal(t, "saaskit-flags", attrs["feature_flag.provider.name"])
	assert.Equal(t, "u1", attrs["feature_flag.context.id"])
}

// TestColdStartWithInvalidSourceServesSnapshot: the source holds a bad
// document at start; the snapshot is served, Init succeeds, and the sync
// goes on, so fixing the source takes effect.
func TestColdStartWithInvalidSourceServesSnapshot(t *testing.T) {
	dir := t.TempDir()
	path, snapshot := filepath.Join(dir, "flags.json"), filepath.Join(dir, "snapshot.json")
	require.NoError(t, os.WriteFile(snapshot, []byte(`{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`), 0o600))
	require.NoError(t, os.WriteFile(path, []byte(`{"flags": {"f": {"state": "MAYBE"}}}`), 0o600))
	ev := flags.NewEvaluator(nil, flags.Options{})
	c := newClient(t, flags.NewProvider(ev, flags.ProviderOptions{
		Source: flags.FileSource{Path: path}, Sync: flags.SyncOptions{Snapshot: snapshot, Poll: time.Hour},
	}))
	ctx := context.Background()
	assert.True(t, c.Boolean(ctx, "f", false, openfeature.EvaluationContext{}), "served from the snapshot")
	require.NoError(t, os.WriteFile(path+".tmp", []byte(`{"flags": {"f": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}}}`), 0o600))
	require.NoError(t, os.Rename(path+".tmp", path))
	await.True(t, func() bool { return !c.Boolean(ctx, "f", true, openfeature.EvaluationContext{}) },
		"the sync kept running and serves the fixed source")
}
