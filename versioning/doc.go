// Package versioning brings Stripe's API versioning model to Go:
// handlers implement only the newest version; every change since an
// older version is a small Change that migrates that caller's requests
// up and the responses back down; each tenant is pinned to the version
// it started with.
//
//	api, err := versioning.New(versioning.Options{
//		Versions: []string{"2024-01-01", "2024-06-01"},
//		Changes: []versioning.Change{{
//			Version:     "2024-06-01",
//			Description: "`name` is now `full_name`.",
//			Requests:    []versioning.Migration{{Routes: []string{"POST /users"}, Apply: versioning.RenameField("name", "full_name")}},
//			Responses:   []versioning.Migration{{Types: []string{"user"}, Apply: versioning.RenameField("full_name", "name")}},
//		}},
//		Pins: versioning.NewTenantPins(reg), AutoPin: true,
//	})
//	http.ListenAndServe(addr, tenantMiddleware(api.Middleware(mux)))
//
// # Versions and resolution
//
// Versions are dates (2024-01-15, optionally named like Stripe's
// 2024-09-30.acacia) or majors (v1, v2), listed oldest first; the last is
// the head. A request's version comes, in this order, from the version
// header (API-Version by default), the path prefix (/v2/users, stripped
// before routing, when Options.PathPrefix is set), the version parameter
// of the configured Accept media type
// (application/vnd.example+json; version=2024-01-15), the tenant's pin
// (package tenancy's tenant: its record's APIVersion first, else the
// PinStore's; pinned at its first request with AutoPin, and kept in the
// record itself with TenantPins),
// and finally Options.Default (the head unless set). The version is
// echoed in the version header. An unknown or malformed version gets 400
// problem+json listing the supported versions.
//
// # Changes and migrations
//
// A Change carries its changelog text, request migrations (older to
// newer), response migrations (newer to older, error responses
// included), the routes it added (404 for older callers) or removed
// (410 for newer ones), and the routes it renamed (an older caller's
// path to the old one reaches the new one's handler; wildcards keep
// their values, escaped slashes included). A migration sees the whole
// exchange: the body, the headers, a request's query parameters and a
// response's status, all of which it may change (a 204 that older
// callers got as 200 with a body, say). Form-encoded request bodies
// (application/x-www-form-urlencoded, as Stripe takes them) migrate as
// JSON objects of strings and are encoded back as forms. Migrations are scoped to ServeMux patterns or to
// payload types that handlers declare with SetType; they rewrite decoded
// JSON in which numbers stay exact (json.Number). RenderPayload applies
// the same response migrations to a webhook payload for an endpoint
// pinned to an older version. A request body to migrate is read whole
// before the handler's own limit applies, so it is bounded by
// Options.MaxBody (1 MiB by default): a larger one is refused with 413
// before it is read; a response larger than 8 MiB passes through
// unmigrated, as a stream.
//
// # Documents per version
//
// Operations register each route's request and response schemas as of
// the newest version that has them (SchemaFor reflects them from Go
// types, or write JSON Schema by hand). Each Migration declares what its
// change did to the bodies it reaches (FieldRenamed, FieldAdded,
// FieldRemoved, FieldTypeChanged), and New derives every older version's
// schemas by undoing the changes from the head down, as Cadwyn does; an
// effect naming a field the schema lacks is an error then, naming the
// change, not at request time. Each version gets an OpenAPI 3.1
// document (its routes, parameters, request and response schemas,
// errors as RFC 9457 problems, deprecation and sunset), rendered once
// and served by OpenAPIHandler; MigrationGuide says, step by step, what
// a client changes. versioningtest.RunContract holds an application to
// every version's document, and versioningtest.CheckChanges holds each
// migration to its declared effects. Options.Payloads gives webhook
// payloads' schemas by type at the head, and PayloadSchema derives them
// at each version as RenderPayload shapes them, for an event-type
// catalogue to publish.
//
// # Deprecation and sunset
//
// Versions and routes carry a Lifecycle: Deprecation (RFC 9745),
// Sunset (RFC 8594) and Link rel="deprecation" headers; after the
// sunset, 410 problem+json naming the oldest supported version.
// Requests are counted per version and tenant in the OpenTelemetry
// metric saaskit.versioning.requests, so a team knows who still calls
// an old version before its sunset. Changelog renders the history as
// Markdown.
package versioning
