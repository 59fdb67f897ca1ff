package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/flags"
	flagstore "github.com/saaskit/saaskit/flags/sqlstore"
	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/audit"
	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/webhook"
)

const (
	// consoleActor names the console's operator in every audit trail.
	consoleActor = "console:operator"
	// consoleChannel is the channel of data-subject requests the console files.
	consoleChannel = "console"

	sessionCookie = "console_session"
	sessionTTL    = 8 * time.Hour
)

// console is the operator's web console under /console/: server-rendered
// pages over the tenancy registry, webhooks, flags, data-subject
// requests, backups and audit trails. The operator logs in with the
// operator token; sessions are kept in the database, so they outlive a
// restart and every replica sees them, and every form carries the
// session's CSRF token. Each change is audited: flag edits in the flag
// store's trail, the rest in the tenant's GDPR audit trail.
type console struct {
	app    *app
	pages  map[string]*template.Template
	logger *slog.Logger
	db     *sql.DB
	// logins limits failed log-ins per client address. It lives in the
	// process: each replica allows its own.
	logins *loginLimiter
	// trusted are the reverse proxies whose X-Forwarded-Proto and
	// X-Forwarded-For are believed.
	trusted []netip.Prefix
}

// sessionsSchema keeps console sessions by the SHA-256 of their cookie,
// so the table does not hold what logs an operator in; expires is in
// Unix seconds.
const sessionsSchema = `CREATE TABLE IF NOT EXISTS demo_console_sessions (
    id_hash TEXT PRIMARY KEY,
    csrf    TEXT NOT NULL,
    expires BIGINT NOT NULL,
    flash   TEXT NOT NULL
)`

// session is a logged-in operator's.
type session struct {
	idHash string
	csrf   string
	flash  string // shown once, on the next page
}

func newConsole(ctx context.Context, a *app) (*console, error) {
	if _, err := a.users.db.ExecContext(ctx, sessionsSchema); err != nil {
		return nil, fmt.Errorf("console sessions table: %w", err)
	}
	funcs := template.FuncMap{"when": when, "ago": ago, "duration": humanDuration, "percent": percent, "rate": successRate,
		"user": func(s gdpr.Subject) string { return s.Value(gdpr.SubjectKey) }}
	// Every page has the layout and the chart templates.
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/console/layout.html", "templates/console/chart.tmpl")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFiles, "templates/console/*.html")
	if err != nil {
		return nil, err
	}
	c := &console{app: a, pages: map[string]*template.Template{}, logger: a.logger, db: a.users.db,
		logins: newLoginLimiter(), trusted: a.trustedProxies}
	for _, name := range names {
		base := name[strings.LastIndex(name, "/")+1:]
		if base == "layout.html" {
			continue
		}
		page, err := layout.Clone()
		if err == nil {
			page, err = page.ParseFS(templateFiles, name)
		}
		if err != nil {
			return nil, err
		}
		c.pages[base] = page
	}
	return c, nil
}

// view is what the layout renders: the page's data, and the tenant it
// is about, if any, named in the header.
type view struct {
	Title  string
	Tenant *tenancy.Tenant
	CSRF   string
	Flash  string
	Data   any
}

// Primary and Font are the console's own colour and font on every page,
// a tenant's too: operator pages wear the platform's branding, never a
// tenant's, so that no page of the console can pass for the tenant's
// product (or the other way round).
func (view) Primary() string { return "#343a40" }

func (view) Font() string { return "system-ui, sans-serif" }

func (c *console) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.pages[page].Execute(w, v); err != nil {
		c.logger.ErrorContext(r.Context(), "render console page", slog.String("page", page), slog.String("error", err.Error()))
	}
}

// headers keeps console pages out of frames and caches, and lets them
// load no script at all.
func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// routes registers the console's pages and actions on mux.
func (c *console) routes(mux *http.ServeMux) {
	// Every form posts to its own origin: a cross-site POST (by
	// Sec-Fetch-Site, else Origin) is refused before it is read.
	sameOrigin := http.NewCrossOriginProtection()
	for _, r := range c.handlers() {
		mux.Handle(r.pattern, headers(sameOrigin.Handler(r.handler)))
	}
}

// handlers lists the console's pages and actions.
func (c *console) handlers() []route {
	return []route{
		{"GET /console/login", c.loginPage, nil},
		{"POST /console/login", c.login, nil},
		{"POST /console/logout", c.action(c.logout), nil},
		{"GET /console/{$}", c.view("tenants.html", c.tenants), nil},
		{"GET /console/tenants", c.view("tenants.html", c.tenants), nil},
		{"GET /console/tenants/{tenant}/webhooks", c.view("webhooks.html", c.webhooks), nil},
		{"POST /console/tenants/{tenant}/webhooks/endpoints/{id}", c.action(c.repoint), nil},
		{"POST /console/tenants/{tenant}/webhooks/deliveries/{id}/retry", c.action(c.retry), nil},
		{"GET /console/tenants/{tenant}/privacy", c.view("privacy.html", c.privacy), nil},
		{"POST /console/tenants/{tenant}/privacy/erasures", c.action(c.erase), nil},
		{"GET /console/tenants/{tenant}/domains", c.view("domains.html", c.domains), nil},
		{"POST /console/tenants/{tenant}/domains", c.action(c.addDomain), nil},
		{"POST /console/tenants/{tenant}/domains/{name}/check", c.action(c.checkDomain), nil},
		{"GET /console/flags", c.view("flags.html", c.flags), nil},
		{"POST /console/flags/{key}/state", c.action(c.setState), nil},
		{"POST /console/flags/{key}/percent", c.action(c.setPercent), nil},
		{"GET /console/backups", c.view("backups.html", c.backups), nil},
	}
}

// Sessions.

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// current returns the request's live session, or nil.
func (c *console) current(r *http.Request) *session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s := &session{idHash: c.hashSessionID(ck.Value)}
	err = c.db.QueryRowContext(r.Context(), rebind(c.db, "SELECT csrf, flash FROM demo_console_sessions WHERE id_hash = ? AND expires > ?"),
		s.idHash, time.Now().Unix()).Scan(&s.csrf, &s.flash)
	if err != nil {
		if !errors.Is(err, sql.ErrNoRows) {
			c.logger.ErrorContext(r.Context(), "console session", slog.String("error", err.Error()))
		}
		return nil
	}
	return s
}

// hashSessionID is the key of a session cookie's row: a SHA-256 of the
// cookie and of the operator token, so that changing the token ends
// every session opened with the old one.
func (c *console) hashSessionID(id string) string {
	sum := sha256.Sum256([]byte(c.app.features.operator + "\x00" + id))
	return hex.EncodeToString(sum[:])
}

// setFlash keeps msg for the session's next page.
func (c *console) setFlash(r *http.Request, s *session, msg string) {
	if _, err := c.db.ExecContext(r.Context(), rebind(c.db, "UPDATE demo_console_sessions SET flash = ? WHERE id_hash = ?"), msg, s.idHash); err != nil {
		c.logger.ErrorContext(r.Context(), "console flash", slog.String("error", err.Error()))
	}
}

// takeFlash returns the session's message, once.
func (c *console) takeFlash(r *http.Request, s *session) string {
	if s.flash != "" {
		c.setFlash(r, s, "")
	}
	return s.flash
}

func (c *console) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/console/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.overTLS(r), SameSite: http.SameSiteStrictMode,
	})
}

// fromTrustedProxy reports whether r came through one of the trusted
// reverse proxies.
func (c *console) fromTrustedProxy(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	for _, p := range c.trusted {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// overTLS reports whether the client reached the service over TLS:
// directly, or through a trusted proxy that says so. Anyone else's
// X-Forwarded-Proto is ignored.
func (c *console) overTLS(r *http.Request) bool {
	return r.TLS != nil || c.fromTrustedProxy(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// client is the address of r's client: the connection's, or the last
// X-Forwarded-For entry when a trusted proxy added it.
func (c *console) client(r *http.Request) string {
	if c.fromTrustedProxy(r) {
		if fwd := r.Header.Values("X-Forwarded-For"); len(fwd) > 0 {
			list := strings.Split(fwd[len(fwd)-1], ",")
			if addr := strings.TrimSpace(list[len(list)-1]); addr != "" {
				return addr
			}
		}
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// loginPage handles GET /console/login.
func (c *console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login.html", view{Title: "Log in"})
}

// login handles POST /console/login: the operator token opens a session.
func (c *console) login(w http.ResponseWriter, r *http.Request) {
	client := c.client(r)
	if wait, ok := c.logins.allowed(client, time.Now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		c.render(w, r, http.StatusTooManyRequests, "login.html", view{Title: "Log in", Flash: "Too many failed log-ins from here: try again later."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	token := r.PostFormValue("token")
	if subtle.ConstantTimeCompare([]byte(token), []byte(c.app.features.operator)) != 1 {
		c.logins.failed(client, time.Now())
		c.logger.WarnContext(r.Context(), "console login failed", slog.String("client.address", client),
			slog.String("user_agent.original", r.UserAgent()))
		c.render(w, r, http.StatusUnauthorized, "login.html", view{Title: "Log in", Flash: "That is not the operator token."})
		return
	}
	id, now := randomHex(32), time.Now()
	_, err := c.db.ExecContext(r.Context(), rebind(c.db, "DELETE FROM demo_console_sessions WHERE expires <= ?"), now.Unix())
	if err == nil {
		_, err = c.db.ExecContext(r.Context(), rebind(c.db, "INSERT INTO demo_console_sessions (id_hash, csrf, expires, flash) VALUES (?, ?, ?, '')"),
			c.hashSessionID(id), randomHex(32), now.Add(sessionTTL).Unix())
	}
	if err != nil {
		status, msg := c.failure(r, err)
		c.render(w, r, status, "login.html", view{Title: "Log in", Flash: msg})
		return
	}
	c.setSessionCookie(w, r, id, int(sessionTTL/time.Second))
	c.logger.InfoContext(r.Context(), "console login", slog.String("client.address", client))
	http.Redirect(w, r, "/console/tenants", http.StatusSeeOther)
}

// logout handles POST /console/logout.
func (c *console) logout(w http.ResponseWriter, r *http.Request) (string, string, error) {
	if s := c.current(r); s != nil {
		if _, err := c.db.ExecContext(r.Context(), rebind(c.db, "DELETE FROM demo_console_sessions WHERE id_hash = ?"), s.idHash); err != nil {
			return "", "", err
		}
	}
	c.setSessionCookie(w, r, "", -1)
	return "/console/login", "", nil
}

// view serves a page for a logged-in operator; load returns the tenant
// the page is about (nil for none) and its data.
func (c *console) view(page string, load func(r *http.Request) (*tenancy.Tenant, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.current(r)
		if s == nil {
			http.Redirect(w, r, "/console/login", http.StatusSeeOther)
			return
		}
		t, data, err := load(r)
		if err != nil {
			status, msg := c.failure(r, err)
			c.render(w, r, status, "error.html", view{Title: "Error", CSRF: s.csrf, Flash: msg})
			return
		}
		title := strings.TrimSuffix(page, ".html")
		title = strings.ToUpper(title[:1]) + title[1:]
		c.render(w, r, http.StatusOK, page, view{Title: title, Tenant: t, CSRF: s.csrf, Flash: c.takeFlash(r, s), Data: data})
	}
}

// action serves a form post of a logged-in operator carrying the
// session's CSRF token; do returns where to go next and what to say.
func (c *console) action(do func(w http.ResponseWriter, r *http.Request) (to, msg string, err error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.current(r)
		if s == nil {
			http.Redirect(w, r, "/console/login", http.StatusSeeOther)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
			http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
			return
		}
		to, msg, err := do(w, r)
		if err != nil {
			_, msg = c.failure(r, err)
		}
		if msg != "" {
			c.setFlash(r, s, msg)
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	}
}

var errConsoleInput = errors.New("invalid input")

// failure turns an error into a status and a message fit to show.
func (c *console) failure(r *http.Request, err error) (int, string) {
	for _, e := range []error{tenancy.ErrNotFound, webhook.ErrNotFound, gdpr.ErrNotFound, flags.ErrNotFound} {
		if errors.Is(err, e) {
			return http.StatusNotFound, err.Error()
		}
	}
	for _, e := range []error{errConsoleInput, tenancy.ErrInvalid, tenancy.ErrConflict, webhook.ErrInvalid, webhook.ErrInvalidURL, webhook.ErrConflict, gdpr.ErrInvalid,
		gdpr.ErrWrongStep, gdpr.ErrHeld, flags.ErrInvalidDefinitions} {
		if errors.Is(err, e) {
			return http.StatusBadRequest, err.Error()
		}
	}
	c.logger.ErrorContext(r.Context(), "console", slog.String("error", err.Error()))
	return http.StatusInternalServerError, "internal error"
}

// record appends a console action to the tenant's audit trail.
func (c *console) record(ctx context.Context, tenantID, action string, details map[string]string) error {
	if _, err := c.app.privacy.trail.Append(ctx, tenantID, audit.Record{TenantID: tenantID, Actor: consoleActor, Action: action, Details: details}); err != nil {
		return err
	}
	return c.app.privacy.checkpoint(ctx, tenantID)
}

// Tenants.

type tenantRow struct {
	*tenancy.Tenant
	Audit    audit.Report
	APICalls *tenancy.UsageReport // this month's
}

func (c *console) tenants(r *http.Request) (*tenancy.Tenant, any, error) {
	ts, err := c.app.reg.List(r.Context(), tenancy.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	rows := make([]tenantRow, 0, len(ts))
	for _, t := range ts {
		report, err := c.app.privacy.verify(r.Context(), t.ID)
		if err != nil {
			return nil, nil, err
		}
		calls, err := c.app.meter.Report(tenancy.WithTenant(r.Context(), t), apiCalls)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, tenantRow{t, report, calls})
	}
	return nil, rows, nil
}

func (c *console) tenant(r *http.Request) (*tenancy.Tenant, error) {
	return c.app.reg.Get(r.Context(), r.PathValue("tenant"))
}

// Webhooks.

// webhooksPage is what the webhooks page of a tenant shows.
type webhooksPage struct {
	Endpoints  []*webhook.Endpoint
	Deliveries []*webhook.Delivery // the 100 last updated, newest first
	State      webhook.DeliveryState
	Activity   deliveryActivity
	Queue      webhook.QueueStats // of every tenant: the queue is shared
	QueueAge   time.Duration      // how long the oldest due delivery has waited
}

func (c *console) webhooks(r *http.Request) (*tenancy.Tenant, any, error) {
	t, err := c.tenant(r)
	if err != nil {
		return nil, nil, err
	}
	ctx := r.Context()
	eps, err := c.app.hooks.d.ListEndpoints(ctx, t.ID)
	if err != nil {
		return nil, nil, err
	}
	state := webhook.DeliveryState(r.URL.Query().Get("state"))
	switch state {
	case "", webhook.StatePending, webhook.StateSucceeded, webhook.StateDead:
	default:
		return nil, nil, fmt.Errorf("%w: state must be pending, succeeded or dead", errConsoleInput)
	}
	// The 100 last updated, newest first: the queue pages by ID, so read
	// every page and keep the newest.
	var ds []*webhook.Delivery
	for after := ""; ; {
		page, err := c.app.hooks.queue.Deliveries(ctx, t.ID, webhook.DeliveryFilter{State: state, AfterID: after})
		if err != nil {
			return nil, nil, err
		}
		if len(page) == 0 {
			break
		}
		ds = append(ds, page...)
		slices.SortStableFunc(ds, func(a, b *webhook.Delivery) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
		ds = ds[:min(len(ds), 100)]
		after = page[len(page)-1].ID
	}
	now := time.Now().UTC()
	// From the attempt log in the database, so every replica shows the
	// same history.
	history, err := c.app.hooks.d.AttemptHistory(ctx, t.ID, webhook.WindowEnding(now, time.Hour, 24))
	if err != nil {
		return nil, nil, err
	}
	queue, err := c.app.hooks.d.QueueStats(ctx)
	if err != nil {
		return nil, nil, err
	}
	p := webhooksPage{Endpoints: eps, Deliveries: ds, State: state, Activity: newDeliveryActivity(history), Queue: queue}
	if !queue.OldestDue.IsZero() {
		p.QueueAge = max(now.Sub(queue.OldestDue), 0)
	}
	return t, p, nil
}

// deliveryActivity is a tenant's delivery attempts per hour of the last
// day, charted, with the numbers for those who do not see the charts.
type deliveryActivity struct {
	Hours   []webhook.AttemptBucket // those with attempts, oldest first
	Total   webhook.AttemptBucket   // the attempts of the whole day (no latencies)
	Success chart                   // the share of attempts that succeeded, per hour
	// Latency charts the median and 95th percentile latency per hour;
	// it has no bars when no attempt sent a request.
	Latency chart
}

func newDeliveryActivity(buckets []webhook.AttemptBucket) deliveryActivity {
	var a deliveryActivity
	labels := make([]string, len(buckets))
	rates := make([]float64, len(buckets))
	p50, p95 := make([]float64, len(buckets)), make([]float64, len(buckets))
	var slowest time.Duration
	for i, b := range buckets {
		labels[i] = b.Start.UTC().Format("15:04")
		rates[i], p50[i], p95[i] = math.NaN(), math.NaN(), math.NaN()
		if rate, ok := b.SuccessRate(); ok {
			a.Hours = append(a.Hours, b)
			a.Total.Attempts += b.Attempts
			a.Total.Succeeded += b.Succeeded
			rates[i] = rate
		}
		if b.LatencyP95 > 0 {
			p50[i], p95[i] = float64(b.LatencyP50), float64(b.LatencyP95)
			slowest = max(slowest, b.LatencyP95)
		}
	}
	if a.Total.Attempts == 0 {
		return a
	}
	summary := fmt.Sprintf("%d attempts, %s succeeded", a.Total.Attempts, successRate(a.Total))
	a.Success = barChart("chart-success", "Delivery success rate per hour (UTC), last 24 hours: "+summary,
		labels, 1, percent, series{Name: "succeeded", Color: "#2f9e44", Values: rates})
	if slowest == 0 {
		return a // no attempt sent a request
	}
	a.Latency = barChart("chart-latency", "Delivery latency per hour (UTC), last 24 hours: median and 95th percentile",
		labels, niceCeil(float64(slowest)), func(ns float64) string { return humanDuration(time.Duration(ns)) },
		series{Name: "p50", Color: "#1971c2", Values: p50}, series{Name: "p95", Color: "#a5d8ff", Values: p95})
	return a
}

// repoint handles POST /console/tenants/{tenant}/webhooks/endpoints/{id}
// {url}: the endpoint goes to url and is enabled again.
func (c *console) repoint(_ http.ResponseWriter, r *http.Request) (string, string, error) {
	tenantID, id := r.PathValue("tenant"), r.PathValue("id")
	to := "/console/tenants/" + url.PathEscape(tenantID) + "/webhooks"
	if err := c.app.hooks.repoint(r.Context(), tenantID, id, r.PostFormValue("url")); err != nil {
		return to, "", err
	}
	if err := c.record(r.Context(), tenantID, "webhook endpoint repoint", map[string]string{"endpoint": id}); err != nil {
		return to, "", err
	}
	return to, "Endpoint " + id + " saved and enabled.", nil
}

// retry handles POST /console/tenants/{tenant}/webhooks/deliveries/{id}/retry.
func (c *console) retry(_ http.ResponseWriter, r *http.Request) (string, string, error) {
	tenantID, id := r.PathValue("tenant"), r.PathValue("id")
	to := "/console/tenants/" + url.PathEscape(tenantID) + "/webhooks"
	if err := c.app.hooks.d.RetryDead(r.Context(), tenantID, id); err != nil {
		return to, "", err
	}
	if err := c.record(r.Context(), tenantID, "webhook retry", map[string]string{"delivery": id}); err != nil {
		return to, "", err
	}
	return to, "Delivery " + id + " queued again.", nil
}

// Data-subject requests and the audit trail.

type privacyPage struct {
	Requests []*gdpr.Request
	Audit    audit.Report
	Recent   []audit.Record // the trail's last records, newest first
	Now      time.Time
}

func (c *console) privacy(r *http.Request) (*tenancy.Tenant, any, error) {
	t, err := c.tenant(r)
	if err != nil {
		return nil, nil, err
	}
	p := c.app.privacy
	reqs, err := p.engine.Store().List(r.Context(), t.ID, gdpr.RequestFilter{})
	if err != nil {
		return nil, nil, err
	}
	report, err := p.verify(r.Context(), t.ID)
	if err != nil {
		return nil, nil, err
	}
	var recent []audit.Record
	for rec, err := range p.trail.Records(r.Context(), t.ID, report.LastSeq-min(report.LastSeq, 10)) {
		if err != nil {
			return nil, nil, err
		}
		recent = append(recent, rec)
	}
	slices.Reverse(recent)
	return t, privacyPage{Requests: reqs, Audit: report, Recent: recent, Now: time.Now()}, nil
}

// erase handles POST /console/tenants/{tenant}/privacy/erasures {user}:
// an erasure of the user, carried out at once, as the API's.
func (c *console) erase(_ http.ResponseWriter, r *http.Request) (string, string, error) {
	tenantID, user := r.PathValue("tenant"), strings.TrimSpace(r.PostFormValue("user"))
	to := "/console/tenants/" + url.PathEscape(tenantID) + "/privacy"
	if user == "" || len(user) > 64 {
		return to, "", fmt.Errorf("%w: user ID must be 1 to 64 characters", errConsoleInput)
	}
	if _, err := c.app.reg.Get(r.Context(), tenantID); err != nil {
		return to, "", err
	}
	req, err := c.app.privacy.start(r.Context(), tenantID, gdpr.Erasure, gdpr.GDPR, user, consoleChannel)
	if err != nil {
		return to, "", err
	}
	return to, fmt.Sprintf("Erasure %s: %s.", req.ID, req.State), nil
}

// Custom domains.

// domainsPage is what the domains page of a tenant shows.
type domainsPage struct {
	Domains []*tenancy.DomainStatus
	// DevZone is the file that stands for the DNS in -tls mode; "" for
	// the real DNS.
	DevZone string
}

// domains lists the tenant's custom domains, each with its state and
// the TXT record that proves it. Only the tenant the path names: the
// registry lists domains by tenant.
func (c *console) domains(r *http.Request) (*tenancy.Tenant, any, error) {
	t, err := c.tenant(r)
	if err != nil {
		return nil, nil, err
	}
	list, err := c.app.reg.Domains(r.Context(), t.ID)
	if err != nil {
		return nil, nil, err
	}
	return t, domainsPage{Domains: list, DevZone: c.app.devZone}, nil
}

// addDomain handles POST /console/tenants/{tenant}/domains {name}: the
// tenant claims the domain, pending until its TXT record is found.
func (c *console) addDomain(_ http.ResponseWriter, r *http.Request) (string, string, error) {
	tenantID := r.PathValue("tenant")
	to := "/console/tenants/" + url.PathEscape(tenantID) + "/domains"
	if _, err := c.app.reg.Get(r.Context(), tenantID); err != nil {
		return to, "", err
	}
	st, err := c.app.reg.AddDomain(r.Context(), tenantID, r.PostFormValue("name"))
	if err != nil {
		return to, "", err
	}
	if err := c.record(r.Context(), tenantID, "domain add", map[string]string{"domain": st.Name}); err != nil {
		return to, "", err
	}
	return to, fmt.Sprintf("Domain %s added: publish TXT %s %s, then check it.", st.Name, st.RecordName, st.RecordValue), nil
}

// checkDomain handles POST /console/tenants/{tenant}/domains/{name}/check:
// the tenant's domain is checked now. A name the tenant does not hold is
// not found, whoever else holds it.
func (c *console) checkDomain(_ http.ResponseWriter, r *http.Request) (string, string, error) {
	tenantID := r.PathValue("tenant")
	to := "/console/tenants/" + url.PathEscape(tenantID) + "/domains"
	st, err := c.app.reg.VerifyDomain(r.Context(), tenantID, r.PathValue("name"))
	if err != nil {
		return to, "", err
	}
	if err := c.record(r.Context(), tenantID, "domain check", map[string]string{"domain": st.Name, "state": string(st.State)}); err != nil {
		return to, "", err
	}
	msg := fmt.Sprintf("Domain %s: %s.", st.Name, st.State)
	if st.Reason != "" {
		msg = fmt.Sprintf("Domain %s: %s (%s).", st.Name, st.State, st.Reason)
	}
	return to, msg, nil
}

// Flags.

type flagRow struct {
	Key        string
	State      flags.State
	Rings      []flagRing // the rings its targeting includes
	Evaluators []string   // the other shared evaluators it includes
	Splits     []split    // its percentage splits, in time order
	Percent    int        // the "on" share the console sets
	Settable   bool       // whether it has an on/off split to set
	Last       *flagstore.AuditEntry
	Guarded    string           // a guarded rollout's status ("" for none)
	GuardWhy   string           // and why it stands so
	Stale      *flags.StaleFlag // when the stale-flag report names it
}

// flagRing is a ring of tenants a flag's targeting includes.
type flagRing struct {
	Name    string
	Tenants []string // its own
	After   string   // the ring whose tenants it includes too; "" for none
}

func (c *console) flags(r *http.Request) (*tenancy.Tenant, any, error) {
	f := c.app.features
	data, err := f.store.Load(r.Context()) // the stored truth, not the synced copy
	if err != nil {
		return nil, nil, err
	}
	var d flags.Definitions
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, nil, err
	}
	stale, err := staleFlags(r.Context(), f.store, d)
	if err != nil {
		return nil, nil, err
	}
	var rows []flagRow
	for key, fl := range d.Flags {
		ro := rolloutOf(fl.Targeting)
		row := flagRow{Key: key, State: fl.State, Splits: ro.splits, Stale: stale[key]}
		row.Guarded, _ = fl.Metadata[flags.RolloutStatusKey].(string)
		row.GuardWhy, _ = fl.Metadata[flags.RolloutReasonKey].(string)
		row.Percent, row.Settable = ro.onPercent()
		for _, ref := range ro.refs {
			name, isRing := strings.CutPrefix(ref, ringEvaluator)
			tenants, after, ok := d.RingTenants(name)
			if !isRing || !ok {
				row.Evaluators = append(row.Evaluators, ref)
				continue
			}
			row.Rings = append(row.Rings, flagRing{Name: name, Tenants: tenants, After: after})
		}
		trail, err := f.store.Audit(r.Context(), "flag", key, 1)
		if err != nil {
			return nil, nil, err
		}
		if len(trail) > 0 {
			row.Last = &trail[0]
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b flagRow) int { return strings.Compare(a.Key, b.Key) })
	return nil, rows, nil
}

// staleFlags is the stale-flag report over the last 30 days, by flag.
func staleFlags(ctx context.Context, st *flagstore.Store, d flags.Definitions) (map[string]*flags.StaleFlag, error) {
	from, err := st.UsageStart(ctx)
	if err != nil {
		return nil, err
	}
	usage, err := st.Usage(ctx, from)
	if err != nil {
		return nil, err
	}
	out := map[string]*flags.StaleFlag{}
	for _, s := range flags.StaleFlags(d, usage, flags.StaleOptions{Now: time.Now(), Period: 30 * 24 * time.Hour, RecordedFrom: from}) {
		out[s.Flag] = &s
	}
	return out, nil
}

// ringEvaluator prefixes the name of the shared evaluator that holds a
// ring (flags.Definitions.SetRing).
const ringEvaluator = "ring:"

// rollout is what a flag's targeting rolls out to: the shared
// evaluators it includes ({"$ref": name}), rings among them, and its
// percentage splits ({"fractional": ...}).
type rollout struct {
	refs   []string
	splits []split
}

// split is a fractional split of subjects between variants.
type split struct {
	From   time.Time // when this step of a progressive rollout begins; zero for none
	Shares []share
}

// share is a variant's part of a split, as a percentage, and its place
// (X to X+Percent) in the split's bar.
type share struct {
	Variant    string
	Percent, X float64
	Color      string
}

// splitColors colour the shares of a split: the first ("on", for a
// rollout) green, then greys and blues.
var splitColors = []string{"#2f9e44", "#ced4da", "#74c0fc", "#868e96", "#1971c2"}

// Label says the split in words: "on 25% · off 75%".
func (s split) Label() string {
	parts := make([]string, len(s.Shares))
	for i, sh := range s.Shares {
		parts[i] = sh.Variant + " " + percent(sh.Percent/100)
	}
	return strings.Join(parts, " · ")
}

// rolloutOf reads a flag's targeting. Its splits come in time order:
// those of no step first, in the order of the targeting, then the steps
// of a progressive rollout.
func rolloutOf(targeting any) rollout {
	var ro rollout
	ro.walk(targeting, time.Time{})
	slices.SortStableFunc(ro.splits, func(a, b split) int { return a.From.Compare(b.From) })
	return ro
}

// walk collects the shared evaluators and splits of rule; from is when
// the progressive-rollout step that rule belongs to begins.
func (ro *rollout) walk(rule any, from time.Time) {
	switch t := rule.(type) {
	case map[string]any:
		for _, op := range slices.Sorted(maps.Keys(t)) {
			switch args := t[op]; op {
			case "$ref":
				if name, ok := args.(string); ok && !slices.Contains(ro.refs, name) {
					ro.refs = append(ro.refs, name)
				}
			case "fractional":
				if s, ok := splitOf(args); ok {
					s.From = from
					ro.splits = append(ro.splits, s)
				}
			case "if":
				ro.walkIf(args, from)
			default:
				ro.walk(args, from)
			}
		}
	case []any:
		for _, it := range t {
			ro.walk(it, from)
		}
	}
}

// walkIf walks {"if": [cond, then, cond, then, ..., else]}. A then
// whose cond is a step of a progressive rollout ($flagd.timestamp >= a
// time) begins then.
func (ro *rollout) walkIf(args any, from time.Time) {
	list, _ := args.([]any)
	for i := 0; i < len(list); i += 2 {
		if i+1 == len(list) { // else
			ro.walk(list[i], from)
			break
		}
		ro.walk(list[i], from)
		if at, ok := stepTime(list[i]); ok {
			ro.walk(list[i+1], at)
		} else {
			ro.walk(list[i+1], from)
		}
	}
}

// stepTime reads the time of a rollout step's condition,
// {">=": [{"var": "$flagd.timestamp"}, unixSeconds]}.
func stepTime(cond any) (time.Time, bool) {
	m, _ := cond.(map[string]any)
	args, _ := m[">="].([]any)
	if len(m) != 1 || len(args) != 2 {
		return time.Time{}, false
	}
	v, _ := args[0].(map[string]any)
	secs, isNumber := args[1].(float64)
	if v["var"] != "$flagd.timestamp" || !isNumber {
		return time.Time{}, false
	}
	return time.Unix(int64(secs), 0).UTC(), true
}

// splitOf reads the arguments of a fractional split whose variants and
// weights are constants: [bucketBy?, [variant, weight?], ...]. A weight
// defaults to 1 and counts as 0 when negative, as flagd has it.
func splitOf(args any) (split, bool) {
	list, _ := args.([]any)
	if len(list) > 0 {
		if _, isEntry := list[0].([]any); !isEntry {
			list = list[1:] // what it buckets by
		}
	}
	var (
		s     split
		total float64
	)
	for _, entry := range list {
		pair, _ := entry.([]any)
		if len(pair) == 0 || len(pair) > 2 {
			return split{}, false
		}
		variant, isName := pair[0].(string)
		weight, isNumber := 1.0, true
		if len(pair) == 2 {
			weight, isNumber = pair[1].(float64)
		}
		if !isName || !isNumber {
			return split{}, false
		}
		s.Shares = append(s.Shares, share{Variant: variant, Percent: max(weight, 0)})
		total += max(weight, 0)
	}
	if total == 0 {
		return split{}, false
	}
	x := 0.0
	for i := range s.Shares {
		sh := &s.Shares[i]
		sh.Percent = 100 * sh.Percent / total
		sh.X, sh.Color = x, splitColors[i%len(splitColors)]
		x += sh.Percent
	}
	return s, true
}

// onPercent is the "on" share of the rollout's first on/off split, the
// one RolloutFlag writes and the console's form sets.
func (ro rollout) onPercent() (int, bool) {
	for _, s := range ro.splits {
		if len(s.Shares) == 2 && s.Shares[0].Variant == "on" && s.Shares[1].Variant == "off" {
			return int(math.Round(s.Shares[0].Percent)), true
		}
	}
	return 0, false
}

// setState handles POST /console/flags/{key}/state {state}: the kill
// switch and its undoing, audited in the flag store.
func (c *console) setState(_ http.ResponseWriter, r *http.Request) (string, string, error) {
	key, state := r.PathValue("key"), flags.State(r.PostFormValue("state"))
	if state != flags.Enabled && state != flags.Disabled {
		return "/console/flags", "", fmt.Errorf("%w: state must be %s or %s", errConsoleInput, flags.Enabled, flags.Disabled)
	}
	if err := c.app.features.store.SetState(r.Context(), consoleActor, key, state); err != nil {
		return "/console/flags", "", err
	}
	return "/console/flags", fmt.Sprintf("Flag %s is now %s.", key, state), nil
}

// setPercent handles POST /console/flags/{key}/percent {percent}.
func (c *console) setPercent(_ http.ResponseWriter, r *http.Request) (string, string, error) {
	key := r.PathValue("key")
	p, err := strconv.Atoi(r.PostFormValue("percent"))
	if err != nil {
		return "/console/flags", "", fmt.Errorf("%w: percent must be a whole number", errConsoleInput)
	}
	if err := c.app.features.store.SetPercent(r.Context(), consoleActor, key, p); err != nil {
		return "/console/flags", "", err
	}
	return "/console/flags", fmt.Sprintf("Flag %s rolls out to %d%%.", key, p), nil
}

// Backups.

func (c *console) backups(r *http.Request) (*tenancy.Tenant, any, error) {
	st, _ := c.app.backups.sched.Status("saas-db")
	catalog, err := c.app.backups.b.Manifests(r.Context())
	if err != nil {
		return nil, nil, err
	}
	slices.Reverse(catalog) // newest first
	// Verifications are recorded beside the backups, so this shows the
	// last one whoever ran it: this process, another replica, or an
	// operator's saaskit backup verify.
	verified, err := c.app.backups.b.Verifications(r.Context())
	if err != nil {
		return nil, nil, err
	}
	lastVerified := map[string]*backup.Verified{}
	for i, v := range verified {
		lastVerified[v.ID] = &verified[i]
	}
	var last *backup.Verified
	if len(verified) > 0 {
		last = &verified[0]
	}
	return nil, struct {
		Job          backup.Status
		LastVerify   *backup.Verified
		Backups      []*backup.Manifest
		LastVerified map[string]*backup.Verified
		Replication  *replication
	}{st, last, catalog, lastVerified, c.app.backups.replication(r.Context())}, nil
}

// Template functions.

// when formats a time for the console, or "never".
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// ago says how long ago t was, roughly.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return humanDuration(time.Since(t)) + " ago"
}

// successRate writes the share of a bucket's attempts that succeeded,
// or "—" when there were none.
func successRate(b webhook.AttemptBucket) string {
	rate, ok := b.SuccessRate()
	if !ok {
		return "—"
	}
	return percent(rate)
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

// loginLimiter allows each client address a few failed log-ins, then one
// a minute. It keeps at most loginClients addresses, forgetting the
// oldest first.
type loginLimiter struct {
	mu      sync.Mutex
	clients *lru.Cache[string, *rate.Limiter]
}

const (
	loginBurst   = 5
	loginEvery   = time.Minute
	loginClients = 10000
)

func newLoginLimiter() *loginLimiter {
	clients, _ := lru.New[string, *rate.Limiter](loginClients) // the size is a positive constant
	return &loginLimiter{clients: clients}
}

func (l *loginLimiter) limiter(client string) *rate.Limiter {
	lim, ok := l.clients.Get(client)
	if !ok {
		lim = rate.NewLimiter(rate.Every(loginEvery), loginBurst)
		l.clients.Add(client, lim)
	}
	return lim
}

// allowed reports whether client may try to log in at now, and if not,
// how long until it may.
func (l *loginLimiter) allowed(client string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.limiter(client)
	if lim.TokensAt(now) >= 1 {
		return 0, true
	}
	r := lim.ReserveN(now, 1)
	defer r.CancelAt(now)
	return r.DelayFrom(now), false
}

// failed spends one of client's attempts.
func (l *loginLimiter) failed(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limiter(client).AllowN(now, 1)
}
