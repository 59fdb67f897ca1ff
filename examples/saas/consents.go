package main

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net/http"

	"github.com/saaskit/saaskit/gdpr/consent"
	consentstore "github.com/saaskit/saaskit/gdpr/consent/sqlstore"
	"github.com/saaskit/saaskit/problem"
	"github.com/saaskit/saaskit/tenancy"
)

// updatesPurpose is the demo's one consent purpose, and updatesNotice
// the text users are shown for it.
const (
	updatesPurpose = "product-updates"
	updatesNotice  = "We may email you about new features. You can withdraw at any time."
)

// consents records users' consent to product updates in the ledger.
type consents struct {
	ledger *consent.Ledger
	logger *slog.Logger
}

// newConsents opens the ledger and defines the purpose and its notice
// for the demo tenants (both idempotent).
func newConsents(ctx context.Context, db *sql.DB, pseudonymKey []byte, tenants []string, logger *slog.Logger) (*consents, error) {
	st, err := consentstore.New(db)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		return nil, err
	}
	l, err := consent.New(st, consent.Options{PseudonymKey: pseudonymKey})
	if err != nil {
		return nil, err
	}
	for _, t := range tenants {
		if _, err := l.DefinePurpose(ctx, t, consent.Purpose{Key: updatesPurpose, Description: "emails about new features"}); err != nil {
			return nil, err
		}
		if _, err := l.PublishNotice(ctx, t, consent.Notice{Purpose: updatesPurpose, Language: "en", Text: updatesNotice}); err != nil {
			return nil, err
		}
	}
	return &consents{ledger: l, logger: logger}, nil
}

// notice handles GET /api/consent/notice: the text to show, with the
// version and hash the form posts back.
func (c *consents) notice(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	p, err := c.ledger.Purpose(r.Context(), t.ID, updatesPurpose)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p.Latest("en"))
}

// record handles POST /api/users/{id}/consent {"granted": bool,
// "notice_version", "notice_hash", "proof"}: a grant needs the notice the
// user saw; a withdrawal needs nothing.
func (c *consents) record(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	var body struct {
		Granted       *bool  `json:"granted"`
		NoticeVersion int    `json:"notice_version"`
		NoticeHash    string `json:"notice_hash"`
		Proof         string `json:"proof"`
	}
	const want = `{"granted": true|false, "notice_version", "notice_hash", "proof"}`
	if !readJSON(w, r, 4<<10, &body, want) {
		return
	}
	if body.Granted == nil {
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Detail: "body must be JSON " + want})
		return
	}
	user := r.PathValue("id")
	var ev *consent.Event
	var err error
	if *body.Granted {
		ev, err = c.ledger.Grant(r.Context(), t.ID, user, updatesPurpose, consent.Grant{
			NoticeVersion: body.NoticeVersion, NoticeHash: body.NoticeHash, Source: "api", Proof: body.Proof})
	} else {
		ev, err = c.ledger.Withdraw(r.Context(), t.ID, user, updatesPurpose, consent.Withdrawal{Source: "api", Proof: body.Proof})
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, ev)
}

// states handles GET /api/users/{id}/consent: every purpose's state.
func (c *consents) states(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	st, err := c.ledger.Subject(r.Context(), t.ID, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (c *consents) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, consent.ErrNotFound):
		problem.Write(w, problem.Details{Status: http.StatusNotFound, Detail: err.Error()})
	case errors.Is(err, consent.ErrInvalid):
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Detail: err.Error()})
	default:
		c.logger.ErrorContext(r.Context(), "consent request failed", slog.String("error", err.Error()))
		problem.Write(w, problem.Details{Status: http.StatusInternalServerError, Detail: "internal error"})
	}
}
