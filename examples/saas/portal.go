package main

import (
	"net/http"
	"path/filepath"
	"time"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/webhook/webhookportal"
)

// portalLinkTTL is how long a portal link lasts: long enough to open
// it, short enough that a leaked one is soon useless.
const portalLinkTTL = 10 * time.Minute

// portal is each tenant's webhook portal (package webhookportal) at
// /portal/webhooks/: pages where the tenant's users manage its
// endpoints, see its messages and attempts, and send again, in the
// tenant's branding. A request with the tenant's API key is served as
// the tenant; a browser gets there with a link that the tenant's key
// mints (POST /api/webhooks/portal-link), which opens a session. Links
// and sessions are signed with a key of the data directory, so they
// outlive a restart; replicas need the same key file.
type portal struct {
	h *webhookportal.Handler
	// resolve authenticates an API key, as the API does, and checks a
	// tenant a host or header names against it; without either, the
	// portal's own session decides.
	resolve func(http.Handler) http.Handler
}

func newPortal(a *app, domain, dataDir string) (*portal, error) {
	key, err := demoPassphrase(filepath.Join(dataDir, "portal.key"))
	if err != nil {
		return nil, err
	}
	h, err := webhookportal.New(a.hooks.d, webhookportal.Options{
		BaseURL: "/portal/webhooks/", Key: key, Tenants: a.reg, Logger: a.logger,
	})
	if err != nil {
		return nil, err
	}
	sub, err := tenancy.Subdomain(a.reg, []string{domain}, "www", "api")
	if err != nil {
		return nil, err
	}
	hdr, err := tenancy.Header(a.reg, "", tenancy.ByID)
	if err != nil {
		return nil, err
	}
	return &portal{h: h, resolve: tenancy.Middleware(tenancy.MiddlewareOptions{
		Identify:     []tenancy.Resolver{sub, tenancy.CustomDomain(a.reg), hdr},
		Authenticate: []tenancy.Authenticator{tenancy.APIKeyAuth(a.reg)},
		Optional:     true, // a link's session names no tenant to the middleware
		Logger:       a.logger,
	})}, nil
}

// routes mounts the portal on mux, rate limited per tenant when the
// request names one.
func (p *portal) routes(mux *http.ServeMux, limit *tenancy.RateLimiter) {
	mux.Handle(p.h.Path(), p.resolve(limit.Middleware(p.h)))
}

// link handles POST /api/webhooks/portal-link: a link that opens the
// caller's tenant's portal, for ten minutes, to give a browser (or put
// in an iframe) instead of the API key.
func (p *portal) link(w http.ResponseWriter, r *http.Request) {
	t, _ := tenancy.FromContext(r.Context())
	link, err := p.h.Link(t.ID, portalLinkTTL)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	writeJSON(w, http.StatusCreated, map[string]any{"url": scheme + "://" + r.Host + link, "expires_in": int(portalLinkTTL / time.Second)})
}
