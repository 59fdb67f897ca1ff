// Package gdprsource adapts saaskit's own stores of personal data to
// gdpr.Source: webhook messages about a subject (Webhook) and a
// subject's data keys (Crypto). It lives apart from package gdpr so that
// gdpr depends on none of the packages it can be wired to.
package gdprsource

import (
	"context"
	"fmt"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/webhook"
)

// Webhook exports and erases the webhook messages about a subject
// (webhook.Message.Subject), with their deliveries and attempt logs. A
// message whose payload the queue's retention removed is exported
// without it, marked payload_expunged.
func Webhook(d *webhook.Dispatcher) gdpr.Source { return webhookSource{d} }

type webhookSource struct{ d *webhook.Dispatcher }

func (webhookSource) Info() gdpr.SourceInfo {
	return gdpr.SourceInfo{Name: "webhook.messages", Categories: []string{"event payloads"}}
}

func (w webhookSource) Export(ctx context.Context, tenantID string, s gdpr.Subject, emit func(any) error) error {
	key := s.Value(gdpr.SubjectKey)
	if key == "" {
		return nil // this source knows subjects by user ID only
	}
	msgs, err := w.d.ExportSubject(ctx, tenantID, key)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		record := map[string]any{"id": m.ID, "event_type": m.EventType, "payload": m.Payload, "created_at": m.CreatedAt}
		if m.PayloadExpunged() { // removed by the queue's retention
			record["payload"], record["payload_expunged"] = nil, true
		}
		if err := emit(record); err != nil {
			return err
		}
	}
	return nil
}

func (w webhookSource) Erase(ctx context.Context, tenantID string, s gdpr.Subject) (gdpr.Erased, error) {
	key := s.Value(gdpr.SubjectKey)
	if key == "" {
		return gdpr.Erased{}, nil
	}
	n, err := w.d.EraseSubject(ctx, tenantID, key)
	return gdpr.Erased{Records: n}, err
}

// Crypto erases a subject by shredding their data keys
// (Keyring.ShredSubject): every value encrypted under them becomes
// unreadable wherever a copy lives, backups included, which the step's
// note states. It runs after every other source (pass their names), so
// sources that mask encrypted fields still can decrypt them first. It
// exports nothing: keys are not the subject's data.
func Crypto(k *skcrypto.Keyring, after ...string) gdpr.Source { return cryptoSource{k, after} }

type cryptoSource struct {
	k     *skcrypto.Keyring
	after []string
}

func (c cryptoSource) Info() gdpr.SourceInfo {
	return gdpr.SourceInfo{Name: "crypto.subject-keys", Categories: []string{"encryption keys"}, After: c.after}
}

func (cryptoSource) Export(context.Context, string, gdpr.Subject, func(any) error) error { return nil }

func (c cryptoSource) Erase(ctx context.Context, tenantID string, s gdpr.Subject) (gdpr.Erased, error) {
	key := s.Value(gdpr.SubjectKey)
	if key == "" {
		return gdpr.Erased{}, nil
	}
	ev, err := c.k.ShredSubject(ctx, tenantID, key)
	if err != nil {
		return gdpr.Erased{}, err
	}
	note := "no keys to shred"
	if len(ev.KeyIDs) > 0 {
		note = fmt.Sprintf("shredded %d data keys (%v) at %s: everything encrypted under them is unreadable in every copy, backups included",
			len(ev.KeyIDs), ev.KeyIDs, ev.At.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return gdpr.Erased{Records: len(ev.KeyIDs), Note: note}, nil
}
