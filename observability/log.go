package observability

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/saaskit/saaskit/internal/logctx"
	"github.com/saaskit/saaskit/tenancy"
)

// DefaultRedact are the attribute keys LogHandler redacts by default,
// compared case-insensitively, with '-' and '_' ignored.
var DefaultRedact = []string{"authorization", "proxy-authorization", "cookie", "set-cookie", "password", "secret",
	"token", "access_token", "refresh_token", "api_key", "apikey", "x-api-key", "client_secret", "private_key"}

// Redacted replaces a redacted attribute's value.
const Redacted = "[REDACTED]"

// LogOptions configure LogHandler.
type LogOptions struct {
	// Redact are attribute keys whose values are replaced with Redacted,
	// at any depth of groups. Default DefaultRedact.
	Redact []string
}

// LogHandler wraps any slog.Handler: each record gains trace_id and
// span_id of the span in its context and tenant.id of the tenant in it
// (package tenancy), so ordinary logs join traces; attributes with
// secret-looking keys are redacted.
func LogHandler(inner slog.Handler, opts LogOptions) slog.Handler {
	keys := opts.Redact
	if keys == nil {
		keys = DefaultRedact
	}
	redact := make(map[string]bool, len(keys))
	for _, k := range keys {
		redact[normalizeKey(k)] = true
	}
	return &logHandler{inner: logctx.New(inner, addTraceAndTenant), redact: redact}
}

// addTraceAndTenant adds the trace_id and span_id of ctx's span, and
// the tenant.id of its tenant.
func addTraceAndTenant(ctx context.Context, add func(slog.Attr)) {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		add(slog.String("trace_id", sc.TraceID().String()))
		add(slog.String("span_id", sc.SpanID().String()))
	}
	if id := tenancy.IDFromContext(ctx); id != "" {
		add(slog.String(tenancy.AttrKey, id))
	}
}

type logHandler struct {
	inner  slog.Handler
	redact map[string]bool
}

// normalizeKey lowercases k and drops '-' and '_'.
func normalizeKey(k string) string {
	return string(appendNormalized(nil, k))
}

func appendNormalized(buf []byte, k string) []byte {
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case c == '-' || c == '_':
		case 'A' <= c && c <= 'Z':
			buf = append(buf, c+'a'-'A')
		default:
			buf = append(buf, c)
		}
	}
	return buf
}

// secret reports whether key is one to redact, without allocating for
// the usual short keys.
func (h *logHandler) secret(key string) bool {
	var stack [64]byte
	return h.redact[string(appendNormalized(stack[:0], key))]
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	out := r
	if h.hasSecret(r) { // rebuild only the records that need it
		out = slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
		r.Attrs(func(a slog.Attr) bool {
			out.AddAttrs(h.clean(a))
			return true
		})
	}
	return h.inner.Handle(ctx, out)
}

// hasSecret reports whether any attribute of r needs redacting.
func (h *logHandler) hasSecret(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = h.needsCleaning(a)
		return !found
	})
	return found
}

func (h *logHandler) needsCleaning(a slog.Attr) bool {
	switch {
	case h.secret(a.Key):
		return true
	case a.Value.Kind() == slog.KindGroup:
		for _, g := range a.Value.Group() {
			if h.needsCleaning(g) {
				return true
			}
		}
	case a.Value.Kind() == slog.KindLogValuer:
		return true // resolve it in clean
	case a.Value.Kind() == slog.KindAny:
		_, isHeader := a.Value.Any().(http.Header)
		return isHeader
	}
	return false
}

// clean redacts a secret attribute, looking inside groups.
func (h *logHandler) clean(a slog.Attr) slog.Attr {
	if h.secret(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	if a.Value.Kind() == slog.KindGroup {
		group := a.Value.Group()
		cleaned := make([]any, len(group))
		for i, g := range group {
			cleaned[i] = h.clean(g)
		}
		return slog.Group(a.Key, cleaned...)
	}
	if a.Value.Kind() == slog.KindLogValuer {
		return h.clean(slog.Attr{Key: a.Key, Value: a.Value.Resolve()})
	}
	if hdr, ok := a.Value.Any().(http.Header); ok && a.Value.Kind() == slog.KindAny {
		// Logged headers are the usual way an Authorization leaks.
		fields := make([]any, 0, len(hdr))
		for _, k := range slices.Sorted(maps.Keys(hdr)) {
			fields = append(fields, h.clean(slog.String(k, strings.Join(hdr[k], ", "))))
		}
		return slog.Group(a.Key, fields...)
	}
	return a
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	cleaned := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		cleaned[i] = h.clean(a)
	}
	return &logHandler{inner: h.inner.WithAttrs(cleaned), redact: h.redact}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{inner: h.inner.WithGroup(name), redact: h.redact}
}
