package flags

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// FileSource reads definitions from a file and watches it: an edit, or
// a replacement by rename (as editors and config management do), is
// picked up at once.
type FileSource struct {
	Path string
}

// Load implements Source.
func (f FileSource) Load(context.Context) ([]byte, error) {
	file, err := os.Open(f.Path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	return readCapped(file)
}

// readCapped reads a definitions document, refusing one over the limit.
func readCapped(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxDefinitionSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxDefinitionSize {
		return nil, fmt.Errorf("definitions exceed %d bytes", maxDefinitionSize)
	}
	return data, nil
}

// Watch implements Source. It watches the file's directory, so the file
// may be replaced, deleted and created again.
func (f FileSource) Watch(ctx context.Context) (<-chan struct{}, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	path := filepath.Clean(f.Path)
	if err := w.Add(filepath.Dir(path)); err != nil {
		w.Close()
		return nil, err
	}
	out := make(chan struct{}, 1)
	go func() {
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if filepath.Clean(ev.Name) == path {
					notify(out)
				}
			case _, ok := <-w.Errors:
				if !ok {
					return
				}
				notify(out) // events may have been lost: reload to be sure
			}
		}
	}()
	return out, nil
}

// notify signals ch without blocking; one pending signal is enough.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// HTTPSource polls definitions from a URL, with conditional requests
// (ETag), so an unchanged document costs a 304.
type HTTPSource struct {
	URL    string
	Client *http.Client // default http.DefaultClient
	Header http.Header  // sent with every request, e.g. Authorization

	mu   sync.Mutex
	etag string
	body []byte
}

// Load implements Source.
func (h *HTTPSource) Load(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range h.Header {
		req.Header[k] = v
	}
	h.mu.Lock()
	if h.etag != "" {
		req.Header.Set("If-None-Match", h.etag)
	}
	h.mu.Unlock()
	client := h.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case resp.StatusCode == http.StatusNotModified && h.body != nil:
		return h.body, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET definitions: HTTP %d", resp.StatusCode)
	}
	body, err := readCapped(resp.Body)
	if err != nil {
		return nil, err
	}
	h.etag, h.body = resp.Header.Get("ETag"), body
	return body, nil
}

// Watch implements Source: HTTP cannot notify, so Sync polls.
func (h *HTTPSource) Watch(context.Context) (<-chan struct{}, error) { return nil, nil }
