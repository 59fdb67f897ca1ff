package tenancy_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy"
)

func tplFile(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

// tplFixture returns defaults and overrides: acme overrides welcome.txt
// and page.html; globex overrides nothing.
func tplFixture() (defaults, overrides fstest.MapFS) {
	defaults = fstest.MapFS{
		"welcome.txt":      tplFile("default: hello {{.Data.Name}}"),
		"page.html":        tplFile("<p>{{.Data.Name}}</p>"),
		"page.txt":         tplFile("{{.Data.Name}}"),
		"brand.txt":        tplFile("{{.Branding.Name}}|{{.Tenant.Slug}}|{{.Data.X}}"),
		"mail/reset.txt":   tplFile("default reset"),
		"broken.txt":       tplFile("{{.Data.Name"),
		"broken.html":      tplFile("{{if .Data}}no end"),
		"acme/welcome.txt": tplFile("a defaults file, not an override"),
	}
	overrides = fstest.MapFS{
		"acme/welcome.txt":    tplFile("acme: hi {{.Data.Name}}"),
		"acme/page.html":      tplFile("<b>{{.Data.Name}}</b>"),
		"acme/mail/reset.txt": tplFile("acme reset"),
		"acme/only.txt":       tplFile("acme only"),
		"acme-eu/welcome.txt": tplFile("acme-eu: {{.Data.Name}}"),
	}
	return defaults, overrides
}

func tplCtx(id, slug string) context.Context {
	return tenancy.WithTenant(context.Background(), &tenancy.Tenant{
		ID: id, Slug: slug, Branding: tenancy.Branding{Name: strings.ToUpper(slug) + " Mail"},
	})
}

func tplRender(ts *tenancy.Templates, ctx context.Context, name string, data any) (string, error) {
	var buf bytes.Buffer
	err := ts.Render(ctx, &buf, name, data)
	return buf.String(), err
}

func TestTemplatesOverrideAndDefault(t *testing.T) {
	defaults, overrides := tplFixture()
	ts := tenancy.NewTemplates(defaults, overrides)
	data := map[string]string{"Name": "Bob"}
	tests := []struct {
		name string
		ctx  context.Context
		tmpl string
		want string
	}{
		{"tenant with override", tplCtx("acme", "acme"), "welcome.txt", "acme: hi Bob"},
		{"tenant without override", tplCtx("globex", "globex"), "welcome.txt", "default: hello Bob"},
		{"tenant whose ID extends another's", tplCtx("acme-eu", "acme-eu"), "welcome.txt", "acme-eu: Bob"},
		{"no tenant", context.Background(), "welcome.txt", "default: hello Bob"},
		{"override of a nested name", tplCtx("acme", "acme"), "mail/reset.txt", "acme reset"},
		{"nested name default", tplCtx("globex", "globex"), "mail/reset.txt", "default reset"},
		{"override-only name", tplCtx("acme", "acme"), "only.txt", "acme only"},
		{"tenant default for a name acme-eu does not override", tplCtx("acme-eu", "acme-eu"), "mail/reset.txt", "default reset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tplRender(ts, tt.ctx, tt.tmpl, data)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestTemplatesWithoutOverridesFS(t *testing.T) {
	defaults, _ := tplFixture()
	ts := tenancy.NewTemplates(defaults, nil)
	got, err := tplRender(ts, tplCtx("acme", "acme"), "welcome.txt", map[string]string{"Name": "Bob"})
	require.NoError(t, err)
	assert.Equal(t, "default: hello Bob", got)
}

func TestTemplatesEscaping(t *testing.T) {
	defaults, overrides := tplFixture()
	ts := tenancy.NewTemplates(defaults, overrides)
	data := map[string]string{"Name": "<script>alert(1)</script>"}
	tests := []struct {
		name    string
		ctx     context.Context
		tmpl    string
		want    string
		escaped bool
	}{
		{"html default", tplCtx("globex", "globex"), "page.html", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>", true},
		{"html override", tplCtx("acme", "acme"), "page.html", "<b>&lt;script&gt;alert(1)&lt;/script&gt;</b>", true},
		{"text", tplCtx("globex", "globex"), "page.txt", "<script>alert(1)</script>", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tplRender(ts, tt.ctx, tt.tmpl, data)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, !tt.escaped, strings.Contains(got, "<script>"))
		})
	}
}

func TestTemplatesData(t *testing.T) {
	defaults, overrides := tplFixture()
	ts := tenancy.NewTemplates(defaults, overrides)

	got, err := tplRender(ts, tplCtx("globex", "globex-inc"), "brand.txt", map[string]int{"X": 42})
	require.NoError(t, err)
	assert.Equal(t, "GLOBEX-INC Mail|globex-inc|42", got)

	// A struct works as data too.
	got, err = tplRender(ts, tplCtx("globex", "globex-inc"), "brand.txt", struct{ X string }{"y"})
	require.NoError(t, err)
	assert.Equal(t, "GLOBEX-INC Mail|globex-inc|y", got)
}

func TestTemplatesErrors(t *testing.T) {
	defaults, overrides := tplFixture()
	ts := tenancy.NewTemplates(defaults, overrides)
	ctx := tplCtx("acme", "acme")

	t.Run("unknown name", func(t *testing.T) {
		for _, c := range []context.Context{ctx, tplCtx("globex", "globex"), context.Background()} {
			_, err := tplRender(ts, c, "nope.txt", nil)
			require.ErrorIs(t, err, tenancy.ErrNotFound)
			assert.Contains(t, err.Error(), "nope.txt")
		}
	})
	t.Run("override-only name for another tenant", func(t *testing.T) {
		_, err := tplRender(ts, tplCtx("globex", "globex"), "only.txt", nil)
		assert.ErrorIs(t, err, tenancy.ErrNotFound)
	})
	for _, name := range []string{"../x", "/abs", "", "a/", ".", "a//b", "a/../b", "./a", `a\..\b/`} {
		t.Run(fmt.Sprintf("invalid name %q", name), func(t *testing.T) {
			var buf bytes.Buffer
			err := ts.Render(ctx, &buf, name, nil)
			require.ErrorIs(t, err, tenancy.ErrInvalid)
			assert.Empty(t, buf.String())
		})
	}
	for _, name := range []string{"broken.txt", "broken.html"} {
		t.Run("parse error "+name, func(t *testing.T) {
			for range 2 { // not cached as a success
				_, err := tplRender(ts, ctx, name, nil)
				require.ErrorIs(t, err, tenancy.ErrInvalid)
				assert.Contains(t, err.Error(), name)
			}
		})
	}
	for _, name := range []string{"welcome.txt", "page.html"} {
		t.Run("missing key "+name, func(t *testing.T) {
			_, err := tplRender(ts, tplCtx("globex", "globex"), name, map[string]string{"Other": "x"})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "Name")
			assert.NotErrorIs(t, err, tenancy.ErrNotFound)
		})
	}
	t.Run("tenant field without tenant", func(t *testing.T) {
		_, err := tplRender(ts, context.Background(), "brand.txt", map[string]int{"X": 1})
		assert.Error(t, err)
	})
}

func TestTemplatesInvalidate(t *testing.T) {
	defaults, overrides := tplFixture()
	ts := tenancy.NewTemplates(defaults, overrides)
	data := map[string]string{"Name": "Bob"}
	acme, globex := tplCtx("acme", "acme"), tplCtx("globex", "globex")
	render := func(ctx context.Context) string {
		t.Helper()
		got, err := tplRender(ts, ctx, "welcome.txt", data)
		require.NoError(t, err)
		return got
	}

	require.Equal(t, "acme: hi Bob", render(acme))
	require.Equal(t, "default: hello Bob", render(globex))

	overrides["acme/welcome.txt"] = tplFile("acme v2: {{.Data.Name}}")
	defaults["welcome.txt"] = tplFile("default v2: {{.Data.Name}}")
	assert.Equal(t, "acme: hi Bob", render(acme), "cached until invalidated")
	assert.Equal(t, "default: hello Bob", render(globex), "cached until invalidated")

	ts.Invalidate("globex") // another tenant: acme keeps its cache
	assert.Equal(t, "acme: hi Bob", render(acme))

	ts.Invalidate("acme")
	assert.Equal(t, "acme v2: Bob", render(acme))
	assert.Equal(t, "default: hello Bob", render(globex), "a tenant's invalidation keeps the defaults")

	ts.Invalidate("") // everything
	assert.Equal(t, "default v2: Bob", render(globex))
	assert.Equal(t, "acme v2: Bob", render(acme))

	// A removed override falls back to the default after Invalidate.
	delete(overrides, "acme/welcome.txt")
	assert.Equal(t, "acme v2: Bob", render(acme))
	ts.Invalidate("acme")
	assert.Equal(t, "default v2: Bob", render(acme))
}

// tplGateFS blocks the first read of file gate until release is closed,
// after signalling reached: it holds a Render between reading a template
// and caching it.
type tplGateFS struct {
	fstest.MapFS
	gate    string
	once    sync.Once
	reached chan struct{}
	release chan struct{}
}

func (g *tplGateFS) ReadFile(name string) ([]byte, error) {
	b, err := g.MapFS.ReadFile(name)
	if name == g.gate {
		g.once.Do(func() {
			close(g.reached)
			<-g.release
		})
	}
	return b, err
}

// An Invalidate that runs while a Render is parsing the old version must
// not be undone by that Render caching what it read.
func TestTemplatesInvalidateDuringRender(t *testing.T) {
	defaults, overrides := tplFixture()
	gfs := &tplGateFS{MapFS: overrides, gate: "acme/welcome.txt", reached: make(chan struct{}), release: make(chan struct{})}
	ts := tenancy.NewTemplates(defaults, gfs)
	acme := tplCtx("acme", "acme")
	data := map[string]string{"Name": "Bob"}

	first := make(chan string, 1)
	go func() {
		got, err := tplRender(ts, acme, "welcome.txt", data)
		assert.NoError(t, err)
		first <- got
	}()
	<-gfs.reached // the render has read v1 and not cached it yet
	gfs.MapFS["acme/welcome.txt"] = tplFile("acme v2: {{.Data.Name}}")
	ts.Invalidate("acme")
	close(gfs.release)
	assert.Equal(t, "acme: hi Bob", <-first, "the render that started first sees v1")

	got, err := tplRender(ts, acme, "welcome.txt", data)
	require.NoError(t, err)
	assert.Equal(t, "acme v2: Bob", got, "the invalidated version must not be cached")
}

func TestTemplatesConcurrentRenders(t *testing.T) {
	defaults, overrides := tplFixture()
	ts := tenancy.NewTemplates(defaults, overrides)
	cases := []struct {
		ctx  context.Context
		name string
		want string
	}{
		{tplCtx("acme", "acme"), "welcome.txt", "acme: hi Ann"},
		{tplCtx("globex", "globex"), "welcome.txt", "default: hello Ann"},
		{tplCtx("acme", "acme"), "page.html", "<b>Ann</b>"},
		{tplCtx("globex", "globex"), "page.html", "<p>Ann</p>"},
		{context.Background(), "page.txt", "Ann"},
	}
	data := map[string]string{"Name": "Ann"}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 40 {
				c := cases[(g+i)%len(cases)]
				got, err := tplRender(ts, c.ctx, c.name, data)
				assert.NoError(t, err)
				assert.Equal(t, c.want, got)
				if i%10 == 0 {
					ts.Invalidate([]string{"acme", "globex", ""}[g%3])
				}
			}
		})
	}
	wg.Wait()
}
