package flags_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/flags/flagstest"
)

func TestFileSourceConformance(t *testing.T) {
	flagstest.RunSourceTests(t, func(t *testing.T) (flags.Source, func(flags.Definitions)) {
		path := filepath.Join(t.TempDir(), "flags.json")
		return flags.FileSource{Path: path}, func(d flags.Definitions) {
			data, err := json.Marshal(d)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path+".tmp", data, 0o600))
			require.NoError(t, os.Rename(path+".tmp", path))
		}
	})
}

func TestHTTPSourceConformance(t *testing.T) {
	flagstest.RunSourceTests(t, func(t *testing.T) (flags.Source, func(flags.Definitions)) {
		var mu sync.Mutex
		var doc []byte
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			_, _ = w.Write(doc)
		}))
		t.Cleanup(srv.Close)
		return &flags.HTTPSource{URL: srv.URL}, func(d flags.Definitions) {
			data, err := json.Marshal(d)
			require.NoError(t, err)
			mu.Lock()
			doc = data
			mu.Unlock()
		}
	})
}
