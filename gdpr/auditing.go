package gdpr

import (
	"context"

	"github.com/saaskit/saaskit/gdpr/audit"
)

// Audit returns an Options.OnChange that appends every change of a
// request to trail: the action ("request submitted", "request
// completed", ...), the fields CCPA record-keeping asks for, the regime
// and state, and the subject only as audit.Pseudonym of its SubjectKey
// identity (or, without one, its first identity) under pseudonymKey, so
// that erasing the subject leaves the trail intact. actor names who made
// the change, such as "api" or a staff member's ID; it may look at the
// request's Channel.
func Audit(trail *audit.Trail, pseudonymKey []byte, actor func(*Request) string) func(context.Context, *Request, string) error {
	return func(ctx context.Context, r *Request, action string) error {
		req := &audit.Request{ID: r.ID, ReceivedAt: r.ReceivedAt, Kind: string(r.Kind), Channel: r.Channel}
		switch r.State {
		case Completed:
			req.RespondedAt, req.Response = r.CompletedAt, audit.Complied
		case Denied:
			req.RespondedAt, req.Response, req.DenialBasis = r.CompletedAt, audit.Denied, r.DenialReason
		}
		if req.Channel == "" {
			req.Channel = "unknown"
		}
		rec := audit.Record{
			TenantID: r.TenantID, Actor: actor(r), Action: "request " + action, Request: req,
			Details: map[string]string{"regime": string(r.Regime), "state": string(r.State)},
		}
		if id := subjectIdentity(r.Subject); id != "" {
			rec.Subject = audit.Pseudonym(pseudonymKey, r.TenantID, id)
		}
		_, err := trail.Append(ctx, r.TenantID, rec)
		return err
	}
}

// subjectIdentity is the identity a subject's pseudonym is made from.
func subjectIdentity(s Subject) string {
	if v := s.Value(SubjectKey); v != "" {
		return v
	}
	if len(s.Identities) > 0 {
		return s.Identities[0].Value
	}
	return ""
}
