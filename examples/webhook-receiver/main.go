// Command webhook-receiver is the smallest complete Standard Webhooks
// receiver: it verifies each request's signature (v1 HMAC or v1a
// Ed25519, key rotation included), refuses stale and replayed messages,
// and hands the verified event to your code.
//
//	WEBHOOK_SECRET=whsec_... go run ./examples/webhook-receiver
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
)

func main() {
	secrets := strings.Fields(os.Getenv("WEBHOOK_SECRET")) // space-separated during a rotation
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "localhost:9090"
	}
	h, err := newHandler(secrets, handle)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("receiving webhooks on http://%s/webhook", addr)
	log.Fatal(http.ListenAndServe(addr, h))
}

// event is what saaskit's demo sends; adapt it to your sender.
type event struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// handle is your code: it runs once per verified, first-seen message.
func handle(id string, e event) error {
	fmt.Printf("%s %s %s\n", id, e.Type, e.Data)
	return nil
}

// newHandler serves POST /webhook: signatures verified (5-minute
// tolerance), ids remembered so a replay within the window is refused,
// and a handler error answered 500 so the sender retries.
func newHandler(secrets []string, fn func(id string, e event) error) (http.Handler, error) {
	v, err := webhook.NewVerifier(webhook.VerifyOptions{}, secrets...)
	if err != nil {
		return nil, fmt.Errorf("WEBHOOK_SECRET: %w", err)
	}
	receive := webhook.Receiver(v, webhook.ReceiverOptions{Seen: memstore.NewSeen(memstore.SeenOptions{})})
	mux := http.NewServeMux()
	mux.Handle("POST /webhook", receive(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e event
		if err := json.Unmarshal(webhook.Body(r.Context()), &e); err != nil {
			http.Error(w, "body is not a JSON event", http.StatusBadRequest)
			return
		}
		if err := fn(webhook.MessageID(r.Context()), e); err != nil {
			http.Error(w, "not processed; retry", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})))
	return mux, nil
}
