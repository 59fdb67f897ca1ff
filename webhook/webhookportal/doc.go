// Package webhookportal is an embeddable webhook portal: an
// http.Handler of server-rendered pages that an application mounts under
// its own routes, so that its tenants' users manage their own webhooks,
// in the tenant's branding, inside the application's pages or beside
// them (as Svix's app portal does).
//
//	portal, err := webhookportal.New(dispatcher, webhookportal.Options{
//		BaseURL:        "/portal/webhooks/",
//		Key:            portalKey, // 32+ random bytes, the same in every replica
//		Tenants:        registry,  // branding and status for link sessions
//		FrameAncestors: []string{"https://app.example"},
//	})
//	mux.Handle(portal.Path(), authenticate(portal)) // sets the tenancy principal, or not
//
// # Who is served
//
// Every page acts for one tenant, and only the request decides which:
// the authenticated principal the application put in its context
// (tenancy.PrincipalFromContext), or else a session the portal opened
// from a link. Never a URL, form value, host or header: every endpoint,
// message and delivery is looked up under that tenant, and another
// tenant's ID is not found (404). When the context also names a tenant
// (a host, say), it must be the same one (403 otherwise).
//
// # Links
//
// An application that does not want its customers' browsers to hold its
// credentials gives them a link instead:
//
//	url, err := portal.Link(tenantID, 10*time.Minute) // after authenticating the customer
//
// The link is signed with Options.Key (HMAC-SHA256), bound to the tenant
// and to its one use, and expires; its token travels in the URL's
// fragment, which browsers send to no server, so it stays out of access
// logs and Referer headers. The link page's script (assets/link.js, the
// portal's only script) posts it to the portal, which answers with a
// session cookie for Options.SessionTTL. Sessions and links are
// stateless: any replica with the key reads them, none stores them, and
// a session cannot be revoked before it expires.
//
// # Pages
//
//	GET  /                                  endpoints, and the tenant's delivery charts
//	GET  /endpoints/new, POST /endpoints    create; the secret is shown once
//	GET  /endpoints/{id}                    settings, charts, deliveries, actions
//	GET  /endpoints/{id}/edit, POST /endpoints/{id}
//	POST /endpoints/{id}/delete, /disable, /enable
//	POST /endpoints/{id}/rotate             a new secret, shown once; the old one overlaps
//	POST /endpoints/{id}/replay, /recover   a time window's messages, or failed deliveries
//	GET  /event-types                       the catalogue, with payload schemas
//	GET  /messages, GET /messages/{id}      kept messages, filtered by type and time
//	POST /messages/{id}/resend              to one endpoint
//	GET  /messages/{id}/deliveries/{delivery}  attempts: request, status, latency, response
//	POST /messages/{id}/deliveries/{delivery}/retry
//	GET  /link, POST /link, POST /logout
//
// Lists page with opaque cursors (?cursor=), never offsets, with no cap
// on how far they go. Charts of success rate and latency (median and
// 95th percentile) per hour of the last day or per six hours of the last
// week are drawn on the server as inline SVG from
// Dispatcher.AttemptHistory for the tenant, or for one endpoint.
//
// # Security
//
// Every answer carries a strict Content-Security-Policy (default-src
// 'none'; scripts, styles and images from the portal only, the tenant's
// logo excepted; forms to the portal only; frame-ancestors
// Options.FrameAncestors or 'none'), X-Content-Type-Options: nosniff,
// Referrer-Policy: no-referrer and Cache-Control: no-store. Nothing is
// inline: styles are assets/portal.css and the tenant's theme.css.
// Every change is a form post that must pass http.CrossOriginProtection
// and carry the CSRF token of its browser session, bound to the tenant.
// Values from tenants (URLs, payloads, response bodies) are escaped by
// html/template.
//
// # Branding
//
// Pages show the tenant's tenancy.Branding: its product name, logo and
// support address, and theme.css sets its colours, font and CSS
// variables (tenancy validates them as safe for CSS). theme.css is a
// tenancy.Templates template: Options.ThemeOverrides replaces it for one
// tenant or all.
package webhookportal
