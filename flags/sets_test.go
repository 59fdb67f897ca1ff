package flags_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/internal/await"
)

// setsDocument has top-level flags and two named sets that share the
// key "banner".
const setsDocument = `{
  "flags": {"maintenance": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}},
  "sets": {
    "frontend": {
      "metadata": {"team": "web"},
      "flags": {
        "banner": {"state": "ENABLED", "variants": {"a": "hello", "b": "bonjour"}, "defaultVariant": "a",
          "targeting": {"if": [{"==": [{"var": "lang"}, "fr"]}, "b"]}},
        "dark-mode": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}
      }
    },
    "backend": {
      "flags": {
        "banner": {"state": "ENABLED", "variants": {"x": 1, "y": 2}, "defaultVariant": "x"},
        "batch-size": {"state": "ENABLED", "variants": {"small": 10, "big": 1000}, "defaultVariant": "big"}
      }
    }
  }
}`

func TestEvaluateAnyType(t *testing.T) {
	set, err := flags.Parse([]byte(`{"flags": {
		"b": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
		"s": {"state": "ENABLED", "variants": {"x": "ex"}, "defaultVariant": "x"},
		"n": {"state": "ENABLED", "variants": {"x": 2.5}, "defaultVariant": "x"},
		"o": {"state": "ENABLED", "variants": {"x": {"k": [1, 2]}}, "defaultVariant": "x"},
		"off": {"state": "DISABLED", "variants": {"x": 1}, "defaultVariant": "x"},
		"none": {"state": "ENABLED", "variants": {"x": 1}}
	}}`))
	require.NoError(t, err)
	ev := flags.NewEvaluator(set, flags.Options{})
	for _, tc := range []struct {
		key    string
		want   any
		reason flags.Reason
		code   flags.ErrorCode
	}{
		{"b", true, flags.ReasonStatic, 0},
		{"s", "ex", flags.ReasonStatic, 0},
		{"n", 2.5, flags.ReasonStatic, 0},
		{"o", map[string]any{"k": []any{1.0, 2.0}}, flags.ReasonStatic, 0},
		{"off", nil, flags.ReasonDisabled, 0},
		{"none", nil, flags.ReasonDefault, 0},
		{"missing", nil, flags.ReasonError, flags.FlagNotFound},
	} {
		v, d := ev.Evaluate(tc.key, nil)
		assert.Equal(t, tc.want, v, tc.key)
		assert.Equal(t, tc.reason, d.Reason, tc.key)
		assert.Equal(t, tc.code, d.ErrorCode, tc.key)
	}
	all := ev.EvaluateAll(nil, nil)
	keys := make([]string, len(all))
	for i, e := range all {
		keys[i] = e.Key
		v, d := ev.Evaluate(e.Key, nil)
		assert.Equal(t, v, e.Value, e.Key)
		assert.Equal(t, d, e.Detail, e.Key)
	}
	assert.Equal(t, []string{"b", "n", "none", "o", "off", "s"}, keys)
}

func TestEvaluateAllocatesNothing(t *testing.T) {
	set, err := flags.Parse([]byte(setsDocument))
	require.NoError(t, err)
	ev := flags.NewEvaluator(set, flags.Options{Sets: []string{"frontend"}})
	ctx := map[string]any{"lang": "fr"}
	buf := ev.EvaluateAll(ctx, nil)
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = ev.Evaluate("banner", ctx) }))
	assert.Zero(t, testing.AllocsPerRun(100, func() { buf = ev.EvaluateAll(ctx, buf[:0]) }))
}

func TestFlagSetsServeTheirFlags(t *testing.T) {
	set, err := flags.Parse([]byte(setsDocument))
	require.NoError(t, err)
	assert.Equal(t, []string{"backend", "frontend"}, set.FlagSets())

	front := flags.NewEvaluator(set, flags.Options{Sets: []string{"frontend"}})
	assert.Equal(t, []string{"banner", "dark-mode"}, front.Current().Keys())
	v, d := front.Evaluate("banner", map[string]any{"lang": "fr"})
	assert.Equal(t, "bonjour", v)
	assert.Equal(t, "frontend", d.FlagSet)
	assert.Equal(t, map[string]any{"team": "web", "flagSetId": "frontend"}, d.Metadata)
	_, d = front.Evaluate("maintenance", nil)
	assert.Equal(t, flags.FlagNotFound, d.ErrorCode, "a set serves only its own flags")

	back := flags.NewEvaluator(set, flags.Options{Sets: []string{"backend", ""}})
	assert.Equal(t, []string{"banner", "batch-size", "maintenance"}, back.Current().Keys())
	n, d := back.Int("banner", nil, 0)
	assert.Equal(t, int64(1), n)
	assert.Equal(t, "backend", d.FlagSet)
	_, d = back.Bool("maintenance", nil, true)
	assert.Equal(t, "", d.FlagSet)

	plain, err := flags.Parse([]byte(`{"flags": {"a": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"}}}`))
	require.NoError(t, err)
	assert.Same(t, plain, flags.NewEvaluator(plain, flags.Options{}).Current(), "a document without sets is served as it is")
}

func TestFlagSetsSharingAKeyAreRefused(t *testing.T) {
	set, err := flags.Parse([]byte(setsDocument))
	require.NoError(t, err)
	_, err = set.Select("frontend", "backend")
	require.ErrorIs(t, err, flags.ErrDuplicateKey)
	assert.Contains(t, err.Error(), `flag "banner" is in set "frontend" and in set "backend"`)
	_, err = set.Select()
	assert.ErrorIs(t, err, flags.ErrDuplicateKey, "every set by default")
	_, err = set.Select("mobile")
	assert.ErrorIs(t, err, flags.ErrNotFound)

	ev := flags.NewEvaluator(nil, flags.Options{Sets: []string{"frontend", "backend"}})
	_, err = ev.Replace(set)
	assert.ErrorIs(t, err, flags.ErrDuplicateKey)
	assert.Empty(t, ev.Current().Keys(), "nothing served")
}

func TestFlagSetErrorsNameTheSet(t *testing.T) {
	_, err := flags.Parse([]byte(`{"flags": {}, "sets": {"web": {"flags": {"x": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "b"}}}}}`))
	var de *flags.DefinitionError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "/sets/web/flags/x/defaultVariant", de.Path)
	_, err = flags.Parse([]byte(`{"flags": {}, "sets": {"web": {"flags": {}, "sets": {"deeper": {"flags": {}}}}}}`))
	assert.ErrorContains(t, err, "flag sets do not nest")
}

func TestEditChangesAFlagOfASet(t *testing.T) {
	set, err := flags.Parse([]byte(setsDocument))
	require.NoError(t, err)
	ev := flags.NewEvaluator(set, flags.Options{Sets: []string{"frontend"}})
	var heard []string
	ev.OnChange(func(changed []string) { heard = append(heard, changed...) })
	require.NoError(t, ev.Edit(func(d *flags.Definitions) error {
		front := d.Sets["frontend"]
		if err := front.SetState("dark-mode", flags.Disabled); err != nil {
			return err
		}
		d.Sets["frontend"] = front
		b := d.Sets["backend"]
		b.Flags["batch-size"] = flags.Flag{State: flags.Disabled, Variants: map[string]any{"one": 1}}
		return nil
	}))
	assert.Equal(t, []string{"dark-mode"}, heard, "a change to a set not served is not heard")
	_, d := ev.Bool("dark-mode", nil, false)
	assert.Equal(t, flags.ReasonDisabled, d.Reason)
	assert.Contains(t, ev.Current().Keys(), "banner", "the rest of the document stays")
}

// Flag sets travel through file and HTTP sources as part of the document.
func TestFlagSetsThroughSources(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flags.json")
	require.NoError(t, os.WriteFile(path, []byte(setsDocument), 0o600))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(setsDocument))
	}))
	t.Cleanup(srv.Close)
	for name, src := range map[string]flags.Source{"file": flags.FileSource{Path: path}, "http": &flags.HTTPSource{URL: srv.URL}} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			ev := flags.NewEvaluator(nil, flags.Options{Sets: []string{"backend"}})
			done := make(chan struct{})
			go func() { defer close(done); _ = flags.Sync(ctx, ev, src, flags.SyncOptions{}) }()
			t.Cleanup(func() { cancel(); <-done })
			await.True(t, func() bool { return len(ev.Current().Keys()) == 2 })
			n, _ := ev.Int("batch-size", nil, 0)
			assert.Equal(t, int64(1000), n)
		})
	}
}

// A document whose served sets share a key is an error of the sync,
// and the last good definitions stay.
func TestSyncRefusesSetsSharingAKey(t *testing.T) {
	src := &memSource{doc: []byte(setsDocument)}
	ev := flags.NewEvaluator(nil, flags.Options{Sets: []string{"frontend", "backend"}})
	ctx, cancel := context.WithCancel(context.Background())
	states := make(chan flags.Status, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = flags.Sync(ctx, ev, src, flags.SyncOptions{OnStatus: func(s flags.Status) { states <- s }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	st := <-states
	assert.Equal(t, flags.StateError, st.State)
	assert.ErrorIs(t, st.Err, flags.ErrDuplicateKey)
}

type memSource struct{ doc []byte }

func (m *memSource) Load(context.Context) ([]byte, error)           { return m.doc, nil }
func (m *memSource) Watch(context.Context) (<-chan struct{}, error) { return nil, nil }
