package memstore

import (
	"context"
	"fmt"

	"github.com/saaskit/saaskit/webhook"
)

var _ webhook.RetentionQueue = (*Store)(nil)

// Expire implements webhook.RetentionQueue. Each call walks all of the
// store's deliveries under its lock: the store is for tests and small
// services, not for a backlog of millions.
func (s *Store) Expire(ctx context.Context, e webhook.Expiry) (webhook.ExpireResult, error) {
	if err := e.Validate(); err != nil {
		return webhook.ExpireResult{}, fmt.Errorf("expire: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var res webhook.ExpireResult
	byMessage := map[[2]string][]*entry{}
	for _, en := range s.deliveries {
		key := [2]string{en.tenant, en.d.Message.ID}
		byMessage[key] = append(byMessage[key], en)
	}
	for key, ens := range byMessage {
		kept := ens[:0]
		for _, en := range ens {
			if res.Deliveries == e.Batch || !e.Expired(en.d.State, en.d.UpdatedAt) {
				kept = append(kept, en)
				continue
			}
			delete(s.deliveries, en.d.ID) // its ordered list, if any, drops it when met
			res.Deliveries++
			res.Attempts += len(en.attempts)
		}
		byMessage[key] = kept
		if len(kept) == 0 {
			delete(s.messages, key)
			res.Messages++
		}
	}
	for _, ens := range byMessage {
		if res.Payloads == e.Batch {
			break
		}
		if len(ens) > 0 && payloadExpired(ens, e) {
			m := *ens[0].d.Message // a new message: claimed deliveries may still read the old one
			m.Payload = nil
			for _, en := range ens {
				en.d.Message = &m
			}
			res.Payloads++
		}
	}
	res.More = res.Deliveries == e.Batch || res.Payloads == e.Batch
	return res, nil
}

// payloadExpired reports whether e removes the payload of the message
// whose deliveries are ens: all succeeded, before e.Payload.
func payloadExpired(ens []*entry, e webhook.Expiry) bool {
	if ens[0].d.Message.PayloadExpunged() {
		return false
	}
	for _, en := range ens {
		if en.d.State != webhook.StateSucceeded || !en.d.UpdatedAt.Before(e.Payload) {
			return false
		}
	}
	return true
}
