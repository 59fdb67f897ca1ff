package audit_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The package needs only the standard library and saaskit's own small
// internal helpers, so importing it never drags a database driver or
// any other module into a service; adapters are subpackages.
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	require.NoError(t, err, "go list: %s", out)
	for _, dep := range strings.Fields(string(out)) {
		ours := dep == "github.com/saaskit/saaskit/gdpr/audit" || strings.HasPrefix(dep, "github.com/saaskit/saaskit/internal/textfield")
		assert.True(t, ours, "depends on %s", dep)
	}
}
