package audit_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The package needs only the standard library, so importing it never
// drags a database driver into a service; adapters are subpackages.
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	require.NoError(t, err, "go list: %s", out)
	assert.Equal(t, []string{"github.com/saaskit/saaskit/gdpr/audit"}, strings.Fields(string(out)))
}
