// Package webhookapi is the tenant-facing management API of package
// webhook: an http.Handler that an application mounts under its own
// routes and authentication, so that each tenant manages its webhook
// endpoints, sees its messages, deliveries and attempts, and sends
// again what it needs to.
//
//	api := webhookapi.New(dispatcher, webhookapi.Options{ReadScope: "webhooks:read", WriteScope: "webhooks:write"})
//	mux.Handle("/api/webhooks/", requireAPIKey(http.StripPrefix("/api/webhooks", api)))
//
// Every route acts for the tenant of the request's authenticated
// principal (tenancy.PrincipalFromContext), never for a tenant a host,
// path or header names: another tenant's endpoint, message or delivery
// is not found. Options.Tenant replaces that rule for other
// authentication (a portal session, say).
//
// # Routes
//
//	GET    /event-types                  the catalogue's event types
//	GET    /endpoints                    endpoints, a page at a time
//	POST   /endpoints                    create; the secret is shown once
//	GET    /endpoints/{id}
//	PUT    /endpoints/{id}               replace its settings
//	DELETE /endpoints/{id}
//	POST   /endpoints/{id}/disable       with a reason
//	POST   /endpoints/{id}/enable
//	POST   /endpoints/{id}/rotate-secret with an overlap
//	POST   /endpoints/{id}/recover       requeue dead deliveries of a window
//	POST   /endpoints/{id}/replay        send a window's messages again
//	GET    /messages                     kept messages, by time
//	POST   /messages/{id}/resend         to one endpoint
//	GET    /deliveries                   by endpoint, message and state
//	GET    /deliveries/{id}/attempts     with the responses
//	POST   /deliveries/{id}/retry        a dead delivery
//	GET    /openapi.json                 the OpenAPI 3.1 document (OpenAPI)
//
// Lists answer {"data": [...], "next_cursor": ...}: pass next_cursor
// back as ?cursor= for the next page (keyset pagination, no offsets),
// with ?limit= from 1 to 100 (default 50). Errors are RFC 9457 problem
// details: 400 for what the API cannot read, 422 for values the
// dispatcher refuses (with the reason), 401 and 403, 404, 409 for a
// conflict. Endpoint secrets and authentication are never shown after
// creation; an endpoint says only whether it has authentication.
package webhookapi
