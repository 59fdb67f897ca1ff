// Package flagstest is the conformance suite of flags.Source: every
// source, ours (FileSource, HTTPSource, the SQL store) or yours, runs it.
//
//	func TestConformance(t *testing.T) {
//		flagstest.RunSourceTests(t, func(t *testing.T) (flags.Source, func(flags.Definitions)) {
//			src := newMySource(t)
//			return src, func(d flags.Definitions) { src.store(t, d) }
//		})
//	}
package flagstest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/internal/await"
)

// NewSource returns a source and a function that stores definitions in
// it, as an operator or a deployment would. The source may start empty
// (Load failing or returning no flags) until the first write.
type NewSource func(t *testing.T) (flags.Source, func(flags.Definitions))

// RunSourceTests runs the suite.
func RunSourceTests(t *testing.T, newSource NewSource) {
	t.Run("LoadReturnsWhatWasWritten", func(t *testing.T) { testLoad(t, newSource) })
	t.Run("SyncServesChanges", func(t *testing.T) { testSync(t, newSource) })
	t.Run("FlagSetsTravel", func(t *testing.T) { testFlagSets(t, newSource) })
}

func definitions(greeting string) flags.Definitions {
	return flags.Definitions{Flags: map[string]flags.Flag{
		"greeting": {State: flags.Enabled, Variants: map[string]any{"hello": "hello", "hi": "hi", "hey": "hey"}, DefaultVariant: greeting},
	}}
}

func testLoad(t *testing.T, newSource NewSource) {
	src, write := newSource(t)
	write(definitions("hello"))
	data, err := src.Load(context.Background())
	require.NoError(t, err)
	set, err := flags.Parse(data)
	require.NoError(t, err, "a source returns a flagd document")
	v, _ := flags.NewEvaluator(set, flags.Options{}).String("greeting", nil, "")
	assert.Equal(t, "hello", v)
}

// testSync runs Sync with its poll set to an hour: changes must reach
// the evaluator through Watch, or, for sources that cannot notify (Watch
// returns nil), the test reloads by polling quickly itself.
func testSync(t *testing.T, newSource NewSource) {
	src, write := newSource(t)
	write(definitions("hello"))
	ctx, cancel := context.WithCancel(context.Background())
	changes, err := src.Watch(ctx)
	require.NoError(t, err)
	poll := time.Hour
	if changes == nil {
		poll = 10 * time.Millisecond
	}
	cancel()

	ev := flags.NewEvaluator(nil, flags.Options{})
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = flags.Sync(ctx, ev, src, flags.SyncOptions{Poll: poll}) }()
	defer func() { cancel(); <-done }()
	greeting := func() string { v, _ := ev.String("greeting", nil, ""); return v }
	// Sync watched before its first load, and a Watch is armed when it
	// returns: no pause is needed before changing the source.
	await.True(t, func() bool { return greeting() == "hello" })
	for _, next := range []string{"hi", "hey"} {
		write(definitions(next))
		await.True(t, func() bool { return greeting() == next }, "change to %q not served", next)
	}
}

// testFlagSets writes a document with named flag sets that share a key:
// it loads with every set, an empty one too, and each set serves its
// own flag.
func testFlagSets(t *testing.T, newSource NewSource) {
	src, write := newSource(t)
	d := definitions("hello")
	d.Sets = map[string]flags.Definitions{
		"frontend": definitions("hi"),
		"backend":  definitions("hey"),
		"mobile":   {Flags: map[string]flags.Flag{}},
	}
	write(d)
	data, err := src.Load(context.Background())
	require.NoError(t, err)
	set, err := flags.Parse(data)
	require.NoError(t, err)
	assert.Equal(t, []string{"backend", "frontend", "mobile"}, set.FlagSets())
	for name, want := range map[string]string{"": "hello", "frontend": "hi", "backend": "hey"} {
		v, d := flags.NewEvaluator(set, flags.Options{Sets: []string{name}}).String("greeting", nil, "")
		assert.Equal(t, want, v, "set %q", name)
		assert.Equal(t, name, d.FlagSet)
	}
}
