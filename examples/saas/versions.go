package main

import (
	"net/http"
	"strings"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/versioning"
)

// The demo API's history. Handlers implement 2025-01-01; each change
// below carries older callers across it.
//
//	2024-01-01  a user is {id, email, name}; GET /api/users/lookup finds one
//	2024-06-01  email is renamed email_address
//	2025-01-01  name is split into first_name and last_name;
//	            GET /api/users/lookup is removed (use GET /api/users)
var apiVersions = []string{"2024-01-01", "2024-06-01", "2025-01-01"}

var apiChanges = []versioning.Change{
	{
		Version:     "2024-06-01",
		Description: "A user's `email` is renamed `email_address`.",
		Requests: []versioning.Migration{{Routes: []string{"POST /api/users"}, Apply: versioning.RenameField("email", "email_address"),
			Effects: []versioning.SchemaEffect{versioning.FieldRenamed("email", "email_address")}}},
		Responses: []versioning.Migration{{Types: []string{"user"}, Apply: versioning.RenameField("email_address", "email"),
			Effects: []versioning.SchemaEffect{versioning.FieldRenamed("email", "email_address")}}},
	},
	{
		Version:       "2025-01-01",
		Description:   "A user's `name` is split into `first_name` and `last_name`; `GET /api/users/lookup` is removed in favour of `GET /api/users`.",
		Requests:      []versioning.Migration{{Routes: []string{"POST /api/users"}, Apply: splitName, Effects: nameSplit}},
		Responses:     []versioning.Migration{{Types: []string{"user"}, Apply: joinName, Effects: nameSplit}},
		RemovedRoutes: []string{"GET /api/users/lookup"},
	},
}

// nameSplit is what 2025-01-01 did to a user's schema.
var nameSplit = []versioning.SchemaEffect{
	versioning.FieldRemoved("name", versioning.Schema{"type": "string"}),
	versioning.FieldAdded("first_name"), versioning.FieldAdded("last_name"),
}

// userEvent is the schema of a user event's payload at the head:
// {"type": "user.created", "data": <the user>}.
func userEvent() versioning.Schema {
	return versioning.Schema{"type": "object", "required": []any{"type", "data"}, "properties": map[string]any{
		"type": map[string]any{"type": "string"},
		"data": versioning.SchemaFor(user{}),
	}}
}

// apiOperations document the users API, each route as of the newest
// version that has it; every version's OpenAPI document follows from
// them and the changes' effects (GET /openapi/<version>.json).
func apiOperations() []versioning.Operation {
	userSchema := versioning.SchemaFor(user{})
	users := versioning.Schema{"type": "array", "items": userSchema}
	// GET /api/users/lookup left in 2025-01-01: its schema is as of
	// 2024-06-01, when a user had a name.
	before := versioning.SchemaFor(user{})
	props := before["properties"].(map[string]any)
	delete(props, "first_name")
	delete(props, "last_name")
	props["name"] = map[string]any{"type": "string"}
	return []versioning.Operation{
		{Route: "POST /api/users", Summary: "Create a user", Type: "user", Request: versioning.SchemaFor(newUser{}),
			Responses: map[int]versioning.Schema{http.StatusCreated: userSchema}},
		{Route: "GET /api/users", Summary: "Find users by email address", Type: "user",
			Responses: map[int]versioning.Schema{http.StatusOK: users}},
		{Route: "GET /api/users/lookup", Summary: "Find users by email address (before 2025-01-01)", Type: "user",
			Responses: map[int]versioning.Schema{http.StatusOK: {"type": "array", "items": before}}},
		{Route: "DELETE /api/users/{id}", Summary: "Erase a user", Responses: map[int]versioning.Schema{http.StatusNoContent: nil}},
		{Route: "GET /api/usage", Summary: "The calling tenant's usage and limits this period, per metered name",
			Responses: map[int]versioning.Schema{http.StatusOK: versioning.SchemaFor(usageResponse{})}},
	}
}

// splitName turns an older caller's "name" into first and last names:
// the last word is the last name.
func splitName(b *versioning.Body) error {
	b.Objects(func(u map[string]any) {
		name, ok := u["name"].(string)
		if !ok {
			return
		}
		delete(u, "name")
		name = strings.TrimSpace(name)
		first, last := name, ""
		if i := strings.LastIndexByte(name, ' '); i > 0 {
			first, last = strings.TrimSpace(name[:i]), name[i+1:]
		}
		u["first_name"], u["last_name"] = first, last
	})
	return nil
}

// joinName gives an older caller "name" back.
func joinName(b *versioning.Body) error {
	b.Objects(func(u map[string]any) {
		first, okFirst := u["first_name"].(string)
		last, okLast := u["last_name"].(string)
		if !okFirst && !okLast {
			return
		}
		delete(u, "first_name")
		delete(u, "last_name")
		u["name"] = strings.TrimSpace(first + " " + last)
	})
	return nil
}

// newAPI defines the versioned API; tenants are pinned to the version
// current at their first request, in their own record
// (tenancy.Tenant.APIVersion), the one place a pin is kept.
func newAPI(reg *tenancy.Registry) (*versioning.API, error) {
	return versioning.New(versioning.Options{
		Versions:     apiVersions,
		Changes:      apiChanges,
		Pins:         versioning.NewTenantPins(reg),
		AutoPin:      true,
		Title:        "saaskit demo users API",
		Operations:   apiOperations(),
		DocumentPath: "/openapi/",
		Payloads:     map[string]versioning.Schema{"user": userEvent()},
	})
}

// payloadType is the versioned type of an event's data: "user" for
// user.created, user.erased, ...
func payloadType(eventType string) string {
	t, _, _ := strings.Cut(eventType, ".")
	return t
}
