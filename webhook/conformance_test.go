package webhook_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
)

// conformanceVector is one entry of testdata/conformance.json; README.md
// beside it describes the fields.
type conformanceVector struct {
	Name             string   `json:"name"`
	Kind             string   `json:"kind"`
	Source           string   `json:"source"`
	Keys             []string `json:"keys"`
	MsgID            string   `json:"msg_id"`
	Timestamp        string   `json:"timestamp"`
	Now              int64    `json:"now"`
	ToleranceSeconds int64    `json:"tolerance_seconds"`
	Body             string   `json:"body"`
	BodyBase64       *string  `json:"body_base64"`
	SignatureHeader  string   `json:"signature_header"`
	HeaderNames      string   `json:"header_names"`
	Expect           string   `json:"expect"`
	Note             string   `json:"note"`
}

// noteSuffix is the vector's note, for failure messages.
func (v conformanceVector) noteSuffix() string {
	if v.Note == "" {
		return ""
	}
	return " (" + v.Note + ")"
}

// conformanceErrors maps the file's expect strings to the package's
// sentinel errors.
var conformanceErrors = map[string]error{
	"ok":             nil,
	"invalid_key":    webhook.ErrInvalidKey,
	"missing_header": webhook.ErrMissingHeader,
	"malformed":      webhook.ErrMalformed,
	"too_old":        webhook.ErrTooOld,
	"too_new":        webhook.ErrTooNew,
	"no_match":       webhook.ErrNoMatch,
}

func loadConformance(t *testing.T) []conformanceVector {
	t.Helper()
	raw, err := os.ReadFile("testdata/conformance.json")
	require.NoError(t, err)
	var file struct {
		Vectors []conformanceVector `json:"vectors"`
	}
	require.NoError(t, json.Unmarshal(raw, &file))
	require.NotEmpty(t, file.Vectors)
	return file.Vectors
}

// TestConformance runs every vector of testdata/conformance.json, which
// were computed outside this package (see testdata/README.md).
func TestConformance(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range loadConformance(t) {
		require.False(t, seen[v.Name], "duplicate vector name %q", v.Name)
		seen[v.Name] = true
		want, known := conformanceErrors[v.Expect]
		require.True(t, known, "vector %q: unknown expect %q", v.Name, v.Expect)
		body := []byte(v.Body)
		if v.BodyBase64 != nil {
			var err error
			body, err = base64.StdEncoding.DecodeString(*v.BodyBase64)
			require.NoError(t, err, "vector %q: body_base64", v.Name)
		}
		t.Run(v.Name, func(t *testing.T) {
			switch v.Kind {
			case "sign":
				runSignVector(t, v, body, want)
			case "verify":
				runVerifyVector(t, v, body, want)
			default:
				t.Fatalf("vector %q: unknown kind %q", v.Name, v.Kind)
			}
		})
	}
}

func runSignVector(t *testing.T, v conformanceVector, body []byte, want error) {
	s, err := webhook.NewSigner(v.Keys...)
	if want == webhook.ErrInvalidKey {
		require.ErrorIs(t, err, webhook.ErrInvalidKey, "vector %q: NewSigner", v.Name)
		return
	}
	require.NoError(t, err, "vector %q: NewSigner", v.Name)
	ts, err := strconv.ParseInt(v.Timestamp, 10, 64)
	require.NoError(t, err, "vector %q: timestamp", v.Name)

	// AppendSignature appends to what dst already holds.
	const lead = "lead:"
	got, err := s.AppendSignature([]byte(lead), v.MsgID, ts, body)
	if want != nil {
		require.ErrorIs(t, err, want, "vector %q: AppendSignature", v.Name)
		_, err = s.Sign(v.MsgID, time.Unix(ts, 0), body)
		require.ErrorIs(t, err, want, "vector %q: Sign", v.Name)
		return
	}
	require.NoError(t, err, "vector %q: AppendSignature", v.Name)
	require.Equal(t, lead+v.SignatureHeader, string(got), "vector %q: AppendSignature", v.Name)

	sig, err := s.Sign(v.MsgID, time.Unix(ts, 0), body)
	require.NoError(t, err, "vector %q: Sign", v.Name)
	require.Equal(t, v.SignatureHeader, sig, "vector %q: Sign", v.Name)

	h := http.Header{}
	require.NoError(t, s.SetHeaders(h, v.MsgID, time.Unix(ts, 0), body), "vector %q: SetHeaders", v.Name)
	require.Equal(t, v.MsgID, h.Get("webhook-id"), "vector %q: SetHeaders id", v.Name)
	require.Equal(t, v.Timestamp, h.Get("webhook-timestamp"), "vector %q: SetHeaders timestamp", v.Name)
	require.Equal(t, v.SignatureHeader, h.Get("webhook-signature"), "vector %q: SetHeaders signature", v.Name)
}

func runVerifyVector(t *testing.T, v conformanceVector, body []byte, want error) {
	now := time.Unix(v.Now, 0)
	opts := webhook.VerifyOptions{
		Tolerance: time.Duration(v.ToleranceSeconds) * time.Second,
		Now:       func() time.Time { return now },
	}
	ver, err := webhook.NewVerifier(opts, v.Keys...)
	if want == webhook.ErrInvalidKey {
		require.ErrorIs(t, err, webhook.ErrInvalidKey, "vector %q: NewVerifier", v.Name)
		return
	}
	require.NoError(t, err, "vector %q: NewVerifier", v.Name)

	var prefix string
	switch v.HeaderNames {
	case "webhook":
		prefix = "webhook-"
	case "svix":
		prefix = "svix-"
	default:
		t.Fatalf("vector %q: unknown header_names %q", v.Name, v.HeaderNames)
	}
	// An empty value stands for an absent header.
	h := http.Header{}
	for name, value := range map[string]string{"id": v.MsgID, "timestamp": v.Timestamp, "signature": v.SignatureHeader} {
		if value != "" {
			h.Set(prefix+name, value)
		}
	}

	// Exactly the sentinel, unwrapped: the package promises it.
	if err := ver.Verify(h, body); err != want {
		t.Fatalf("vector %q: Verify = %v, want %v%s", v.Name, err, want, v.noteSuffix())
	}
	if err := ver.VerifyValues(v.MsgID, v.Timestamp, v.SignatureHeader, body); err != want {
		t.Fatalf("vector %q: VerifyValues = %v, want %v%s", v.Name, err, want, v.noteSuffix())
	}
}
