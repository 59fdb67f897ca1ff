package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/audit"
	auditstore "github.com/saaskit/saaskit/gdpr/audit/sqlstore"
	"github.com/saaskit/saaskit/gdpr/consent"
	"github.com/saaskit/saaskit/gdpr/gdprsource"
	gdprstore "github.com/saaskit/saaskit/gdpr/sqlstore"
	"github.com/saaskit/saaskit/problem"
	"github.com/saaskit/saaskit/tenancy"
)

// privacy serves data-subject requests about a tenant's users: access
// (a JSON or ZIP export) and erasure, which masks nothing in place but
// shreds the user's keys, so their encrypted email and names become
// unreadable everywhere, backups included.
type privacy struct {
	users  *users
	engine *gdpr.Engine
	trail  *audit.Trail
	// checkpoints holds a signed checkpoint of a tenant's trail after
	// each change, apart from the trail: a trail cut back is found.
	checkpoints audit.CheckpointFile
	hooks       *hooks
	// incidents is the breach register, in the service's database like
	// the legal holds, so every replica sees both and they survive
	// restarts.
	incidents *gdpr.Incidents
	logger    *slog.Logger
}

func newPrivacy(ctx context.Context, u *users, keys *skcrypto.Keyring, h *hooks, ledger *consent.Ledger, pseudonymKey []byte, dataDir string, logger *slog.Logger) (*privacy, error) {
	// The demo keeps the checkpoint key beside the data, as it does its
	// other demo secrets; a real service keeps it elsewhere.
	checkpointKey, err := demoPassphrase(filepath.Join(dataDir, "checkpoint.key"))
	if err != nil {
		return nil, err
	}
	trail, record, err := auditTrail(ctx, u.db, pseudonymKey, checkpointKey)
	if err != nil {
		return nil, err
	}
	p := &privacy{users: u, trail: trail, hooks: h, logger: logger,
		checkpoints: audit.CheckpointFile{Path: filepath.Join(dataDir, "audit-checkpoints.jsonl")}}
	requests, err := gdprstore.New(u.db)
	if err != nil {
		return nil, err
	}
	if err := requests.Migrate(ctx); err != nil {
		return nil, err
	}
	onChange := func(ctx context.Context, r *gdpr.Request, what string) error {
		if err := record(ctx, r, what); err != nil {
			return err
		}
		return p.checkpoint(ctx, r.TenantID)
	}
	p.incidents = gdpr.NewIncidents(requests, nil)
	// The user's events, in the outbox and the stream, are erased too.
	sources := append([]gdpr.Source{userSource{u}, gdprsource.Webhook(h.d), gdpr.ConsentSource(ledger),
		gdprsource.Crypto(keys, "users", "webhook.messages")}, h.bus.sources...)
	p.engine, err = gdpr.New(requests, gdpr.Options{Logger: logger, OnChange: onChange, Holds: requests}, sources...)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// checkpoint appends the end of the tenant's trail, signed, to the
// checkpoint file.
func (p *privacy) checkpoint(ctx context.Context, tenantID string) error {
	cp, err := p.trail.Checkpoint(ctx, tenantID)
	if err != nil {
		return err
	}
	return p.checkpoints.Append(cp)
}

// verify verifies the tenant's trail link by link, and against every
// checkpoint taken of it.
func (p *privacy) verify(ctx context.Context, tenantID string) (audit.Report, error) {
	taken, err := p.checkpoints.Read()
	if err != nil {
		return audit.Report{}, err
	}
	return p.trail.Verify(ctx, tenantID, taken[tenantID]...)
}

// userSource exports a user's decrypted record; its erasure is the
// crypto source's shredding of the user's key.
type userSource struct{ u *users }

func (userSource) Info() gdpr.SourceInfo {
	return gdpr.SourceInfo{Name: "users", Categories: []string{"contact", "profile"}}
}

func (s userSource) Export(ctx context.Context, tenantID string, subj gdpr.Subject, emit func(any) error) error {
	id := subj.Value(gdpr.SubjectKey)
	var email, prof []byte
	err := s.u.db.QueryRowContext(ctx, rebind(s.u.db, "SELECT email, profile FROM demo_users WHERE tenant_id = ? AND id = ?"), tenantID, id).Scan(&email, &prof)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // an unknown subject has no data here
	}
	if err != nil {
		return err
	}
	usr := user{ID: id}
	switch err := s.u.decrypt(ctx, tenantID, &usr, email, prof); {
	case errors.Is(err, skcrypto.ErrKeyDestroyed):
		usr.Erased = true
	case err != nil:
		return err
	}
	return emit(usr)
}

func (s userSource) Erase(ctx context.Context, tenantID string, subj gdpr.Subject) (gdpr.Erased, error) {
	var n int
	err := s.u.db.QueryRowContext(ctx, rebind(s.u.db, "SELECT count(*) FROM demo_users WHERE tenant_id = ? AND id = ?"), tenantID, subj.Value(gdpr.SubjectKey)).Scan(&n)
	return gdpr.Erased{Records: n, Note: "email and names are encrypted under the user's key: erased by its shredding"}, err
}

// request handles POST /api/users/{id}/privacy-requests {"kind":
// "access"|"erasure", "regime": "gdpr"|"ccpa"}. The tenant, authenticated
// by its API key, files it for its user, so it counts as verified; an
// erasure is carried out at once.
func (p *privacy) request(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	var body struct {
		Kind   gdpr.Kind   `json:"kind"`
		Regime gdpr.Regime `json:"regime"`
	}
	if !readJSON(w, r, 1<<10, &body, `{"kind": "access" or "erasure", "regime": "gdpr" or "ccpa"}`) {
		return
	}
	if body.Regime == "" {
		body.Regime = gdpr.GDPR
	}
	if body.Kind != gdpr.Access && body.Kind != gdpr.Erasure {
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Detail: "kind must be access or erasure"})
		return
	}
	if ok, err := p.users.exists(r.Context(), t.ID, r.PathValue("id")); err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("user %s: %w", r.PathValue("id"), gdpr.ErrNotFound)
		}
		p.fail(w, r, err)
		return
	}
	req, err := p.start(r.Context(), t.ID, body.Kind, body.Regime, r.PathValue("id"), "api")
	if err != nil {
		p.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, req)
}

// start files a verified request about the tenant's user through
// channel ("api" or consoleChannel); an erasure is carried out at once.
func (p *privacy) start(ctx context.Context, tenantID string, kind gdpr.Kind, regime gdpr.Regime, userID, channel string) (*gdpr.Request, error) {
	subject := gdpr.Subject{Identities: []gdpr.Identity{{Kind: gdpr.SubjectKey, Value: userID}}}
	req, err := p.engine.Submit(ctx, tenantID, kind, regime, subject, channel)
	if err == nil {
		req, err = p.engine.Verify(ctx, tenantID, req.ID)
	}
	if err == nil && kind == gdpr.Erasure {
		if req, err = p.engine.Process(ctx, tenantID, req.ID); err == nil {
			err = p.hooks.emit(ctx, nil, tenantID, "user.erased", "", userID, map[string]string{"id": userID})
		}
	}
	return req, err
}

// status handles GET /api/privacy-requests/{id}.
func (p *privacy) status(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	req, err := p.engine.Store().Get(r.Context(), t.ID, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, req)
}

// export handles GET /api/privacy-requests/{id}/export?format=json|zip.
func (p *privacy) export(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	format := gdpr.Format(r.URL.Query().Get("format"))
	if format == "" {
		format = gdpr.JSON
	}
	id := r.PathValue("id")
	switch format {
	case gdpr.JSON:
		w.Header().Set("Content-Type", "application/json")
	case gdpr.ZIP:
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", id+".zip"))
	default:
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Detail: "format must be json or zip"})
		return
	}
	// Check before streaming, so errors can still be problem+json.
	if req, err := p.engine.Store().Get(r.Context(), t.ID, id); err != nil || (req.Kind != gdpr.Access && req.Kind != gdpr.Portability) {
		if err == nil {
			err = fmt.Errorf("%w: request %s is not an access request", gdpr.ErrWrongStep, id)
		}
		w.Header().Del("Content-Disposition")
		p.fail(w, r, err)
		return
	}
	if err := p.engine.Export(r.Context(), t.ID, id, format, w); err != nil {
		p.logger.ErrorContext(r.Context(), "export failed mid-stream", slog.String("error", err.Error()))
	}
}

func (p *privacy) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, gdpr.ErrNotFound):
		problem.Write(w, problem.Details{Status: http.StatusNotFound, Detail: err.Error()})
	case errors.Is(err, gdpr.ErrInvalid):
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Detail: err.Error()})
	case errors.Is(err, gdpr.ErrWrongStep), errors.Is(err, gdpr.ErrHeld):
		problem.Write(w, problem.Details{Status: http.StatusConflict, Detail: err.Error()})
	default:
		p.logger.ErrorContext(r.Context(), "privacy request failed", slog.String("error", err.Error()))
		problem.Write(w, problem.Details{Status: http.StatusInternalServerError, Detail: "internal error"})
	}
}

// auditTrail writes every change of a data-subject request to the
// hash-chained audit trail, with the fields CCPA record-keeping asks for
// and the subject only as a pseudonym, so erasing the subject leaves the
// trail intact.
func auditTrail(ctx context.Context, db *sql.DB, pseudonymKey, checkpointKey []byte) (*audit.Trail, func(context.Context, *gdpr.Request, string) error, error) {
	st, err := auditstore.New(db)
	if err != nil {
		return nil, nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		return nil, nil, err
	}
	trail, err := audit.New(st, audit.Options{CheckpointKey: checkpointKey})
	if err != nil {
		return nil, nil, err
	}
	record := gdpr.Audit(trail, pseudonymKey, func(r *gdpr.Request) string {
		if r.Channel == consoleChannel {
			return consoleActor
		}
		return "api"
	})
	return trail, record, nil
}

// verifyAudit handles GET /api/privacy-audit: the tenant's audit trail,
// verified link by link.
func (p *privacy) verifyAudit(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	report, err := p.verify(r.Context(), t.ID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, report)
}

// holds handles the operator's legal holds on a tenant's data (GET
// lists them; PUT {"subject", "reason"} places one, the whole tenant's
// when subject is empty; DELETE ?subject= lifts one). A held user's
// erasure is refused with 409 by every replica until the hold is lifted.
func (a *app) holds(w http.ResponseWriter, r *http.Request, _ string) error {
	tenantID := r.PathValue("tenant")
	if _, err := a.reg.Get(r.Context(), tenantID); err != nil {
		problem.Write(w, problem.Details{Status: tenancy.HTTPStatus(err), Detail: err.Error()})
		return nil
	}
	e := a.privacy.engine
	switch r.Method {
	case http.MethodPut:
		var req struct {
			Subject string `json:"subject"`
			Reason  string `json:"reason"`
		}
		if !readJSON(w, r, 4<<10, &req, `{"subject": a user's id, or "" for the whole tenant, "reason"}`) {
			return nil
		}
		h, err := e.PlaceHold(r.Context(), tenantID, req.Subject, req.Reason)
		if err != nil {
			return err
		}
		a.logger.InfoContext(r.Context(), "legal hold placed", slog.String(tenancy.AttrKey, tenantID), slog.String("subject", req.Subject))
		writeJSON(w, http.StatusOK, h)
	case http.MethodDelete:
		if err := e.ReleaseHold(r.Context(), tenantID, r.URL.Query().Get("subject")); err != nil {
			return err
		}
		a.logger.InfoContext(r.Context(), "legal hold lifted", slog.String(tenancy.AttrKey, tenantID), slog.String("subject", r.URL.Query().Get("subject")))
		w.WriteHeader(http.StatusNoContent)
	default:
		holds, err := e.Holds(r.Context(), tenantID)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"holds": holds})
	}
	return nil
}

// incidents handles the operator's breach register: GET lists the
// incidents (?overdue=true: the open ones past their 72-hour deadline),
// POST {"description", "subjects", "categories", "tenants"} opens one
// detected now.
func (a *app) incidents(w http.ResponseWriter, r *http.Request, _ string) error {
	reg := a.privacy.incidents
	if r.Method == http.MethodPost {
		var req struct {
			Description string   `json:"description"`
			Subjects    int      `json:"subjects"`
			Categories  []string `json:"categories"`
			Tenants     []string `json:"tenants"`
		}
		if !readJSON(w, r, 16<<10, &req, `{"description", "subjects", "categories", "tenants"}`) {
			return nil
		}
		inc, err := reg.Open(r.Context(), req.Description, time.Now(), req.Subjects, req.Categories, req.Tenants...)
		if err != nil {
			return err
		}
		a.logger.WarnContext(r.Context(), "breach incident opened", slog.String("incident.id", inc.ID), slog.Time("notify_by", inc.NotifyBy))
		writeJSON(w, http.StatusCreated, inc)
		return nil
	}
	var list []*gdpr.Incident
	var err error
	switch r.URL.Query().Get("overdue") {
	case "":
		list, err = reg.List(r.Context(), gdpr.IncidentFilter{})
	case "true":
		list, err = reg.Overdue(r.Context())
	default:
		problem.Write(w, problem.Details{Status: http.StatusBadRequest, Detail: "overdue must be true or absent"})
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"incidents": list})
	return nil
}
