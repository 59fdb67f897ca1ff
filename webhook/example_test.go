package webhook_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
)

func Example() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"test": 2432232314}`)
	sent := time.Unix(1614265330, 0)

	// Sender.
	signer, _ := webhook.NewSigner(secret)
	sig, _ := signer.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", sent, body)
	fmt.Println(sig)

	// Receiver, with its clock a minute after sending.
	v, _ := webhook.NewVerifier(webhook.VerifyOptions{Now: func() time.Time { return sent.Add(time.Minute) }}, secret)
	err := v.VerifyValues("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", sig, body)
	fmt.Println(err)
	err = v.VerifyValues("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", sig, []byte(`{"test": 1}`))
	fmt.Println(err)
	// Output:
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
	// <nil>
	// webhook: no matching signature
}

func ExampleReceiver() {
	secret := webhook.NewSecret()
	v, _ := webhook.NewVerifier(webhook.VerifyOptions{}, secret)
	h := webhook.Receiver(v, webhook.ReceiverOptions{Seen: memstore.NewSeen(memstore.SeenOptions{})})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Println("handled", string(webhook.Body(r.Context())))
		}))

	signer, _ := webhook.NewSigner(secret)
	body := `{"type":"invoice.paid"}`
	for range 2 { // the second delivery of the same id is a replay
		req := httptest.NewRequest("POST", "/webhooks", strings.NewReader(body))
		_ = signer.SetHeaders(req.Header, "msg_1", time.Now(), []byte(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// handled {"type":"invoice.paid"}
	// 200
	// 409
}

func ExampleNewKeyPair() {
	secretKey, publicKey := webhook.NewKeyPair()
	signer, _ := webhook.NewSigner(secretKey) // sender keeps whsk_
	v, _ := webhook.NewVerifier(webhook.VerifyOptions{}, publicKey)

	h := http.Header{}
	_ = signer.SetHeaders(h, "msg_1", time.Now(), []byte("{}"))
	fmt.Println(strings.HasPrefix(h.Get("webhook-signature"), "v1a,"), v.Verify(h, []byte("{}")))
	// Output: true <nil>
}

func ExampleBucketAttempts() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := webhook.AttemptWindow{Start: start, Width: time.Hour, Count: 2}
	log := []webhook.Attempt{
		{At: start.Add(5 * time.Minute), Status: 200, Latency: 80 * time.Millisecond},
		{At: start.Add(20 * time.Minute), Status: 500, Latency: 300 * time.Millisecond, Error: "HTTP 500"},
		{At: start.Add(90 * time.Minute), Status: 200, Latency: 40 * time.Millisecond},
	}
	for _, b := range webhook.BucketAttempts(w, log) {
		rate, _ := b.SuccessRate()
		fmt.Printf("%s: %d attempts, %.0f%% succeeded, p50 %s, p95 %s\n",
			b.Start.Format("15:04"), b.Attempts, 100*rate, b.LatencyP50, b.LatencyP95)
	}
	// Output:
	// 00:00: 2 attempts, 50% succeeded, p50 80ms, p95 300ms
	// 01:00: 1 attempts, 100% succeeded, p50 40ms, p95 40ms
}
