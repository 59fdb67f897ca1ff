package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing/fstest"
	"time"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/tenancy/memstore"
)

func Example() {
	ctx := context.Background()
	st := memstore.New()
	reg := tenancy.NewRegistry(st, st, tenancy.Options{})
	defer reg.Close()
	if _, err := reg.Create(ctx, &tenancy.Tenant{ID: "t1", Slug: "acme", Name: "Acme"}); err != nil {
		fmt.Println(err)
		return
	}

	sub, _ := tenancy.Subdomain(reg, []string{"example.com"})
	mw := tenancy.Middleware(tenancy.MiddlewareOptions{Identify: []tenancy.Resolver{sub}})
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, _ := tenancy.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s", t.Name)
	}))

	for _, host := range []string{"acme.example.com", "nobody.example.com"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://"+host+"/", nil))
		fmt.Println(rec.Code, rec.Header().Get("Content-Type"), strings.Split(rec.Body.String(), ",")[0])
	}
	// Output:
	// 200 text/plain; charset=utf-8 hello Acme
	// 404 application/problem+json {"type":"about:blank"
}

func ExampleValidate() {
	err := tenancy.Validate(&tenancy.Tenant{ID: "t1", Slug: "Acme!", Name: "Acme",
		Status: tenancy.StatusActive, Isolation: tenancy.IsolationShared}, nil)
	fmt.Println(err)
	// Output:
	// tenancy: invalid slug: must be 2 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-'
}

func ExampleRegistry_CreateKey() {
	ctx := context.Background()
	st := memstore.New()
	reg := tenancy.NewRegistry(st, st, tenancy.Options{})
	defer reg.Close()
	t, _ := reg.Create(ctx, &tenancy.Tenant{Slug: "acme", Name: "Acme"})

	token, key, _ := reg.CreateKey(ctx, t.ID, tenancy.KeyOptions{Name: "ci", Scopes: []string{"invoices:read"}})
	fmt.Println(strings.HasPrefix(token, "sk_live_"), len(token))

	who, used, err := reg.Authenticate(ctx, token)
	fmt.Println(who.Slug, used.ID == key.ID, used.HasScope("invoices:read"), err)

	_ = reg.RevokeKey(ctx, t.ID, key.ID)
	_, _, err = reg.Authenticate(ctx, token)
	fmt.Println(err)
	// Output:
	// true 58
	// acme true true <nil>
	// tenancy: invalid or missing credential
}

func ExampleTemplates() {
	defaults := fstest.MapFS{"welcome.txt": {Data: []byte("Welcome to {{.Branding.Name}}, {{.Data}}!")}}
	overrides := fstest.MapFS{"t-globex/welcome.txt": {Data: []byte("Globex says hi, {{.Data}}.")}}
	ts := tenancy.NewTemplates(defaults, overrides)

	for _, t := range []*tenancy.Tenant{
		{ID: "t-acme", Branding: tenancy.Branding{Name: "Acme Cloud"}},
		{ID: "t-globex"},
	} {
		_ = ts.Render(tenancy.WithTenant(context.Background(), t), os.Stdout, "welcome.txt", "Ada")
		fmt.Println()
	}
	// Output:
	// Welcome to Acme Cloud, Ada!
	// Globex says hi, Ada.
}

func ExampleTransport() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("X-Tenant-ID"))
	}))
	defer backend.Close()
	client := &http.Client{Transport: &tenancy.Transport{}}

	ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "t-acme"})
	req, _ := http.NewRequestWithContext(ctx, "GET", backend.URL, nil)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: t-acme
}

// Plans entitle tenants to features and counts; a tenant's own record
// can override its plan, as a sales exception.
func ExampleEntitlements() {
	e, _ := tenancy.NewEntitlements(map[string]tenancy.Plan{
		"":    {Limits: map[string]int64{"endpoints": 1}},
		"pro": {Features: map[string]bool{"sso": true}, Limits: map[string]int64{"endpoints": 10}},
	})
	acme := &tenancy.Tenant{ID: "acme", Settings: map[string]string{"limit.endpoints": "3"}}
	ctx := tenancy.WithTenant(context.Background(), acme)
	fmt.Println(e.Entitled(ctx, "sso"))
	fmt.Println(e.Within(ctx, "endpoints", 3))
	fmt.Println(e.Within(ctx, "endpoints", 4))
	// Output:
	// false
	// <nil>
	// tenancy: not entitled: 4 endpoints is over the limit of 3 on the default plan
}

func ExampleMetering() {
	ent, _ := tenancy.NewEntitlements(map[string]tenancy.Plan{
		"free": {Limits: map[string]int64{"api_calls": 2}},
	})
	now := func() time.Time { return time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC) }
	m, _ := tenancy.NewMetering(memstore.New(), ent, tenancy.MeteringOptions{Now: now})
	ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: "acme", Plan: "free"})
	for range 3 {
		total, err := m.Consume(ctx, "api_calls", 1)
		fmt.Println(total, err)
	}
	var over *tenancy.UsageLimitError
	_, err := m.Consume(ctx, "api_calls", 1)
	if errors.As(err, &over) {
		fmt.Println("next period from", over.Reset.Format(time.DateOnly))
	}
	// Output:
	// 1 <nil>
	// 2 <nil>
	// 2 tenancy: not entitled: 1 more api_calls would exceed the limit of 2 a month on plan "free" (2 used; resets 2026-04-01T00:00:00Z)
	// next period from 2026-04-01
}
