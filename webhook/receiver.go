package webhook

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/saaskit/saaskit/problem"
)

// SeenStore remembers accepted webhook ids, so a captured message cannot
// be replayed within the tolerance window.
type SeenStore interface {
	// MarkSeen records id until the given time and reports whether it was
	// new. Implementations must check and record atomically.
	MarkSeen(ctx context.Context, id string, until time.Time) (bool, error)
	// Forget removes id, so the sender's retry of a message the handler
	// failed to process is accepted.
	Forget(ctx context.Context, id string) error
}

// ReceiverOptions configure Receiver. The zero value is a sensible
// default.
type ReceiverOptions struct {
	// MaxBody caps the request body. Default 1 MiB.
	MaxBody int64
	// Seen, when set, refuses a webhook id accepted before, for as long as
	// its timestamp stays within the tolerance (after that, Verify refuses
	// the message as too old anyway). webhook/memstore's Seen covers one process;
	// sqlstore's Store.Seen and redisstore cover every replica that
	// shares them. When Seen fails, the message is refused with 503, so
	// the sender retries it later (fail closed). Default: none.
	Seen SeenStore
	// SeenFailOpen accepts a verified message when Seen fails, unchecked
	// for replay, and logs a warning: availability over replay protection
	// while the store is down. Default false (fail closed).
	SeenFailOpen bool
	// Logger records replay-store failures. Default slog.Default().
	Logger *slog.Logger
}

type (
	bodyKey struct{}
	idKey   struct{}
)

// MessageID returns the id of the message that Receiver verified, from
// whichever header family (webhook-id or svix-id) it came: the key for
// handlers' own deduplication.
func MessageID(ctx context.Context) string {
	id, _ := ctx.Value(idKey{}).(string)
	return id
}

// Body returns the verified raw body that Receiver read, for handlers that
// want the bytes rather than r.Body.
func Body(ctx context.Context) []byte {
	b, _ := ctx.Value(bodyKey{}).([]byte)
	return b
}

// Receiver returns middleware that verifies each request with v before
// calling next. next sees the verified raw body in r.Body and in Body,
// and the message's id in MessageID.
// Failures are answered with application/problem+json naming the reason:
// 400 missing or malformed headers, 401 bad signature or timestamp, 409
// replayed id, 413 body too large.
func Receiver(v *Verifier, opts ReceiverOptions) func(http.Handler) http.Handler {
	if opts.MaxBody <= 0 || opts.MaxBody > 1<<40 {
		opts.MaxBody = 1 << 20
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(io.LimitReader(r.Body, opts.MaxBody+1))
			if err != nil {
				problem.Write(w, problem.Details{Status: http.StatusBadRequest, Detail: "reading the body failed"})
				return
			}
			if int64(len(body)) > opts.MaxBody {
				refuse(w, ErrTooLarge)
				return
			}
			if err := v.Verify(r.Header, body); err != nil {
				refuse(w, err)
				return
			}
			id, timestamp, _ := headerFamily(r.Header) // the family Verify checked
			if opts.Seen != nil {
				// Verify accepts whole seconds up to ts+tolerance, so the id
				// is remembered until the second after that.
				ts, _ := parseTimestamp(timestamp)
				until := time.Unix(ts+int64(v.opts.Tolerance/time.Second)+1, 0)
				fresh, err := opts.Seen.MarkSeen(r.Context(), id, until)
				switch {
				case err != nil && opts.SeenFailOpen:
					logger.WarnContext(r.Context(), "webhook replay check failed; accepting the message unchecked", slog.String("error", err.Error()))
				case err != nil:
					logger.ErrorContext(r.Context(), "webhook replay check failed", slog.String("error", err.Error()))
					problem.Write(w, problem.Details{Status: http.StatusServiceUnavailable, Detail: "replay check unavailable"})
					return
				case !fresh:
					refuse(w, ErrReplayed)
					return
				}
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			defer func() {
				// A handler that failed (non-2xx or panic) did not process the
				// message: forget the id so the sender's retry is accepted.
				failed := recover()
				if opts.Seen != nil && (failed != nil || sw.status >= 300) {
					if err := opts.Seen.Forget(context.WithoutCancel(r.Context()), id); err != nil {
						logger.ErrorContext(r.Context(), "webhook replay store forget failed", slog.String("error", err.Error()))
					}
				}
				if failed != nil {
					panic(failed)
				}
			}()
			ctx := context.WithValue(r.Context(), bodyKey{}, body)
			next.ServeHTTP(sw, r.WithContext(context.WithValue(ctx, idKey{}, id)))
		})
	}
}

// statusWriter remembers the status the handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// refuse answers a verification failure with its status and reason.
func refuse(w http.ResponseWriter, err error) {
	status := http.StatusUnauthorized
	switch err {
	case ErrMissingHeader, ErrMalformed:
		status = http.StatusBadRequest
	case ErrReplayed:
		status = http.StatusConflict
	case ErrTooLarge:
		status = http.StatusRequestEntityTooLarge
	}
	problem.Write(w, problem.Details{Status: status, Detail: err.Error()})
}
