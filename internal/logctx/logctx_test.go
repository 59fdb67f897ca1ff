package logctx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"testing/slogtest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/logctx"
)

type idKey struct{}

// addID adds the context's "id" attribute.
func addID(ctx context.Context, add func(slog.Attr)) {
	if id, ok := ctx.Value(idKey{}).(string); ok {
		add(slog.String("id", id))
	}
}

func TestSlogHandlerRules(t *testing.T) {
	var buf bytes.Buffer
	slogtest.Run(t, func(*testing.T) slog.Handler {
		buf.Reset()
		return logctx.New(slog.NewJSONHandler(&buf, nil), addID)
	}, func(t *testing.T) map[string]any {
		var m map[string]any
		require.NoError(t, json.Unmarshal(buf.Bytes(), &m))
		return m
	})
}

func TestContextAttrsStayOutsideGroupsAndAreAddedOnce(t *testing.T) {
	var buf bytes.Buffer
	inner := logctx.New(slog.NewJSONHandler(&buf, nil), addID)
	logger := slog.New(logctx.New(inner, addID)).With("a", 1).WithGroup("http").With("b", 2).WithGroup("empty")
	ctx := context.WithValue(context.Background(), idKey{}, "acme")
	logger.InfoContext(ctx, "hello", "c", 3)
	var m map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &m))
	assert.Equal(t, "acme", m["id"])
	assert.Equal(t, float64(1), m["a"])
	assert.Equal(t, map[string]any{"b": float64(2), "empty": map[string]any{"c": float64(3)}}, m["http"])
	assert.Equal(t, 1, bytes.Count(buf.Bytes(), []byte(`"id"`)), "the id once, though two wrappers add it: %s", buf.String())
}
