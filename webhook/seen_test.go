package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
)

// downSeen is a SeenStore whose server is away.
type downSeen struct{}

var errDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (downSeen) MarkSeen(context.Context, string, time.Time) (bool, error) { return false, errDown }
func (downSeen) Forget(context.Context, string) error                      { return errDown }

// TestReceiverWhenSeenFails: a replay store that fails refuses the
// message with 503 (fail closed), unless SeenFailOpen accepts it
// unchecked.
func TestReceiverWhenSeenFails(t *testing.T) {
	secret := webhook.NewSecret()
	signer, err := webhook.NewSigner(secret)
	require.NoError(t, err)
	v, err := webhook.NewVerifier(webhook.VerifyOptions{}, secret)
	require.NoError(t, err)
	for _, tt := range []struct {
		name     string
		failOpen bool
		want     int
		handled  bool
		level    string
	}{
		{"fail closed by default", false, http.StatusServiceUnavailable, false, "level=ERROR"},
		{"fail open when asked", true, http.StatusOK, true, "level=WARN"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			handled := false
			h := webhook.Receiver(v, webhook.ReceiverOptions{Seen: downSeen{}, SeenFailOpen: tt.failOpen, Logger: slog.New(slog.NewTextHandler(&logs, nil))})(
				http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handled = true }))
			body := `{"type":"invoice.paid"}`
			r := httptest.NewRequest("POST", "/webhooks", strings.NewReader(body))
			require.NoError(t, signer.SetHeaders(r.Header, "msg_1", time.Now(), []byte(body)))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			assert.Equal(t, tt.want, w.Code)
			assert.Equal(t, tt.handled, handled)
			assert.Contains(t, logs.String(), tt.level)
			assert.Contains(t, logs.String(), "replay check failed")
		})
	}
}
