package gdpr

import (
	"context"
	"fmt"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/gdpr/consent"
	"github.com/saaskit/saaskit/webhook"
)

// Sources for saaskit's own stores of personal data.

// SubjectKey is the identity kind saaskit's sources key on: the subject
// key that crypto scopes and webhook messages carry (a user ID).
const SubjectKey = "user_id"

// WebhookSource exports and erases the webhook messages about a subject
// (webhook.Message.Subject), with their deliveries and attempt logs. A
// message whose payload the queue's retention removed is exported
// without it, marked payload_expunged.
func WebhookSource(d *webhook.Dispatcher) Source { return webhookSource{d} }

type webhookSource struct{ d *webhook.Dispatcher }

func (webhookSource) Info() SourceInfo {
	return SourceInfo{Name: "webhook.messages", Categories: []string{"event payloads"}}
}

func (w webhookSource) Export(ctx context.Context, tenantID string, s Subject, emit func(any) error) error {
	key := s.Value(SubjectKey)
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

func (w webhookSource) Erase(ctx context.Context, tenantID string, s Subject) (Erased, error) {
	key := s.Value(SubjectKey)
	if key == "" {
		return Erased{}, nil
	}
	n, err := w.d.EraseSubject(ctx, tenantID, key)
	return Erased{Records: n}, err
}

// CryptoSource erases a subject by shredding their data keys
// (Keyring.ShredSubject): every value encrypted under them becomes
// unreadable wherever a copy lives, backups included, which the step's
// note states. It runs after every other source (pass their names), so
// sources that mask encrypted fields still can decrypt them first. It
// exports nothing: keys are not the subject's data.
func CryptoSource(k *skcrypto.Keyring, after ...string) Source { return cryptoSource{k, after} }

type cryptoSource struct {
	k     *skcrypto.Keyring
	after []string
}

func (c cryptoSource) Info() SourceInfo {
	return SourceInfo{Name: "crypto.subject-keys", Categories: []string{"encryption keys"}, After: c.after}
}

func (cryptoSource) Export(context.Context, string, Subject, func(any) error) error { return nil }

func (c cryptoSource) Erase(ctx context.Context, tenantID string, s Subject) (Erased, error) {
	key := s.Value(SubjectKey)
	if key == "" {
		return Erased{}, nil
	}
	ev, err := c.k.ShredSubject(ctx, tenantID, key)
	if err != nil {
		return Erased{}, err
	}
	note := "no keys to shred"
	if len(ev.KeyIDs) > 0 {
		note = fmt.Sprintf("shredded %d data keys (%v) at %s: everything encrypted under them is unreadable in every copy, backups included",
			len(ev.KeyIDs), ev.KeyIDs, ev.At.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return Erased{Records: len(ev.KeyIDs), Note: note}, nil
}

// ConsentSource exports a subject's consent history and, on erasure,
// replaces the subject in it with a pseudonym (consent.Ledger.EraseSubject):
// the records that demonstrate consent stay, no longer about anyone.
func ConsentSource(l *consent.Ledger) Source { return consentSource{l} }

type consentSource struct{ l *consent.Ledger }

func (consentSource) Info() SourceInfo {
	return SourceInfo{Name: "consent", Categories: []string{"consent records"}}
}

func (c consentSource) Export(ctx context.Context, tenantID string, s Subject, emit func(any) error) error {
	key := s.Value(SubjectKey)
	if key == "" {
		return nil
	}
	exp, err := c.l.ExportSubject(ctx, tenantID, key)
	if err != nil {
		return err
	}
	for _, ev := range exp.Events {
		if err := emit(ev); err != nil {
			return err
		}
	}
	return nil
}

func (c consentSource) Erase(ctx context.Context, tenantID string, s Subject) (Erased, error) {
	key := s.Value(SubjectKey)
	if key == "" {
		return Erased{}, nil
	}
	_, n, err := c.l.EraseSubject(ctx, tenantID, key)
	return Erased{Records: n, Note: "consent history kept under a pseudonym"}, err
}
