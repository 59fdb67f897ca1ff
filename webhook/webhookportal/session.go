package webhookportal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/webhook"
)

// The portal keeps no state: links, sessions and notices are tokens
// that it signs with its key (HMAC-SHA256) and gets back, so every
// replica with the key reads them, and none needs a store. A token says
// what it is for (its purpose, under the MAC), whose it is and when it
// expires; one made for a purpose is refused for any other.

// Token purposes.
const (
	purposeLink    = "link"
	purposeSession = "session"
	purposeNotice  = "notice"
)

// Cookie names.
const (
	sessionCookie = "webhookportal_session"
	csrfCookie    = "webhookportal_csrf"
	noticeCookie  = "webhookportal_notice"
)

// token is what the portal signs.
type token struct {
	Purpose string `json:"p"`
	Tenant  string `json:"t"`
	ID      string `json:"i,omitempty"` // a random ID: a session's
	Expires int64  `json:"e"`           // Unix seconds
	Text    string `json:"x,omitempty"` // a notice's
	For     string `json:"f,omitempty"` // a notice's session ID
}

var errBadToken = errors.New("token is malformed, tampered with or expired")

// mac is the MAC of a token's encoded payload for its purpose.
func (h *Handler) mac(purpose, payload string) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte("saaskit.webhookportal." + purpose + "\x00" + payload))
	return m.Sum(nil)
}

// seal encodes and signs t.
func (h *Handler) seal(t token) string {
	b, _ := json.Marshal(t) // strings and a number always encode
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(h.mac(t.Purpose, payload))
}

// open verifies s as a token for purpose that has not expired.
func (h *Handler) open(s, purpose string) (token, error) {
	payload, sig, ok := strings.Cut(s, ".")
	if !ok || len(s) > 4096 {
		return token{}, errBadToken
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, h.mac(purpose, payload)) {
		return token{}, errBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	var t token
	if err != nil || json.Unmarshal(b, &t) != nil || t.Purpose != purpose || t.Tenant == "" {
		return token{}, errBadToken
	}
	if h.opts.Now().Unix() >= t.Expires {
		return token{}, errBadToken
	}
	return t, nil
}

// Link returns a URL that opens the portal for the tenant, for ttl
// (DefaultLinkTTL when zero, at most MaxLinkTTL): the application
// authenticates its customer, then sends their browser (or an iframe)
// there, without sharing an API key. The portal exchanges the link for
// a session of Options.SessionTTL. The link is signed with the portal's
// key and bound to the tenant and to this use; its token travels in the
// URL's fragment, which browsers send to no server, so it stays out of
// logs and Referer headers. A link opens sessions until it expires:
// keep its TTL short.
func (h *Handler) Link(tenantID string, ttl time.Duration) (string, error) {
	if tenantID == "" || len(tenantID) > maxTenantID || !utf8.ValidString(tenantID) || strings.IndexByte(tenantID, 0) >= 0 {
		return "", fmt.Errorf("%w: tenant ID must be 1 to %d bytes of UTF-8 without NUL", ErrInvalid, maxTenantID)
	}
	if ttl == 0 {
		ttl = DefaultLinkTTL
	}
	if ttl < time.Second || ttl > MaxLinkTTL {
		return "", fmt.Errorf("%w: link TTL must be from a second to %s", ErrInvalid, MaxLinkTTL)
	}
	exp := h.opts.Now().Add(ttl).Unix()
	return h.origin + h.base + "link#token=" + h.seal(token{Purpose: purposeLink, Tenant: tenantID, ID: randomID(), Expires: exp}), nil
}

// randomID is 128 random bits, hex-encoded.
func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// caller is whom a request is for: its tenant, as its principal or its
// portal session says.
type caller struct {
	tenant   string
	branding tenancy.Branding
	// sid identifies the browser session the CSRF token is bound to:
	// the portal session's ID, or the CSRF cookie's value alongside a
	// principal; "" when the request has neither.
	sid string
	// session is set when a link opened the session (a principal is
	// the application's to end).
	session bool
}

// caller returns the request's caller, or nil with the status and
// message to answer. A principal decides; without one, the portal's
// session cookie. A tenant that the request names (by host or header,
// in the context) must be the caller's.
func (h *Handler) caller(w http.ResponseWriter, r *http.Request, write bool) (*caller, int, string) {
	named, _ := tenancy.FromContext(r.Context())
	if p, ok := tenancy.PrincipalFromContext(r.Context()); ok && p.Tenant != nil {
		scope := h.opts.ReadScope
		if write {
			scope = h.opts.WriteScope
		}
		if scope != "" && !p.HasScope(scope) {
			return nil, http.StatusForbidden, fmt.Sprintf("the credential lacks the scope %q", scope)
		}
		if named != nil && named.ID != p.Tenant.ID {
			return nil, http.StatusForbidden, "the credential does not belong to the tenant the request names"
		}
		c := &caller{tenant: p.Tenant.ID, branding: p.Tenant.Branding}
		if ck, err := r.Cookie(csrfCookie); err == nil && validHex(ck.Value) {
			c.sid = ck.Value
		} else if !write {
			c.sid = randomID()
			h.setCookie(w, csrfCookie, c.sid, 0)
		}
		return c, 0, ""
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, http.StatusUnauthorized, "sign in: open the portal from your application's link"
	}
	t, err := h.open(ck.Value, purposeSession)
	if err != nil {
		h.setCookie(w, sessionCookie, "", -1)
		return nil, http.StatusUnauthorized, "your session has ended: open the portal from your application's link again"
	}
	if named != nil && named.ID != t.Tenant {
		return nil, http.StatusForbidden, "the session does not belong to the tenant the request names"
	}
	c := &caller{tenant: t.Tenant, sid: t.ID, session: true}
	if h.opts.Tenants != nil {
		tn, err := h.opts.Tenants.Get(r.Context(), t.Tenant)
		switch {
		case errors.Is(err, tenancy.ErrNotFound):
			h.setCookie(w, sessionCookie, "", -1)
			return nil, http.StatusUnauthorized, "your session has ended"
		case err != nil:
			h.opts.Logger.ErrorContext(r.Context(), "webhook portal: tenant lookup", tenancy.AttrKey, t.Tenant, "error", err.Error())
			return nil, http.StatusServiceUnavailable, "the portal cannot check your account just now: try again"
		case !tn.Active():
			return nil, http.StatusForbidden, "this account is not active"
		}
		c.branding = tn.Branding
	}
	return c, 0, ""
}

func validHex(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// csrf is the caller's CSRF token: bound to the tenant and the browser
// session, so a token of one session or tenant is refused in another.
func (h *Handler) csrf(c *caller) string {
	if c.sid == "" {
		return ""
	}
	return hex.EncodeToString(h.mac("csrf", c.tenant+"\x00"+c.sid))
}

func (h *Handler) validCSRF(c *caller, got string) bool {
	want := h.csrf(c)
	return want != "" && hmac.Equal([]byte(got), []byte(want))
}

// setCookie sets one of the portal's cookies under its path; maxAge 0
// makes a browser-session cookie, negative deletes it.
func (h *Handler) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	ck := &http.Cookie{Name: name, Value: value, Path: h.base, MaxAge: maxAge, HttpOnly: true,
		Secure: !h.opts.InsecureCookies, SameSite: http.SameSiteLaxMode}
	if len(h.opts.FrameAncestors) > 0 {
		ck.SameSite, ck.Partitioned = http.SameSiteNoneMode, true
	}
	http.SetCookie(w, ck)
}

// linkPage handles GET /link: a page whose script (assets/link.js)
// posts the token in the URL's fragment to POST /link.
func (h *Handler) linkPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "link.html", view{Title: "Opening the portal"})
}

// openLink handles POST /link {token}: a valid link opens a session.
func (h *Handler) openLink(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	t, err := h.open(r.PostFormValue("token"), purposeLink)
	if err != nil {
		h.fail(w, r, nil, http.StatusUnauthorized, "this link is not valid or has expired: ask your application for a new one")
		return
	}
	if named, err := tenancy.FromContext(r.Context()); err == nil && named.ID != t.Tenant {
		h.fail(w, r, nil, http.StatusForbidden, "the link does not belong to the tenant the request names")
		return
	}
	ttl := h.opts.SessionTTL
	session := token{Purpose: purposeSession, Tenant: t.Tenant, ID: randomID(), Expires: h.opts.Now().Add(ttl).Unix()}
	h.setCookie(w, sessionCookie, h.seal(session), int(ttl/time.Second))
	http.Redirect(w, r, h.base, http.StatusSeeOther)
}

// logout handles POST /logout: the session's cookie goes. (A copy of
// it would still work until it expires: sessions are not stored.)
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, c *caller) {
	h.setCookie(w, sessionCookie, "", -1)
	h.setCookie(w, csrfCookie, "", -1)
	h.render(w, r, http.StatusOK, "error.html", view{Title: "Signed out", Flash: "You have signed out of the webhook portal."})
}

// notify keeps msg for the caller's next page, then sends the browser
// to path (under the portal).
func (h *Handler) notify(w http.ResponseWriter, r *http.Request, c *caller, path, msg string) {
	if msg != "" {
		n := token{Purpose: purposeNotice, Tenant: c.tenant, For: c.sid, Text: msg, Expires: h.opts.Now().Add(time.Minute).Unix()}
		h.setCookie(w, noticeCookie, h.seal(n), 60)
	}
	http.Redirect(w, r, h.base+strings.TrimPrefix(path, "/"), http.StatusSeeOther)
}

// notice returns, once, what notify kept for the caller.
func (h *Handler) notice(w http.ResponseWriter, r *http.Request, c *caller) string {
	ck, err := r.Cookie(noticeCookie)
	if err != nil {
		return ""
	}
	h.setCookie(w, noticeCookie, "", -1)
	n, err := h.open(ck.Value, purposeNotice)
	if err != nil || n.Tenant != c.tenant || n.For != c.sid {
		return ""
	}
	return n.Text
}

// endpointOf returns the caller's endpoint named by the path's id.
func (h *Handler) endpointOf(r *http.Request, c *caller) (*webhook.Endpoint, error) {
	return h.d.GetEndpoint(r.Context(), c.tenant, r.PathValue("id"))
}
