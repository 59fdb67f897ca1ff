package tenancy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/slogtest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
)

type propRoundTripFunc func(*http.Request) (*http.Response, error)

func (f propRoundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// propRecorder is a base RoundTripper that records the request it got.
func propRecorder(got **http.Request) http.RoundTripper {
	return propRoundTripFunc(func(r *http.Request) (*http.Response, error) {
		*got = r
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
	})
}

func TestTransport(t *testing.T) {
	acme := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "t-acme", Slug: "acme"})
	tests := []struct {
		name       string
		ctx        context.Context
		header     string      // Transport.Header
		preset     http.Header // headers the caller set
		wantHeader string      // header to check on the outbound request
		want       string
		wantSame   bool // the request reaches the base unchanged (same pointer)
	}{
		{name: "default header", ctx: acme, wantHeader: "X-Tenant-ID", want: "t-acme"},
		{name: "custom header", ctx: acme, header: "X-Org", wantHeader: "X-Org", want: "t-acme"},
		{name: "custom header leaves default unset", ctx: acme, header: "X-Org", wantHeader: "X-Tenant-ID", want: ""},
		{name: "no tenant", ctx: context.Background(), wantHeader: "X-Tenant-ID", want: "", wantSame: true},
		{
			name: "header already set", ctx: acme, preset: http.Header{"X-Tenant-Id": {"t-other"}},
			wantHeader: "X-Tenant-ID", want: "t-other", wantSame: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *http.Request
			tr := &tenancy.Transport{Base: propRecorder(&got), Header: tt.header}
			req, err := http.NewRequestWithContext(tt.ctx, http.MethodGet, "http://svc.internal/x", nil)
			require.NoError(t, err)
			for k, v := range tt.preset {
				req.Header[k] = v
			}
			before := req.Header.Clone()

			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())

			require.NotNil(t, got, "the base RoundTripper was called")
			assert.Equal(t, tt.want, got.Header.Get(tt.wantHeader))
			assert.Equal(t, before, req.Header, "the caller's request is not changed")
			assert.Equal(t, req.URL.String(), got.URL.String())
			assert.Equal(t, tt.ctx, got.Context())
			if tt.wantSame {
				assert.Same(t, req, got)
			}
		})
	}
}

// A hand-built request may have a nil Header; RoundTrip must not panic.
func TestTransportNilHeader(t *testing.T) {
	var got *http.Request
	tr := &tenancy.Transport{Base: propRecorder(&got)}
	ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "t-acme"})
	u, err := url.Parse("http://svc.internal/x")
	require.NoError(t, err)
	req := (&http.Request{Method: http.MethodGet, URL: u}).WithContext(ctx)

	var resp *http.Response
	require.NotPanics(t, func() { resp, err = tr.RoundTrip(req) })
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, "t-acme", got.Header.Get(tenancy.DefaultHeader))
	assert.Nil(t, req.Header, "the caller's request is not changed")
}

func TestTransportEndToEnd(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "["+r.Header.Get("X-Tenant-ID")+"]")
	}))
	defer srv.Close()
	client := &http.Client{Transport: &tenancy.Transport{}}

	get := func(ctx context.Context) string {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(body)
	}
	assert.Equal(t, "[t-acme]", get(tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "t-acme"})))
	assert.Equal(t, "[]", get(context.Background()))
}

func TestContextWithBaggage(t *testing.T) {
	ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "t-acme"})
	assert.Empty(t, tenancy.IDFromBaggage(ctx))

	bctx, err := tenancy.ContextWithBaggage(ctx)
	require.NoError(t, err)
	assert.Equal(t, "t-acme", tenancy.IDFromBaggage(bctx))
	assert.Equal(t, "t-acme", baggage.FromContext(bctx).Member(tenancy.AttrKey).Value())
	assert.Equal(t, "tenant.id", tenancy.AttrKey)
}

func TestContextWithBaggageWithoutTenant(t *testing.T) {
	ctx := context.Background()
	got, err := tenancy.ContextWithBaggage(ctx)
	require.ErrorIs(t, err, tenancy.ErrNoTenant)
	assert.Equal(t, ctx, got)
	assert.Empty(t, tenancy.IDFromBaggage(got))
}

func TestContextWithBaggageKeepsMembers(t *testing.T) {
	user, err := baggage.NewMemberRaw("user.id", "u-1")
	require.NoError(t, err)
	stale, err := baggage.NewMemberRaw(tenancy.AttrKey, "t-stale")
	require.NoError(t, err)
	b, err := baggage.New(user, stale)
	require.NoError(t, err)
	ctx := baggage.ContextWithBaggage(context.Background(), b)
	ctx = tenancy.WithTenant(ctx, &tenancy.Tenant{ID: "t-acme"})

	bctx, err := tenancy.ContextWithBaggage(ctx)
	require.NoError(t, err)
	got := baggage.FromContext(bctx)
	assert.Equal(t, "u-1", got.Member("user.id").Value(), "other members are kept")
	assert.Equal(t, "t-acme", got.Member(tenancy.AttrKey).Value(), "the context's tenant wins")
	assert.Equal(t, 2, got.Len())
}

func TestBaggageThroughW3CPropagator(t *testing.T) {
	ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "t-acme"})
	ctx, err := tenancy.ContextWithBaggage(ctx)
	require.NoError(t, err)

	prop := propagation.Baggage{}
	carrier := propagation.HeaderCarrier(http.Header{})
	prop.Inject(ctx, carrier)
	assert.Contains(t, carrier.Get("baggage"), "tenant.id=t-acme")

	out := prop.Extract(context.Background(), carrier)
	assert.Equal(t, "t-acme", tenancy.IDFromBaggage(out))
	assert.Empty(t, tenancy.IDFromContext(out), "baggage is not a resolved tenant")
}

func TestBaggageResolver(t *testing.T) {
	s := memstore.New()
	reg := tenancy.NewRegistry(s, s, tenancy.Options{})
	defer func() { _ = reg.Close() }()
	_, err := reg.Create(context.Background(), &tenancy.Tenant{ID: "acme", Slug: "acme", Name: "Acme"})
	require.NoError(t, err)
	res := tenancy.Baggage(reg)

	// withBaggage returns a request whose context has baggage tenant.id=id,
	// as otelhttp leaves it after extracting the incoming header.
	withBaggage := func(t *testing.T, id string) *http.Request {
		t.Helper()
		m, err := baggage.NewMemberRaw(tenancy.AttrKey, id)
		require.NoError(t, err)
		b, err := baggage.New(m)
		require.NoError(t, err)
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		return r.WithContext(baggage.ContextWithBaggage(r.Context(), b))
	}

	t.Run("known tenant", func(t *testing.T) {
		tn, err := res.Resolve(withBaggage(t, "acme"))
		require.NoError(t, err)
		require.NotNil(t, tn)
		assert.Equal(t, "acme", tn.ID)
		assert.Equal(t, "Acme", tn.Name)
	})
	t.Run("through the W3C header", func(t *testing.T) {
		ctx, err := tenancy.ContextWithBaggage(tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "acme"}))
		require.NoError(t, err)
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		propagation.Baggage{}.Inject(ctx, propagation.HeaderCarrier(r.Header))
		r = r.WithContext(propagation.Baggage{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
		tn, err := res.Resolve(r)
		require.NoError(t, err)
		require.NotNil(t, tn)
		assert.Equal(t, "acme", tn.ID)
	})
	t.Run("no baggage", func(t *testing.T) {
		tn, err := res.Resolve(httptest.NewRequest(http.MethodGet, "/", nil))
		require.NoError(t, err)
		assert.Nil(t, tn)
	})
	t.Run("unknown tenant", func(t *testing.T) {
		_, err := res.Resolve(withBaggage(t, "globex"))
		assert.ErrorIs(t, err, tenancy.ErrNotFound)
	})
	for name, id := range map[string]string{
		"space":         "ac me",
		"300 chars":     strings.Repeat("a", 300),
		"slash":         "acme/x",
		"percent":       "acme%20",
		"non-ASCII":     "acmé",
		"semicolon":     "acme;x",
		"65 char ID":    strings.Repeat("a", 65),
		"angle bracket": "<acme>",
	} {
		t.Run("malformed "+name, func(t *testing.T) {
			tn, err := res.Resolve(withBaggage(t, id))
			require.ErrorIs(t, err, tenancy.ErrMalformed)
			assert.Nil(t, tn)
		})
	}
}

func TestLogAttr(t *testing.T) {
	ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "t-acme"})
	assert.Equal(t, slog.String("tenant.id", "t-acme"), tenancy.LogAttr(ctx))

	empty := tenancy.LogAttr(context.Background())
	assert.True(t, empty.Equal(slog.Attr{}))

	// slog drops the empty attribute.
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("hi", tenancy.LogAttr(context.Background()))
	rec := propDecodeLogs(t, &buf)
	require.Len(t, rec, 1)
	assert.NotContains(t, rec[0], "")
	assert.NotContains(t, rec[0], "tenant.id")
}

// propDecodeLogs decodes one JSON object per log line.
func propDecodeLogs(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(buf)
	for dec.More() {
		var m map[string]any
		require.NoError(t, dec.Decode(&m))
		out = append(out, m)
	}
	return out
}

// propFindTenant returns the tenant.id value anywhere in a decoded
// record (top level or inside a group).
func propFindTenant(m map[string]any) (string, bool) {
	for k, v := range m {
		if k == "tenant.id" {
			s, ok := v.(string)
			return s, ok
		}
		if g, ok := v.(map[string]any); ok {
			if s, ok := propFindTenant(g); ok {
				return s, true
			}
		}
	}
	return "", false
}

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(tenancy.LogHandler(slog.NewJSONHandler(&buf, nil)))
	ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "t-acme"})

	logger.InfoContext(ctx, "with tenant", "k", "v")
	logger.InfoContext(context.Background(), "without tenant")
	logger.With("svc", "billing").InfoContext(ctx, "with attrs")
	logger.WithGroup("req").InfoContext(ctx, "with group", "path", "/x")
	logger.DebugContext(ctx, "below the level") // Enabled is passed through

	recs := propDecodeLogs(t, &buf)
	require.Len(t, recs, 4)

	assert.Equal(t, "with tenant", recs[0]["msg"])
	assert.Equal(t, "t-acme", recs[0]["tenant.id"])
	assert.Equal(t, "v", recs[0]["k"])

	assert.Equal(t, "without tenant", recs[1]["msg"])
	_, found := propFindTenant(recs[1])
	assert.False(t, found)

	assert.Equal(t, "with attrs", recs[2]["msg"])
	assert.Equal(t, "billing", recs[2]["svc"])
	assert.Equal(t, "t-acme", recs[2]["tenant.id"])

	assert.Equal(t, "with group", recs[3]["msg"])
	id, found := propFindTenant(recs[3])
	assert.True(t, found, "WithGroup keeps adding the tenant")
	assert.Equal(t, "t-acme", id)
}

func TestLogHandlerFollowsSlogRules(t *testing.T) {
	var buf bytes.Buffer
	slogtest.Run(t, func(*testing.T) slog.Handler {
		buf.Reset()
		return tenancy.LogHandler(slog.NewJSONHandler(&buf, nil))
	}, func(t *testing.T) map[string]any {
		var m map[string]any
		require.NoError(t, json.Unmarshal(buf.Bytes(), &m))
		return m
	})
}

func TestLogHandlerKeepsTenantOutsideGroups(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(tenancy.LogHandler(slog.NewJSONHandler(&buf, nil))).WithGroup("http")
	logger.InfoContext(tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "acme"}), "served", "status", 200)
	var m map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &m))
	assert.Equal(t, "acme", m["tenant.id"])
	assert.Equal(t, map[string]any{"status": float64(200)}, m["http"])
}
