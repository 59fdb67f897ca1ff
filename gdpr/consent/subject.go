package consent

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

// Pseudonym returns what EraseSubject replaces the tenant's subject with:
// "erased:" and the hex HMAC-SHA256, under Options.PseudonymKey, of the
// tenant and subject. With a stable key, the controller who is asked
// about an erased person's consent (a complaint, a legal claim) finds
// their history again from the identifier the person gives.
func (l *Ledger) Pseudonym(tenantID, subject string) string {
	mac := hmac.New(sha256.New, l.key)
	mac.Write([]byte(tenantID))
	mac.Write([]byte{0})
	mac.Write([]byte(subject))
	return pseudonymPrefix + hex.EncodeToString(mac.Sum(nil))
}

// EraseSubject erases the subject from the tenant's consent records, for
// an erasure request, and returns the pseudonym their history now stands
// under and how many events it holds.
//
// Erasure and the duty to demonstrate consent pull apart: deleting the
// history would leave the controller unable to show that processing
// before the erasure was lawful (Art. 7(1)), which is also why Art.
// 17(3)(e) lets records needed for legal claims stay. So the events stay,
// with the subject replaced by Pseudonym(tenantID, subject) and Proof
// (free-form, and likely to identify the person: an IP hash, a
// signature) cleared: what remains is when, through which channel, and to
// which notice text (by hash) consent was given or withdrawn. The
// subject's current state is deleted, so from then on every purpose is
// Never for them, and a later grant starts a new history. Erasing again
// is harmless.
func (l *Ledger) EraseSubject(ctx context.Context, tenantID, subject string) (pseudonym string, events int, err error) {
	if err := checkSubject(tenantID, subject, false); err != nil {
		return "", 0, err
	}
	if strings.HasPrefix(subject, pseudonymPrefix) {
		return "", 0, invalid("subject: %q is already an erasure pseudonym", subject)
	}
	pseudonym = l.Pseudonym(tenantID, subject)
	events, err = l.store.EraseSubject(ctx, tenantID, subject, pseudonym)
	if err != nil {
		return "", 0, err
	}
	return pseudonym, events, nil
}

// Export is a subject's consent records, for an access or portability
// request; it encodes to JSON as it is.
type Export struct {
	TenantID   string    `json:"tenant_id"`
	Subject    string    `json:"subject"`
	ExportedAt time.Time `json:"exported_at"`
	// Purposes are those the subject has events for, each with the
	// notices the events name (their texts where the ledger keeps them).
	Purposes []*Purpose `json:"purposes"`
	// States are the subject's current states of those purposes.
	States []State `json:"states"`
	// Events are the subject's history, by purpose, then Seq.
	Events []*Event `json:"events"`
}

// ExportSubject returns the subject's consent records in the tenant.
func (l *Ledger) ExportSubject(ctx context.Context, tenantID, subject string) (*Export, error) {
	if err := checkSubject(tenantID, subject, false); err != nil {
		return nil, err
	}
	evs, err := l.store.Events(ctx, tenantID, subject, EventFilter{})
	if err != nil {
		return nil, err
	}
	cur, err := l.currentByPurpose(ctx, tenantID, subject)
	if err != nil {
		return nil, err
	}
	x := &Export{TenantID: tenantID, Subject: subject, ExportedAt: l.now(), Purposes: []*Purpose{}, States: []State{}, Events: evs}
	if x.Events == nil {
		x.Events = []*Event{}
	}
	type shown struct {
		version  int
		language string
	}
	seen := map[string]map[shown]bool{}
	var keys []string
	for _, e := range evs {
		if seen[e.Purpose] == nil {
			seen[e.Purpose] = map[shown]bool{}
			keys = append(keys, e.Purpose)
		}
		if e.Action == ActionGrant {
			seen[e.Purpose][shown{e.NoticeVersion, e.NoticeLanguage}] = true
		}
	}
	if len(keys) == 0 {
		return x, nil
	}
	ps, err := l.store.Purposes(ctx, tenantID, keys...)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if e := cur[p.Key]; e != nil {
			x.States = append(x.States, state(p, e, x.ExportedAt))
		}
		p.Notices = slices.DeleteFunc(p.Notices, func(n *Notice) bool { return !seen[p.Key][shown{n.Version, n.Language}] })
		x.Purposes = append(x.Purposes, p)
	}
	return x, nil
}
