package otelsetup_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"

	"github.com/saaskit/saaskit/observability/otelsetup"
)

// TestSetup checks configuration errors, then sets up once with console
// exporters and sees a span written; a second Setup is refused.
func TestSetup(t *testing.T) {
	ctx := context.Background()
	_, err := otelsetup.Setup(ctx, otelsetup.Options{})
	assert.ErrorIs(t, err, otelsetup.ErrInvalidOptions, "a service name is required")
	_, err = otelsetup.Setup(ctx, otelsetup.Options{ServiceName: "demo", Exporter: "carrier-pigeon"})
	assert.ErrorContains(t, err, "carrier-pigeon")
	_, err = otelsetup.Setup(ctx, otelsetup.Options{ServiceName: "demo", Sampling: otelsetup.Sampling{Ratio: 2}})
	assert.ErrorIs(t, err, otelsetup.ErrInvalidOptions)
	t.Setenv("OTEL_TRACES_EXPORTER", "bogus")
	_, err = otelsetup.Setup(ctx, otelsetup.Options{ServiceName: "demo"})
	assert.ErrorContains(t, err, "OTEL_TRACES_EXPORTER", "a bad variable is named")
	t.Setenv("OTEL_TRACES_EXPORTER", "")

	var out syncBuffer
	shutdown, err := otelsetup.Setup(ctx, otelsetup.Options{
		ServiceName: "demo", ServiceVersion: "1.2.3", Environment: "test", Exporter: otelsetup.ExporterStdout, Writer: &out,
	})
	require.NoError(t, err)
	_, span := otel.Tracer("test").Start(ctx, "hello")
	span.End()
	require.NoError(t, shutdown(ctx))
	assert.Contains(t, out.String(), `"Name":"hello"`)
	assert.Contains(t, out.String(), `"Value":"demo"`, "the resource names the service")
	assert.Contains(t, out.String(), "1.2.3")

	_, err = otelsetup.Setup(ctx, otelsetup.Options{ServiceName: "demo"})
	assert.ErrorIs(t, err, otelsetup.ErrAlreadySetup)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
