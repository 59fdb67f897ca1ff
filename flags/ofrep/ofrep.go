package ofrep

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/tenancy"
)

// Paths of the OFREP endpoints.
const (
	EvaluateFlagPath  = "/ofrep/v1/evaluate/flags/{key}"
	EvaluateFlagsPath = "/ofrep/v1/evaluate/flags"
)

// Error codes of OFREP responses.
const (
	CodeParseError     = "PARSE_ERROR"
	CodeInvalidContext = "INVALID_CONTEXT"
	CodeFlagNotFound   = "FLAG_NOT_FOUND"
	CodeGeneral        = "GENERAL"
)

// Options configure a Handler.
type Options struct {
	// Sets are the flag sets a caller may evaluate ("" for a document's
	// top-level flags); the others answer FLAG_NOT_FOUND and are left
	// out of bulk evaluations. Default: every flag the Evaluator serves.
	Sets []string
	// Public serves requests that no credential authenticated. Default
	// false: a request needs a principal (tenancy.PrincipalFromContext)
	// of the request's tenant, else 401, or 403 for another tenant's.
	Public bool
	// MaxBody caps a request body; a larger one is a PARSE_ERROR.
	// Default 64 KiB.
	MaxBody int64
	// Limit, when set, is asked before each evaluation; when it refuses,
	// the answer is 429 with Retry-After, in whole seconds, rounded up.
	// Default: no limit.
	Limit func(r *http.Request) (retryAfter time.Duration, ok bool)
	// Logger records server faults (500). Default slog.Default().
	Logger *slog.Logger
}

// Handler is an http.Handler serving the OFREP endpoints from an
// Evaluator. Mount it at the root of a mux, or under "/ofrep/".
type Handler struct {
	ev     *flags.Evaluator
	opts   Options
	mux    *http.ServeMux
	pool   sync.Pool // *[]flags.Evaluation
	bodies sync.Pool // *[]byte
}

// NewHandler returns a Handler over ev.
func NewHandler(ev *flags.Evaluator, opts Options) *Handler {
	if opts.MaxBody <= 0 {
		opts.MaxBody = 64 << 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Handler{ev: ev, opts: opts, mux: http.NewServeMux()}
	h.pool.New = func() any { s := make([]flags.Evaluation, 0, 64); return &s }
	h.bodies.New = func() any { b := make([]byte, 0, 4096); return &b }
	h.mux.HandleFunc("POST "+EvaluateFlagPath, h.evaluateFlag)
	h.mux.HandleFunc("POST "+EvaluateFlagsPath, h.evaluateFlags)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.fault(w, r, fmt.Errorf("panic: %v", v))
		}
	}()
	h.mux.ServeHTTP(w, r)
}

// result is an OFREP evaluation: evaluationSuccess, evaluationFailure
// or flagNotFound, and, without a key, bulkEvaluationFailure. It is
// written by appendResult; empty fields are left out.
type result struct {
	Key          string
	Value        any // nil: the code default
	Reason       string
	Variant      string
	ErrorCode    string
	ErrorDetails string
	Metadata     map[string]any // scalars only are written
}

func (h *Handler) evaluateFlag(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	evalCtx, fail := h.request(w, r)
	if fail != nil {
		fail.Key = key
		h.write(w, r, http.StatusBadRequest, fail)
		return
	}
	if evalCtx == nil {
		return // answered
	}
	v, d := h.ev.Evaluate(key, evalCtx)
	if d.ErrorCode == 0 && !h.inScope(d.FlagSet) {
		d = flags.Detail{Reason: flags.ReasonError, ErrorCode: flags.FlagNotFound}
	}
	res := resultOf(key, v, d)
	status := http.StatusOK
	switch d.ErrorCode {
	case 0:
	case flags.FlagNotFound:
		status, res.ErrorDetails = http.StatusNotFound, fmt.Sprintf("flag %q was not found", key)
	default:
		status = http.StatusBadRequest
	}
	h.write(w, r, status, &res)
}

func (h *Handler) evaluateFlags(w http.ResponseWriter, r *http.Request) {
	evalCtx, fail := h.request(w, r)
	if fail != nil {
		h.write(w, r, http.StatusBadRequest, fail)
		return
	}
	if evalCtx == nil {
		return
	}
	buf := h.pool.Get().(*[]flags.Evaluation)
	defer func() {
		clear(*buf) // drop the references to values and metadata
		*buf = (*buf)[:0]
		h.pool.Put(buf)
	}()
	*buf = h.ev.EvaluateAll(evalCtx, (*buf)[:0])
	out := h.bodies.Get().(*[]byte)
	defer h.bodies.Put(out)
	body := append((*out)[:0], `{"flags":[`...)
	first := true
	for i := range *buf {
		e := &(*buf)[i]
		if !h.inScope(e.FlagSet) {
			continue
		}
		if !first {
			body = append(body, ',')
		}
		first = false
		res := resultOf(e.Key, e.Value, e.Detail)
		var err error
		if body, err = appendResult(body, &res); err != nil {
			h.fault(w, r, err)
			return
		}
	}
	body = append(body, "]}"...)
	*out = body
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	w.Header().Set("ETag", etag)
	// Values are the caller's: no shared cache may keep them, and the
	// client revalidates with the ETag before reusing its copy.
	w.Header().Set("Cache-Control", "private, no-cache")
	if matches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeBody(w, http.StatusOK, body)
}

// request checks the caller and reads the evaluation context. It
// returns the context; or a failure to answer with 400; or neither,
// when it has answered.
func (h *Handler) request(w http.ResponseWriter, r *http.Request) (map[string]any, *result) {
	if !h.opts.Public && !h.authorized(w, r) {
		return nil, nil
	}
	if h.opts.Limit != nil {
		if after, ok := h.opts.Limit(r); !ok {
			w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(max(after, 0).Seconds())), 10))
			w.WriteHeader(http.StatusTooManyRequests)
			return nil, nil
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &result{ErrorCode: CodeParseError, ErrorDetails: fmt.Sprintf("the request body exceeds %d bytes", tooBig.Limit)}
		}
		return nil, &result{ErrorCode: CodeParseError, ErrorDetails: "the request body could not be read"}
	}
	var req struct {
		Context map[string]any `json:"context"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	err = dec.Decode(&req)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON object")
	}
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typ) && typ.Field == "context":
		return nil, &result{ErrorCode: CodeInvalidContext, ErrorDetails: "context must be a JSON object"}
	case err != nil:
		return nil, &result{ErrorCode: CodeParseError, ErrorDetails: "the request body is not a JSON object: " + err.Error()}
	case req.Context == nil:
		return nil, &result{ErrorCode: CodeInvalidContext, ErrorDetails: "the request has no context"}
	}
	if tk, ok := req.Context["targetingKey"]; ok {
		if _, isString := tk.(string); !isString {
			return nil, &result{ErrorCode: CodeInvalidContext, ErrorDetails: "targetingKey must be a string"}
		}
	}
	for _, k := range tenantAttributes {
		delete(req.Context, k) // the tenant is the server's to say
	}
	return flags.TenantContext(r.Context(), req.Context), nil
}

// tenantAttributes are the attributes flags.TenantContext sets.
var tenantAttributes = [...]string{flags.TenantAttribute, "tenantPlan", "tenantRegion", flags.UsageAttribute}

// authorized requires a principal of the request's tenant, answering
// 401 or 403 otherwise.
func (h *Handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	p, ok := tenancy.PrincipalFromContext(r.Context())
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ofrep"`)
		w.WriteHeader(http.StatusUnauthorized)
		return false
	}
	t, err := tenancy.FromContext(r.Context())
	if err != nil || p.Tenant == nil || p.Tenant.ID != t.ID {
		w.WriteHeader(http.StatusForbidden)
		return false
	}
	return true
}

func (h *Handler) inScope(set string) bool {
	return h.opts.Sets == nil || slices.Contains(h.opts.Sets, set)
}

// resultOf converts an evaluation to OFREP's form.
func resultOf(key string, v any, d flags.Detail) result {
	res := result{Key: key, Metadata: d.Metadata}
	if d.ErrorCode != 0 {
		res.ErrorCode, res.ErrorDetails = d.ErrorCode.String(), d.ErrorMessage
		return res
	}
	res.Value, res.Reason, res.Variant = v, d.Reason.String(), d.Variant
	return res
}

// scalar reports whether a metadata value is one OFREP's metadata may
// hold: a boolean, string or number.
func scalar(v any) bool {
	switch v.(type) {
	case bool, string, float64, float32, int, int64, int32, uint, uint64, uint32:
		return true
	}
	return false
}

// matches reports whether an If-None-Match header names etag (weak
// comparison, as RFC 9110 has for If-None-Match).
func matches(header, etag string) bool {
	for header != "" {
		var tag string
		tag, header, _ = strings.Cut(header, ",")
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}

func (h *Handler) write(w http.ResponseWriter, r *http.Request, status int, res *result) {
	body, err := appendResult(make([]byte, 0, 256), res)
	if err != nil {
		h.fault(w, r, err)
		return
	}
	writeBody(w, status, body)
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// fault answers 500 with OFREP's generalErrorResponse; the details
// stay in the log.
func (h *Handler) fault(w http.ResponseWriter, r *http.Request, err error) {
	h.opts.Logger.ErrorContext(r.Context(), "ofrep: evaluation failed", slog.String("error", err.Error()))
	w.Header().Del("ETag")
	writeBody(w, http.StatusInternalServerError, []byte(`{"errorDetails":"an internal error prevented the evaluation"}`))
}
