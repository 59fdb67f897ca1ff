package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
)

func TestReceiver(t *testing.T) {
	secret := webhook.NewSecret()
	var got []string
	h, err := newHandler([]string{secret}, func(id string, e event) error {
		got = append(got, id+" "+e.Type)
		return nil
	})
	require.NoError(t, err)
	signer, err := webhook.NewSigner(secret)
	require.NoError(t, err)
	body := []byte(`{"type":"user.created","data":{"id":"usr_1"}}`)
	send := func(id string, ts time.Time, b []byte) int {
		req := httptest.NewRequest("POST", "/webhook", bytes.NewReader(b))
		require.NoError(t, signer.SetHeaders(req.Header, id, ts, body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	assert.Equal(t, http.StatusNoContent, send("msg_1", time.Now(), body))
	assert.NotEqual(t, http.StatusNoContent, send("msg_1", time.Now(), body), "a replay is refused")
	assert.NotEqual(t, http.StatusNoContent, send("msg_2", time.Now(), []byte(`{"type":"forged"}`)), "a body that was not signed")
	assert.NotEqual(t, http.StatusNoContent, send("msg_3", time.Now().Add(-time.Hour), body), "a stale message")
	assert.Equal(t, []string{"msg_1 user.created"}, got, "only the genuine message reached the handler, once")

	_, err = newHandler([]string{"not-a-secret"}, nil)
	assert.Error(t, err)
}
