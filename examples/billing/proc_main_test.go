package main

import (
	"os"
	"testing"

	"github.com/saaskit/saaskit/internal/proctest"
)

// TestMain removes the binaries the tests built, once they are done.
func TestMain(m *testing.M) {
	code := m.Run()
	proctest.RemoveBuilds()
	os.Exit(code)
}
