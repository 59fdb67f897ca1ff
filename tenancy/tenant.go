package tenancy

import (
	"crypto/rand"
	"encoding/base32"
	"maps"
	"slices"
	"strings"
	"time"
)

// Status is a tenant's lifecycle state.
type Status string

// Tenant statuses. Only active tenants are served; suspended tenants get
// 403 and deleted tenants are treated as unknown (404).
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
	StatusDeleted   Status = "deleted"
)

// Isolation says where a tenant's data lives.
type Isolation string

// Isolation modes.
const (
	// IsolationShared keeps the tenant's rows in the shared database,
	// told apart by a tenant_id column (the default).
	IsolationShared Isolation = "shared"
	// IsolationDedicated gives the tenant its own database, reached
	// through Tenant.DSN.
	IsolationDedicated Isolation = "dedicated"
)

// Tenant is one customer organisation. Stores return copies; change a
// tenant through Registry.Update.
type Tenant struct {
	// ID is the stable identifier: 1 to 64 characters of A-Z, a-z, 0-9,
	// '_' and '-'. Registry.Create generates one when empty.
	ID string `json:"id"`
	// Slug names the tenant in URLs and subdomains (acme in
	// acme.example.com): 2 to 63 characters of a-z, 0-9 and '-', not
	// starting or ending with '-'. Unique.
	Slug string `json:"slug"`
	// Name is the display name, 1 to 200 characters.
	Name string `json:"name"`
	// Status defaults to StatusActive.
	Status Status `json:"status"`
	// Plan is the plan tier ("free", "pro", ...), used by rate limits.
	// Empty means the default tier.
	Plan string `json:"plan,omitempty"`
	// Region is the home region for data residency. When the Registry is
	// configured with regions, it must be one of them.
	Region string `json:"region,omitempty"`
	// Isolation defaults to IsolationShared.
	Isolation Isolation `json:"isolation"`
	// DSN is the dedicated database for IsolationDedicated and must be
	// empty otherwise. It may carry credentials: it is never logged nor
	// encoded to JSON.
	DSN string `json:"-"`
	// Branding is the white-label look.
	Branding Branding `json:"branding"`
	// Domains are custom domains served for this tenant (app.acme.com),
	// lower-case, unique across tenants: its verified domains, and failing
	// ones in their grace period. Names set here directly serve at once
	// unless DomainOptions.RequireVerification; Registry.AddDomain adds
	// one that serves once verified.
	Domains []string `json:"domains,omitempty"`
	// APIVersion pins the tenant to an API version, in any form package
	// versioning accepts (2024-01-01, 2024-01-01.name, v2); empty
	// follows the API's default. versioning reads this pin first, and
	// versioning.TenantPins keeps its pins here.
	APIVersion string `json:"api_version,omitempty"`
	// Settings holds free-form per-tenant configuration.
	Settings map[string]string `json:"settings,omitempty"`
	// Version increases by one on every successful update; stores use it
	// for optimistic concurrency.
	Version int64 `json:"version"`
	// CreatedAt and UpdatedAt are set by the store (UTC).
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Branding is what a tenant's users see instead of the product's own look.
type Branding struct {
	Name           string            `json:"name,omitempty"`            // product name shown to the tenant's users
	LogoURL        string            `json:"logo_url,omitempty"`        // absolute http(s) URL
	PrimaryColor   string            `json:"primary_color,omitempty"`   // #rgb, #rrggbb or #rrggbbaa
	SecondaryColor string            `json:"secondary_color,omitempty"` // same format
	Font           string            `json:"font,omitempty"`            // CSS font-family: letters, digits, spaces, ',', '-', quotes
	SupportEmail   string            `json:"support_email,omitempty"`   // a single address
	CSSVars        map[string]string `json:"css_vars,omitempty"`        // custom properties: "--name" → value
}

// Active reports whether the tenant may be served.
func (t *Tenant) Active() bool { return t.Status == StatusActive }

// Clone returns a deep copy, so callers may change it freely.
func (t *Tenant) Clone() *Tenant {
	c := *t
	c.Domains = slices.Clone(t.Domains)
	c.Settings = maps.Clone(t.Settings)
	c.Branding.CSSVars = maps.Clone(t.Branding.CSSVars)
	return &c
}

// normalize lower-cases and fills defaults in place before validation.
func (t *Tenant) normalize() {
	t.Slug = strings.ToLower(strings.TrimSpace(t.Slug))
	t.Name = strings.TrimSpace(t.Name)
	if t.Status == "" {
		t.Status = StatusActive
	}
	if t.Isolation == "" {
		t.Isolation = IsolationShared
	}
	for i, d := range t.Domains {
		t.Domains[i] = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
	}
	t.Branding.PrimaryColor = strings.ToLower(t.Branding.PrimaryColor)
	t.Branding.SecondaryColor = strings.ToLower(t.Branding.SecondaryColor)
}

// NewID returns a random tenant ID of the form "tnt_" followed by 16
// base32 characters.
func NewID() string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "tnt_" + strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}
