package tenancy

import (
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"path"
	"strings"
	"sync"
	texttemplate "text/template"
)

// Templates renders white-labelled messages (emails, notices): a tenant's
// own version of a template when it has one, the default otherwise.
// Names ending in .html are html/template (contextual escaping); any
// other name is text/template. Parsed templates are cached.
//
// Templates are code: overrides must come from the operator, not be
// typed in by tenants' users.
type Templates struct {
	defaults  fs.FS
	overrides fs.FS
	mu        sync.RWMutex
	parsed    map[string]executor // "<tenant ID>/<name>" or "/<name>" for defaults
	gen       uint64              // bumped by Invalidate, so a parse that raced it is not cached
}

type executor interface {
	Execute(w io.Writer, data any) error
}

// TemplateData is what a template sees as its dot.
type TemplateData struct {
	Tenant   *Tenant  // the tenant the message is for
	Branding Branding // Tenant.Branding, for short
	Data     any      // the caller's data
}

// NewTemplates returns Templates reading defaults from defaults and a
// tenant's overrides from the directory named by its ID in overrides
// (overrides may be nil).
func NewTemplates(defaults, overrides fs.FS) *Templates {
	return &Templates{defaults: defaults, overrides: overrides, parsed: map[string]executor{}}
}

// Render executes template name for the tenant in ctx (or the default
// when ctx has none) with data, writing to w.
func (ts *Templates) Render(ctx context.Context, w io.Writer, name string, data any) error {
	if !fs.ValidPath(name) || name == "." || strings.HasSuffix(name, "/") {
		return fieldErr("template", "name must be a slash-separated relative path")
	}
	t, _ := FromContext(ctx)
	tmpl, err := ts.lookup(t, name)
	if err != nil {
		return err
	}
	td := TemplateData{Tenant: t, Data: data}
	if t != nil {
		td.Branding = t.Branding
	}
	if err := tmpl.Execute(w, td); err != nil {
		return fmt.Errorf("render template %s: %w", name, err)
	}
	return nil
}

func (ts *Templates) lookup(t *Tenant, name string) (executor, error) {
	var candidates [2]string
	keys := candidates[:0]
	if t != nil && ts.overrides != nil {
		keys = append(keys, t.ID+"/"+name)
	}
	keys = append(keys, "/"+name)
	for _, key := range keys {
		ts.mu.RLock()
		tmpl, ok := ts.parsed[key]
		gen := ts.gen
		ts.mu.RUnlock()
		if ok {
			return tmpl, nil
		}
		fsys, file := ts.defaults, name
		if key[0] != '/' {
			fsys, file = ts.overrides, key
		}
		if fsys == nil {
			continue
		}
		src, err := fs.ReadFile(fsys, file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read template %s: %w", file, err)
		}
		tmpl, err = parseTemplate(file, string(src))
		if err != nil {
			return nil, err
		}
		ts.mu.Lock()
		if ts.gen == gen { // else Invalidate ran since the read: what we read may be stale
			ts.parsed[key] = tmpl
		}
		ts.mu.Unlock()
		return tmpl, nil
	}
	return nil, fmt.Errorf("template %s: %w", name, ErrNotFound)
}

func parseTemplate(file, src string) (executor, error) {
	var (
		tmpl executor
		err  error
	)
	if path.Ext(file) == ".html" {
		tmpl, err = htmltemplate.New(path.Base(file)).Option("missingkey=error").Parse(src)
	} else {
		tmpl, err = texttemplate.New(path.Base(file)).Option("missingkey=error").Parse(src)
	}
	if err != nil {
		return nil, fmt.Errorf("parse template %s: %w: %w", file, ErrInvalid, err)
	}
	return tmpl, nil
}

// Invalidate forgets the parsed overrides of one tenant (after they
// change), or every parsed template when tenantID is "".
func (ts *Templates) Invalidate(tenantID string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.gen++
	for key := range ts.parsed {
		if tenantID == "" || strings.HasPrefix(key, tenantID+"/") {
			delete(ts.parsed, key)
		}
	}
}
