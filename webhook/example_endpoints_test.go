package webhook_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
)

// A secret rotated with an hour's overlap: both secrets sign until then.
func ExampleDispatcher_RotateSecret() {
	ctx := context.Background()
	handle, _ := keyset.NewHandle(aead.AES256GCMKeyTemplate()) // a KMS-backed keyring in production
	sealer, _ := aead.New(handle)
	st := memstore.New()
	d, _ := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return sealer }, webhook.DispatcherOptions{})
	ep, oldSecret, _ := d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "https://hooks.acme.example/in"})

	newSecret, _ := d.RotateSecret(ctx, "acme", ep.ID, time.Hour)
	ep, _ = d.GetEndpoint(ctx, "acme", ep.ID)
	fmt.Println(len(ep.Secrets), newSecret != oldSecret, ep.PreviousSecretsUntil.Sub(ep.UpdatedAt))
	// Output: 2 true 1h0m0s
}
