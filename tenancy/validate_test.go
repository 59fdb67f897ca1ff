package tenancy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy"
)

func validTenant() *tenancy.Tenant {
	return &tenancy.Tenant{
		ID: "t1", Slug: "acme", Name: "Acme", Status: tenancy.StatusActive, Isolation: tenancy.IsolationShared,
		Branding: tenancy.Branding{
			LogoURL: "https://cdn.acme.com/logo.svg", PrimaryColor: "#0af", SecondaryColor: "#00aaff80",
			Font: `"Inter", sans-serif`, SupportEmail: "help@acme.com", CSSVars: map[string]string{"--radius": "4px"},
		},
		Domains: []string{"app.acme.com", "xn--bcher-kva.example"}, APIVersion: "2025-09-30",
		Settings: map[string]string{"feature.beta": "on"},
	}
}

func TestValidateAcceptsAValidTenant(t *testing.T) {
	require.NoError(t, tenancy.Validate(validTenant(), nil))
	require.NoError(t, tenancy.Validate(validTenant(), []string{""}))
}

func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		field  string
		change func(t *tenancy.Tenant)
	}{
		{"id", func(t *tenancy.Tenant) { t.ID = "" }},
		{"id", func(t *tenancy.Tenant) { t.ID = "a/b" }},
		{"id", func(t *tenancy.Tenant) { t.ID = strings.Repeat("a", 65) }},
		{"slug", func(t *tenancy.Tenant) { t.Slug = "a" }},
		{"slug", func(t *tenancy.Tenant) { t.Slug = "-acme" }},
		{"slug", func(t *tenancy.Tenant) { t.Slug = "acme-" }},
		{"slug", func(t *tenancy.Tenant) { t.Slug = "ac_me" }},
		{"slug", func(t *tenancy.Tenant) { t.Slug = "Acme" }},
		{"slug", func(t *tenancy.Tenant) { t.Slug = strings.Repeat("a", 64) }},
		{"name", func(t *tenancy.Tenant) { t.Name = "" }},
		{"name", func(t *tenancy.Tenant) { t.Name = "bad\nname" }},
		{"status", func(t *tenancy.Tenant) { t.Status = "paused" }},
		{"plan", func(t *tenancy.Tenant) { t.Plan = "pro plan" }},
		{"region", func(t *tenancy.Tenant) { t.Region = "eu west" }},
		{"isolation", func(t *tenancy.Tenant) { t.Isolation = "sharded" }},
		{"dsn", func(t *tenancy.Tenant) { t.DSN = "postgres://x" }},
		{"dsn", func(t *tenancy.Tenant) { t.Isolation = tenancy.IsolationDedicated }},
		{"domains[0]", func(t *tenancy.Tenant) { t.Domains[0] = "localhost" }},
		{"domains[0]", func(t *tenancy.Tenant) { t.Domains[0] = "10.0.0.1" }},
		{"domains[0]", func(t *tenancy.Tenant) { t.Domains[0] = "a..com" }},
		{"domains[0]", func(t *tenancy.Tenant) { t.Domains[0] = "APP.acme.com" }},
		{"domains[0]", func(t *tenancy.Tenant) { t.Domains[0] = "bücher.example" }},
		{"domains[1]", func(t *tenancy.Tenant) { t.Domains[1] = t.Domains[0] }},
		{"api_version", func(t *tenancy.Tenant) { t.APIVersion = "2025-13-01" }},
		{"settings", func(t *tenancy.Tenant) { t.Settings["bad key"] = "x" }},
		{"settings.big", func(t *tenancy.Tenant) { t.Settings["big"] = strings.Repeat("x", 4097) }},
		{"branding.logo_url", func(t *tenancy.Tenant) { t.Branding.LogoURL = "javascript:alert(1)" }},
		{"branding.logo_url", func(t *tenancy.Tenant) { t.Branding.LogoURL = "/relative.png" }},
		{"branding.primary_color", func(t *tenancy.Tenant) { t.Branding.PrimaryColor = "blue" }},
		{"branding.primary_color", func(t *tenancy.Tenant) { t.Branding.PrimaryColor = "#12345" }},
		{"branding.secondary_color", func(t *tenancy.Tenant) { t.Branding.SecondaryColor = "#ggg" }},
		{"branding.font", func(t *tenancy.Tenant) { t.Branding.Font = "Inter; background:url(x)" }},
		{"branding.support_email", func(t *tenancy.Tenant) { t.Branding.SupportEmail = "Help <help@acme.com>" }},
		{"branding.support_email", func(t *tenancy.Tenant) { t.Branding.SupportEmail = "nope" }},
		{"branding.css_vars", func(t *tenancy.Tenant) { t.Branding.CSSVars["radius"] = "4px" }},
		{"branding.css_vars.--radius", func(t *tenancy.Tenant) { t.Branding.CSSVars["--radius"] = "4px}</style><script>" }},
	}
	for _, tc := range tests {
		tn := validTenant()
		tc.change(tn)
		err := tenancy.Validate(tn, nil)
		require.ErrorIs(t, err, tenancy.ErrInvalid, tc.field)
		assert.True(t, hasFieldError(err, tc.field), "want field %s in %v", tc.field, err)
	}
}

func hasFieldError(err error, field string) bool {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			if hasFieldError(e, field) {
				return true
			}
		}
		return false
	}
	var fe *tenancy.FieldError
	return errors.As(err, &fe) && fe.Field == field
}

func TestValidateReportsEveryField(t *testing.T) {
	err := tenancy.Validate(&tenancy.Tenant{}, nil)
	for _, f := range []string{"id", "slug", "name", "status", "isolation"} {
		assert.True(t, hasFieldError(err, f), f)
	}
}

func TestValidDomain(t *testing.T) {
	for d, want := range map[string]bool{
		"acme.com": true, "a.b.c.example": true, "xn--80ak6aa92e.com": true, "acme.co1": true,
		"acme": false, "acme.123": false, ".acme.com": false, "acme..com": false, "-a.com": false,
		strings.Repeat("a.", 127) + "com": false,
	} {
		assert.Equal(t, want, tenancy.ValidDomain(d), d)
	}
}
