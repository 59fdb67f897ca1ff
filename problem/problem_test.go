package problem

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, Details{Status: http.StatusNotFound, Detail: "no tenant \"x\""})

	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	var got Details
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	assert.Equal(t, Details{Type: "about:blank", Title: "Not Found", Status: 404, Detail: "no tenant \"x\""}, got)
}

func TestExtensionsJoinTheMembers(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, Details{Status: 400, Detail: "bad version", Extensions: map[string]any{"supported_versions": []string{"v1", "v2"}, "status": 999}})
	assert.JSONEq(t, `{"type":"about:blank","title":"Bad Request","status":400,"detail":"bad version","supported_versions":["v1","v2"]}`, rec.Body.String())
}
