package webhookportal

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/webhook"
)

// ErrInvalid means an option or an argument failed validation; the message
// names it and the rule.
var ErrInvalid = errors.New("webhookportal: invalid")

// Limits on what the portal accepts.
const (
	// DefaultLinkTTL is how long a link lasts when Link is given no TTL.
	DefaultLinkTTL = 10 * time.Minute
	// MaxLinkTTL is the longest a link may last.
	MaxLinkTTL = 24 * time.Hour
	// MinKeyLen is the least length of Options.Key, in bytes.
	MinKeyLen = 32

	defaultSessionTTL = time.Hour
	maxSessionTTL     = 7 * 24 * time.Hour
	maxForm           = 64 << 10
	maxTenantID       = 256
)

// TenantGetter finds a tenant by ID; *tenancy.Registry implements it.
type TenantGetter interface {
	// Get returns the tenant of id, or tenancy.ErrNotFound.
	Get(ctx context.Context, id string) (*tenancy.Tenant, error)
}

// Options configure a Handler. The zero value serves the portal at the
// root of its host, for the tenant of each request's principal, with a
// key of its own.
type Options struct {
	// BaseURL is where the application mounts the portal: a path
	// ("/portal/webhooks/") or an absolute URL
	// ("https://app.example/portal/webhooks/"). The handler answers the
	// paths under it, its pages link and its cookies are scoped under
	// it, and Link builds links on it. Default "/".
	BaseURL string
	// Key signs the portal's links, sessions, CSRF tokens and notices:
	// at least MinKeyLen random bytes, the same in every replica that
	// serves the portal. Default: a random key made by New, so links
	// and sessions hold only in this process and end with it.
	Key []byte
	// SessionTTL is how long a session opened by a link lasts. Default
	// one hour; at most seven days.
	SessionTTL time.Duration
	// FrameAncestors are the origins that may show the portal in a frame
	// (the Content-Security-Policy's frame-ancestors), such as
	// "https://app.example", or "'self'". Default none: no page may frame
	// it. When set, the portal's cookies are SameSite=None, Secure and
	// Partitioned (CHIPS), so that they work inside another site's frame.
	FrameAncestors []string
	// Tenants finds the tenant of a session opened by a link, for its
	// branding and status: a session of a tenant that is gone ends, and
	// one of a tenant that is not active is refused. *tenancy.Registry
	// implements it. A principal carries its tenant, so this is not
	// asked for it. Default none: sessions are unbranded and their
	// tenants not checked.
	Tenants TenantGetter
	// ReadScope and WriteScope, when set, are the scopes a principal
	// needs to see pages and to change anything (403 without). A
	// session opened by a link may do both. Default: none needed.
	ReadScope, WriteScope string
	// ThemeOverrides holds operators' replacements of the portal's
	// theme.css, a text/template over tenancy.TemplateData, as
	// tenancy.Templates reads them: "<tenant ID>/theme.css" for one
	// tenant, "theme.css" for all. Templates are code: they must come
	// from the operator. Default none: the built-in theme, which sets
	// the tenant's colours, font and CSS variables.
	ThemeOverrides fs.FS
	// InsecureCookies leaves Secure off the portal's cookies, for
	// development over plain HTTP on a host that browsers do not treat
	// as secure (they do localhost). It cannot be combined with
	// FrameAncestors. Default false.
	InsecureCookies bool
	// PageSize is how many rows a list shows at a time (a page's limit
	// query parameter may ask for 1 to 100). Default 25.
	PageSize int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger records failures that the portal answers with a 500.
	// Default slog.Default().
	Logger *slog.Logger
}

// Handler is the webhook portal: an http.Handler serving the pages of
// the tenant of each request. Mount it at Options.BaseURL's path.
type Handler struct {
	d      *webhook.Dispatcher
	opts   Options
	base   string // the path prefix, with a trailing slash
	origin string // scheme://host of an absolute BaseURL; "" for a path
	csp    string // the policy, without img-src
	key    []byte
	pages  map[string]*template.Template
	theme  *tenancy.Templates
	mux    *http.ServeMux
	same   *http.CrossOriginProtection
}

//go:embed templates/*.html templates/*.tmpl
var templateFiles embed.FS

//go:embed assets
var assetFiles embed.FS

//go:embed theme
var themeFiles embed.FS

// New returns the portal over d.
func New(d *webhook.Dispatcher, opts Options) (*Handler, error) {
	h := &Handler{d: d, opts: opts, same: http.NewCrossOriginProtection()}
	if err := h.configure(); err != nil {
		return nil, err
	}
	pages, err := parsePages(h.base)
	if err != nil {
		return nil, err
	}
	h.pages = pages
	defaults, _ := fs.Sub(themeFiles, "theme") // a directory of the embedded tree
	h.theme = tenancy.NewTemplates(defaults, opts.ThemeOverrides)
	h.routes()
	return h, nil
}

// configure checks the options and fills in their defaults.
func (h *Handler) configure() error {
	o := &h.opts
	if o.BaseURL == "" {
		o.BaseURL = "/"
	}
	u, err := url.Parse(o.BaseURL)
	switch {
	case err != nil || u.RawQuery != "" || u.Fragment != "" || u.User != nil || !strings.HasPrefix(u.Path, "/"):
		return fmt.Errorf("%w: BaseURL must be a path or an http(s) URL, without query or fragment", ErrInvalid)
	case u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https", (u.Scheme == "") != (u.Host == ""):
		return fmt.Errorf("%w: BaseURL must be a path or an http(s) URL, without query or fragment", ErrInvalid)
	}
	h.base = strings.TrimSuffix(u.EscapedPath(), "/") + "/"
	if u.Host != "" {
		h.origin = u.Scheme + "://" + u.Host
	}
	switch {
	case o.Key == nil:
		h.key = make([]byte, MinKeyLen)
		_, _ = rand.Read(h.key) // never fails (crypto/rand)
	case len(o.Key) < MinKeyLen:
		return fmt.Errorf("%w: Key must be at least %d bytes", ErrInvalid, MinKeyLen)
	default:
		h.key = append([]byte(nil), o.Key...)
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = defaultSessionTTL
	}
	if o.SessionTTL < time.Minute || o.SessionTTL > maxSessionTTL {
		return fmt.Errorf("%w: SessionTTL must be from a minute to %s", ErrInvalid, maxSessionTTL)
	}
	ancestors := "'none'"
	if len(o.FrameAncestors) > 0 {
		if o.InsecureCookies {
			return fmt.Errorf("%w: FrameAncestors needs Secure cookies (InsecureCookies false)", ErrInvalid)
		}
		for _, a := range o.FrameAncestors {
			if !validSource(a) {
				return fmt.Errorf("%w: frame ancestor %q must be 'self' or an http(s) origin", ErrInvalid, a)
			}
		}
		ancestors = strings.Join(o.FrameAncestors, " ")
	}
	h.csp = "default-src 'none'; script-src 'self'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors " + ancestors
	if o.PageSize == 0 {
		o.PageSize = 25
	}
	if o.PageSize < 1 || o.PageSize > maxPage {
		return fmt.Errorf("%w: PageSize must be from 1 to %d", ErrInvalid, maxPage)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// validSource reports whether s is a CSP source the portal accepts for
// frame-ancestors: 'self', or an http(s) origin with an optional
// wildcard subdomain ("https://*.example.com").
func validSource(s string) bool {
	if s == "'self'" {
		return true
	}
	u, err := url.Parse(strings.Replace(s, "://*.", "://wildcard.", 1))
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.Path == "" &&
		u.RawQuery == "" && u.Fragment == "" && u.User == nil && !strings.ContainsAny(s, " ,;'\"\t\r\n")
}

// Path is the path the portal answers under (BaseURL's), with a
// trailing slash: what the application mounts it at.
func (h *Handler) Path() string { return h.base }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.secure(w, "")
	rest, ok := strings.CutPrefix(r.URL.Path, h.base)
	if !ok {
		h.fail(w, r, nil, http.StatusNotFound, "no such page")
		return
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.URL = new(url.URL)
	*r2.URL = *r.URL
	r2.URL.Path, r2.URL.RawPath = "/"+rest, ""
	h.mux.ServeHTTP(w, r2)
}

// secure sets the headers every answer carries: a strict
// Content-Security-Policy (which lets images come from logo too),
// no sniffing, no referrer, no caching, and no framing but by
// FrameAncestors.
func (h *Handler) secure(w http.ResponseWriter, logo string) {
	img := "img-src 'self'"
	if src := logoSource(logo); src != "" {
		img += " " + src
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp+"; "+img)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	if len(h.opts.FrameAncestors) == 0 {
		hd.Set("X-Frame-Options", "DENY")
	}
}

// logoSource is the CSP source that allows exactly the logo URL, or ""
// when it is not one the policy can name safely.
func logoSource(logo string) string {
	if logo == "" {
		return ""
	}
	u, err := url.Parse(logo)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		strings.ContainsAny(u.Host, " ,;'\"") {
		return ""
	}
	path := u.EscapedPath()
	if strings.ContainsAny(path, " ,;'\"") {
		return ""
	}
	return u.Scheme + "://" + u.Host + path
}

// routes registers the portal's pages and actions.
func (h *Handler) routes() {
	h.mux = http.NewServeMux()
	for _, rt := range []struct {
		pattern string
		serve   func(w http.ResponseWriter, r *http.Request, c *caller)
	}{
		{"GET /{$}", h.index},
		{"GET /endpoints/new", h.newEndpoint},
		{"POST /endpoints", h.createEndpoint},
		{"GET /endpoints/{id}", h.endpoint},
		{"GET /endpoints/{id}/edit", h.editEndpoint},
		{"POST /endpoints/{id}", h.updateEndpoint},
		{"POST /endpoints/{id}/delete", h.deleteEndpoint},
		{"POST /endpoints/{id}/disable", h.disableEndpoint},
		{"POST /endpoints/{id}/enable", h.enableEndpoint},
		{"POST /endpoints/{id}/rotate", h.rotateSecret},
		{"POST /endpoints/{id}/replay", h.replay},
		{"POST /endpoints/{id}/recover", h.recoverEndpoint},
		{"GET /event-types", h.eventTypes},
		{"GET /messages", h.messages},
		{"GET /messages/{id}", h.message},
		{"POST /messages/{id}/resend", h.resend},
		{"GET /messages/{id}/deliveries/{delivery}", h.delivery},
		{"POST /messages/{id}/deliveries/{delivery}/retry", h.retry},
		{"GET /theme.css", h.themeCSS},
		{"POST /logout", h.logout},
	} {
		write := strings.HasPrefix(rt.pattern, "POST ")
		var handler http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, status, msg := h.caller(w, r, write)
			if c == nil {
				h.fail(w, r, nil, status, msg)
				return
			}
			h.secure(w, c.branding.LogoURL)
			if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
				h.fail(w, r, c, http.StatusBadRequest, "the query cannot be read: "+err.Error())
				return
			}
			if !validIDs(r, "id", "delivery") {
				h.fail(w, r, c, http.StatusNotFound, "not found")
				return
			}
			if write && !h.checkForm(w, r, c) {
				return
			}
			rt.serve(w, r, c)
		})
		if write {
			handler = h.same.Handler(handler)
		}
		h.mux.Handle(rt.pattern, handler)
	}
	h.mux.HandleFunc("GET /link", h.linkPage)
	h.mux.Handle("POST /link", h.same.Handler(http.HandlerFunc(h.openLink)))
	h.mux.HandleFunc("GET /assets/{file}", h.asset)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, nil, http.StatusNotFound, "no such page")
	})
	h.same.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, nil, http.StatusForbidden, "cross-origin request refused: send forms from the portal's own pages")
	}))
}

// validIDs reports whether the named path values are IDs a store could
// hold: valid UTF-8 without NUL, of a sane length. Others are not found.
func validIDs(r *http.Request, names ...string) bool {
	for _, n := range names {
		v := r.PathValue(n)
		if len(v) > 256 || !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return false
		}
	}
	return true
}

// checkForm reads a form post, capped, and checks its CSRF token; if
// either fails it has answered.
func (h *Handler) checkForm(w http.ResponseWriter, r *http.Request, c *caller) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.fail(w, r, c, http.StatusRequestEntityTooLarge, fmt.Sprintf("the form is larger than %d bytes", maxForm))
			return false
		}
		h.fail(w, r, c, http.StatusBadRequest, "the form cannot be read: "+err.Error())
		return false
	}
	if tokens := r.PostForm["csrf"]; c.sid == "" || len(tokens) != 1 || !h.validCSRF(c, tokens[0]) {
		h.fail(w, r, c, http.StatusForbidden, "missing or wrong CSRF token: reload the page and try again")
		return false
	}
	return true
}

// fail answers an error page with status and msg; c is the caller, when
// known, whose branding and CSRF token the page has.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, c *caller, status int, msg string) {
	v := view{Title: http.StatusText(status), Flash: msg}
	if c != nil {
		v = h.viewFor(c, http.StatusText(status), nil)
		v.Flash = msg
	}
	h.render(w, r, status, "error.html", v)
}

// failErr answers err as an error page: its status and a message fit to
// show (a 500 says only "internal error", and is logged).
func (h *Handler) failErr(w http.ResponseWriter, r *http.Request, c *caller, err error) {
	status, msg := statusOf(err)
	if status == http.StatusInternalServerError {
		h.opts.Logger.ErrorContext(r.Context(), "webhook portal", slog.String(tenancy.AttrKey, c.tenant), slog.String("error", err.Error()))
	}
	h.fail(w, r, c, status, msg)
}

// statusOf maps an error to a status and a message fit to show.
func statusOf(err error) (int, string) {
	var bad *badInput
	switch {
	case errors.As(err, &bad):
		return http.StatusBadRequest, bad.Error()
	case errors.Is(err, webhook.ErrNotFound):
		return http.StatusNotFound, "not found"
	case errors.Is(err, webhook.ErrConflict):
		return http.StatusConflict, readable(err)
	case errors.Is(err, webhook.ErrInvalid), errors.Is(err, webhook.ErrInvalidURL), errors.Is(err, webhook.ErrUnknownEventType):
		return http.StatusUnprocessableEntity, readable(err)
	case errors.Is(err, webhook.ErrUnsupported):
		return http.StatusNotImplemented, "this deployment's queue does not support that"
	}
	return http.StatusInternalServerError, "internal error" // the cause is not the caller's to read
}

// readable drops the package prefixes from a dispatcher error.
func readable(err error) string {
	return strings.ReplaceAll(err.Error(), "webhook: ", "")
}

// badInput is a form value or query parameter the portal cannot read.
type badInput struct{ msg string }

func (e *badInput) Error() string { return e.msg }

func badf(format string, args ...any) error { return &badInput{fmt.Sprintf(format, args...)} }
