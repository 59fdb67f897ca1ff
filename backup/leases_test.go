package backup_test

import (
	"testing"
	"time"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/backuptest"
)

func TestMemoryLeasesConformance(t *testing.T) {
	backuptest.RunLeaseTests(t, func(_ *testing.T, now func() time.Time) backup.Leases { return backup.NewMemoryLeases(now) })
}
