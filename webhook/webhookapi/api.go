package webhookapi

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/saaskit/saaskit/problem"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/webhook"
)

// OpenAPI is the API's OpenAPI 3.1 document, served at GET /openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

// Options configure a Handler.
type Options struct {
	// Tenant returns the tenant a request acts for, or an error, which
	// is answered 401. Default: the tenant of the authenticated
	// principal in the request's context (tenancy.PrincipalFromContext),
	// never one a header or host names.
	Tenant func(r *http.Request) (string, error)
	// ReadScope and WriteScope, when set, are the principal scopes a
	// reading and a changing request need (403 without). They apply to
	// the default Tenant only. Default: none needed.
	ReadScope, WriteScope string
	// MaxBody caps request bodies. Default 64 KiB.
	MaxBody int64
}

// Handler serves the webhook management API for the tenant of each
// request. Mount it under a prefix with http.StripPrefix.
type Handler struct {
	d    *webhook.Dispatcher
	opts Options
	mux  *http.ServeMux
}

// New returns the API over d.
func New(d *webhook.Dispatcher, opts Options) *Handler {
	if opts.MaxBody <= 0 {
		opts.MaxBody = 64 << 10
	}
	h := &Handler{d: d, opts: opts, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(OpenAPI)
	})
	for _, rt := range []struct {
		pattern string
		write   bool
		serve   func(ctx context.Context, tenant string, r *http.Request) (int, any, error)
	}{
		{"GET /event-types", false, h.eventTypes},
		{"GET /endpoints", false, h.listEndpoints},
		{"POST /endpoints", true, h.createEndpoint},
		{"GET /endpoints/{id}", false, h.getEndpoint},
		{"PUT /endpoints/{id}", true, h.updateEndpoint},
		{"DELETE /endpoints/{id}", true, h.deleteEndpoint},
		{"POST /endpoints/{id}/disable", true, h.disableEndpoint},
		{"POST /endpoints/{id}/enable", true, h.enableEndpoint},
		{"POST /endpoints/{id}/rotate-secret", true, h.rotateSecret},
		{"POST /endpoints/{id}/recover", true, h.recoverEndpoint},
		{"POST /endpoints/{id}/replay", true, h.replay},
		{"GET /messages", false, h.listMessages},
		{"POST /messages/{id}/resend", true, h.resend},
		{"GET /deliveries", false, h.listDeliveries},
		{"GET /deliveries/{id}/attempts", false, h.attempts},
		{"POST /deliveries/{id}/retry", true, h.retry},
	} {
		h.mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			tenant, status, err := h.tenant(r, rt.write)
			if err != nil {
				writeProblem(w, status, err.Error())
				return
			}
			if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
				writeProblem(w, http.StatusBadRequest, "query: "+err.Error())
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, h.opts.MaxBody)
			status, body, err := rt.serve(r.Context(), tenant, r)
			if err != nil {
				status, detail := statusOf(err)
				writeProblem(w, status, detail)
				return
			}
			writeJSON(w, status, body)
		})
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "no such route: see openapi.json")
	})
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// tenant returns the request's tenant, or the status and error to
// answer.
func (h *Handler) tenant(r *http.Request, write bool) (string, int, error) {
	if h.opts.Tenant != nil {
		tenant, err := h.opts.Tenant(r)
		if err != nil || tenant == "" {
			return "", http.StatusUnauthorized, errors.New("authentication required")
		}
		return tenant, 0, nil
	}
	p, ok := tenancy.PrincipalFromContext(r.Context())
	if !ok || p.Tenant == nil {
		return "", http.StatusUnauthorized, errors.New("authentication required")
	}
	scope := h.opts.ReadScope
	if write {
		scope = h.opts.WriteScope
	}
	if scope != "" && !p.HasScope(scope) {
		return "", http.StatusForbidden, fmt.Errorf("the credential lacks the scope %q", scope)
	}
	return p.Tenant.ID, 0, nil
}

// statusOf maps a dispatcher error to a status and the detail to show.
func statusOf(err error) (int, string) {
	var bad *badRequest
	switch {
	case errors.As(err, &bad):
		return http.StatusBadRequest, bad.Error()
	case errors.Is(err, webhook.ErrNotFound):
		return http.StatusNotFound, "not found"
	case errors.Is(err, webhook.ErrConflict):
		return http.StatusConflict, err.Error()
	case errors.Is(err, webhook.ErrInvalid), errors.Is(err, webhook.ErrInvalidURL), errors.Is(err, webhook.ErrUnknownEventType):
		return http.StatusUnprocessableEntity, err.Error()
	case errors.Is(err, webhook.ErrUnsupported):
		return http.StatusNotImplemented, "not supported by this deployment's queue"
	}
	return http.StatusInternalServerError, "internal error" // the cause is not the caller's to read
}

// badRequest is input the API cannot read: malformed JSON, a bad
// cursor or query parameter.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func badf(format string, args ...any) error { return &badRequest{fmt.Sprintf(format, args...)} }

func writeProblem(w http.ResponseWriter, status int, detail string) {
	problem.Write(w, problem.Details{Status: status, Detail: detail})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	if body == nil {
		w.WriteHeader(status)
		return
	}
	b, err := json.Marshal(body)
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// decode reads the request's JSON body into v, refusing unknown fields
// and trailing data.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return badf("request body is larger than %d bytes", tooBig.Limit)
		}
		return badf("request body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badf("request body: one JSON object expected")
	}
	return nil
}

// page is one page of a list, and the cursor of the next (nil: none).
type page[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// pageOf reads the limit and cursor query parameters.
func pageOf(r *http.Request) (int, *cursor, error) {
	limit, err := limitOf(r)
	if err != nil {
		return 0, nil, err
	}
	after, err := cursorOf(r)
	return limit, after, err
}

// limitOf reads the limit query parameter: 1 to 100, default 50.
func limitOf(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		return 0, badf("limit must be an integer from 1 to 100")
	}
	return n, nil
}

// timeOf reads an RFC 3339 query parameter; zero when absent.
func timeOf(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badf("%s must be an RFC 3339 time", name)
	}
	return t, nil
}

// cursor is what a next_cursor encodes: the last item of a page.
type cursor struct {
	ID string    `json:"i"`
	At time.Time `json:"t,omitzero"`
}

func encodeCursor(c cursor) *string {
	b, _ := json.Marshal(c) // a string and a time always encode
	s := base64.RawURLEncoding.EncodeToString(b)
	return &s
}

// cursorOf reads the cursor query parameter; nil when absent.
func cursorOf(r *http.Request) (*cursor, error) {
	v := r.URL.Query().Get("cursor")
	if v == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	var c cursor
	if err != nil || json.Unmarshal(b, &c) != nil || c.ID == "" || !utf8.ValidString(c.ID) {
		return nil, badf("cursor is not one this API gave")
	}
	return &c, nil
}
