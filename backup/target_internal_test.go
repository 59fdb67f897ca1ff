package backup

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestBookkeeping checks that Bookkeeping names the objects the package
// replaces in its normal work, and nothing that holds a backup.
func TestBookkeeping(t *testing.T) {
	id := newID(time.Now())
	for name, want := range map[string]bool{
		verifiedName(id):         true,
		lockPrefix + id:          true,
		manifestName(id):         false,
		dataName(id):             false,
		snapName(id):             false,
		packName(packID{1, 2}):   false,
		indexPrefix + id:         false,
		configName:               false,
		"replica/app.db/ltx/0/1": false,
	} {
		assert.Equal(t, want, Bookkeeping(name), name)
	}
}
