package observability_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/saaskit/saaskit/observability"
	"github.com/saaskit/saaskit/tenancy"
)

// Logs carry the tenant (and, inside a span, the trace) and never the
// secrets.
func ExampleLogHandler() {
	var buf bytes.Buffer
	plain := slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	logger := slog.New(observability.LogHandler(plain, observability.LogOptions{}))
	ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "acme"})
	logger.InfoContext(ctx, "key created", "api_key", "sk_live_abc", "scopes", "read")
	fmt.Print(strings.TrimSpace(buf.String()))
	// Output: level=INFO msg="key created" api_key=[REDACTED] scopes=read tenant.id=acme
}
