package backup_test

import (
	"fmt"
	"os"
	"testing"
)

// TestMain points the user's cache directory (os.UserCacheDir, through
// XDG_CACHE_HOME) at a scratch directory for the whole run: a test or
// Example that opens a repository without RepositoryOptions.CacheDir
// (Backups.Repository has none) must not leave chunk caches in the
// cache of the user running the tests.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "saaskit-backup-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.Setenv("XDG_CACHE_HOME", dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
