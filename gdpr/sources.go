package gdpr

import (
	"context"

	"github.com/saaskit/saaskit/gdpr/consent"
)

// Sources for saaskit's own stores of personal data.

// SubjectKey is the identity kind saaskit's sources key on: the subject
// key that crypto scopes and webhook messages carry (a user ID).
const SubjectKey = "user_id"

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
