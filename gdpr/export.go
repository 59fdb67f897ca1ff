package gdpr

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Format is the form of an export.
type Format string

// Export formats.
const (
	// JSON is one object: {"request": ..., "sources": {"<name>": [records...]}}.
	JSON Format = "json"
	// ZIP holds manifest.json (the request, and per source its categories
	// and record count) and one <source>.json array per source.
	ZIP Format = "zip"
)

// Manifest describes a ZIP export.
type Manifest struct {
	Request     *Request               `json:"request"`
	GeneratedAt time.Time              `json:"generated_at"`
	Sources     map[string]SourceCount `json:"sources"`
}

// SourceCount is a source's part of an export.
type SourceCount struct {
	Categories []string `json:"categories,omitempty"`
	Records    int      `json:"records"`
}

// Export writes the subject's data from every source to w, for an
// access or portability request that is verified, in progress or
// completed. Records stream from the sources to w one at a time, so
// memory stays bounded whatever the data's size.
func (e *Engine) Export(ctx context.Context, tenantID, id string, format Format, w io.Writer) error {
	r, err := e.store.Get(ctx, tenantID, id)
	if err != nil {
		return err
	}
	switch {
	case r.Kind != Access && r.Kind != Portability:
		return fmt.Errorf("%w: request %s is %s, not access or portability", ErrWrongStep, id, r.Kind)
	case r.State != Verified && r.State != InProgress && r.State != Completed:
		return fmt.Errorf("%w: request %s is %s", ErrWrongStep, id, r.State)
	}
	switch format {
	case JSON:
		return e.exportJSON(ctx, r, w)
	case ZIP:
		return e.exportZIP(ctx, r, w)
	}
	return fmt.Errorf("%w: export format %q", ErrInvalid, format)
}

// streamRecords writes one source's records to w as a JSON array.
func (e *Engine) streamRecords(ctx context.Context, r *Request, name string, w io.Writer) (int, error) {
	enc := json.NewEncoder(w)
	n := 0
	if _, err := io.WriteString(w, "["); err != nil {
		return 0, err
	}
	err := e.sources[name].Export(ctx, r.TenantID, r.Subject, func(rec any) error {
		if n > 0 {
			if _, err := io.WriteString(w, ","); err != nil {
				return err
			}
		}
		n++
		return enc.Encode(rec)
	})
	if err != nil {
		return n, fmt.Errorf("export from %s: %w", name, err)
	}
	_, err = io.WriteString(w, "]")
	return n, err
}

func (e *Engine) exportJSON(ctx context.Context, r *Request, out io.Writer) error {
	w := bufio.NewWriter(out)
	head, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, `{"request":%s,"sources":{`, head)
	for i, name := range e.names {
		if i > 0 {
			_ = w.WriteByte(',')
		}
		key, _ := json.Marshal(name)
		fmt.Fprintf(w, "%s:", key)
		if _, err := e.streamRecords(ctx, r, name, w); err != nil {
			return err
		}
	}
	if _, err := w.WriteString("}}\n"); err != nil {
		return err
	}
	return w.Flush()
}

func (e *Engine) exportZIP(ctx context.Context, r *Request, out io.Writer) error {
	z := zip.NewWriter(out)
	m := Manifest{Request: r, GeneratedAt: e.opts.Now().UTC(), Sources: map[string]SourceCount{}}
	for _, name := range e.names {
		f, err := z.Create(name + ".json")
		if err != nil {
			return err
		}
		n, err := e.streamRecords(ctx, r, name, f)
		if err != nil {
			return err
		}
		m.Sources[name] = SourceCount{Categories: e.sources[name].Info().Categories, Records: n}
	}
	f, err := z.Create("manifest.json")
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return err
	}
	return z.Close()
}
