package webhookportal

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/saaskit/saaskit/tenancy"
)

// maxPage is the most rows a page may ask for.
const maxPage = 100

// view is what the layout renders.
type view struct {
	Title   string
	CSRF    string
	Flash   string
	Brand   tenancy.Branding
	Session bool // a link opened it: the page offers to sign out
	Data    any
}

// Product is the name the header shows: the tenant's product, or a
// plain one.
func (v view) Product() string {
	if v.Brand.Name != "" {
		return v.Brand.Name
	}
	return "Webhooks"
}

func (h *Handler) viewFor(c *caller, title string, data any) view {
	return view{Title: title, CSRF: h.csrf(c), Brand: c.branding, Session: c.session, Data: data}
}

// page renders a page for the caller, with the notice kept for it.
func (h *Handler) page(w http.ResponseWriter, r *http.Request, c *caller, status int, name, title string, data any) {
	v := h.viewFor(c, title, data)
	v.Flash = h.notice(w, r, c)
	h.render(w, r, status, name, v)
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	var buf bytes.Buffer
	if err := h.pages[name].Execute(&buf, v); err != nil {
		h.opts.Logger.ErrorContext(r.Context(), "webhook portal: render", slog.String("page", name), slog.String("error", err.Error()))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

var funcs = template.FuncMap{
	"base":     func() string { return "/" }, // replaced per Handler
	"rate":     rateOf,
	"path":     url.PathEscape,
	"when":     when,
	"duration": humanDuration,
	"percent":  percent,
	"join":     func(s []string) string { return strings.Join(s, ", ") },
	"local":    func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04") },
}

// parsePages parses each page with the layout and the chart template;
// {{base}} is the portal's path.
func parsePages(base string) (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).Funcs(template.FuncMap{"base": func() string { return base }}).ParseFS(templateFiles, "templates/layout.html", "templates/chart.tmpl")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" {
			continue
		}
		p, err := layout.Clone()
		if err == nil {
			p, err = p.ParseFS(templateFiles, name)
		}
		if err != nil {
			return nil, err
		}
		pages[base] = p
	}
	return pages, nil
}

// asset handles GET /assets/{file}: the portal's stylesheet and script.
func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := fs.ReadFile(assetFiles, "assets/"+name)
	if err != nil || strings.Contains(name, "/") {
		h.fail(w, r, nil, http.StatusNotFound, "no such file")
		return
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}

// themeCSS handles GET /theme.css: the tenant's colours, font and CSS
// variables, from the theme template (tenancy.Templates: the built-in
// one, or the operator's override for the tenant).
func (h *Handler) themeCSS(w http.ResponseWriter, r *http.Request, c *caller) {
	ctx := tenancy.WithTenant(r.Context(), &tenancy.Tenant{ID: c.tenant, Branding: c.branding})
	var buf bytes.Buffer
	if err := h.theme.Render(ctx, &buf, "theme.css", nil); err != nil {
		h.opts.Logger.ErrorContext(r.Context(), "webhook portal: theme", slog.String(tenancy.AttrKey, c.tenant), slog.String("error", err.Error()))
		buf.Reset() // the page keeps the stylesheet's own colours
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// pageOf reads the limit and cursor query parameters: the page size
// (Options.PageSize by default) and the decoded cursor, nil for none.
func (h *Handler) pageOf(r *http.Request) (int, *cursor, error) {
	limit := h.opts.PageSize
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			return 0, nil, badf("limit must be a whole number from 1 to %d", maxPage)
		}
		limit = n
	}
	v := r.URL.Query().Get("cursor")
	if v == "" {
		return limit, nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	var c cursor
	if err != nil || json.Unmarshal(b, &c) != nil || c.ID == "" || !utf8.ValidString(c.ID) || strings.IndexByte(c.ID, 0) >= 0 {
		return 0, nil, badf("cursor is not one this portal gave")
	}
	return limit, &c, nil
}

// cursor is the last row of a page: the next begins after it.
type cursor struct {
	ID string    `json:"i"`
	At time.Time `json:"t,omitzero"`
}

func (c cursor) String() string {
	b, _ := json.Marshal(c) // a string and a time always encode
	return base64.RawURLEncoding.EncodeToString(b)
}

// next is the link to the page after c, keeping the page's other
// query parameters.
func next(r *http.Request, c cursor) string {
	q := r.URL.Query()
	q.Set("cursor", c.String())
	return "?" + q.Encode()
}

// timeOf reads a time form or query value: RFC 3339, or a
// datetime-local input's "2006-01-02T15:04[:05]", taken as UTC. Zero
// when empty.
func timeOf(v, name string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, badf("%s must be a date and time like 2026-01-02T15:04 (UTC)", name)
}

// when formats a time for people, or "never".
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// humanDuration rounds d to what a person reads: milliseconds under a
// second, tenths of a second under a minute, then whole seconds.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// percent writes a share (0 to 1) as a percentage with at most one
// decimal: "50%", "99.5%".
func percent(share float64) string {
	s := strconv.FormatFloat(100*share, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + "%"
}
