package main

import (
	"bytes"
	"html/template"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/backup"
)

// TestBackupsPageShowsContinuousBackup renders the console's backups
// page with a continuous replica: its achieved RPO, a missed RPO, and
// its last point-in-time drill, passed or failed.
func TestBackupsPageShowsContinuousBackup(t *testing.T) {
	funcs := template.FuncMap{"when": when, "ago": ago, "duration": humanDuration, "percent": percent, "rate": successRate}
	page, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles,
		"templates/console/layout.html", "templates/console/chart.tmpl", "templates/console/backups.html")
	require.NoError(t, err)
	now := time.Now()
	render := func(r *replication) string {
		var buf bytes.Buffer
		require.NoError(t, page.Execute(&buf, view{Title: "Backups", Data: struct {
			Job          backup.Status
			LastVerify   *backup.Verified
			Backups      []*backup.Manifest
			LastVerified map[string]*backup.Verified
			Replication  *replication
		}{Job: backup.Status{Job: "saas-db"}, Replication: r}}))
		return buf.String()
	}
	r := &replication{Oldest: now.Add(-time.Hour), Newest: now.Add(-3 * time.Second), RPO: 1500 * time.Millisecond,
		LastDrill: &backup.DrillReport{Kind: backup.DrillPointInTime, Point: now.Add(-time.Minute), At: now, Duration: 420 * time.Millisecond, OK: true}}
	html := render(r)
	assert.Contains(t, html, "Achieved RPO</th><td>1.5s")
	assert.NotContains(t, html, "RPO missed")
	assert.Contains(t, html, "restored to "+when(now.Add(-time.Minute))+" and checked")
	assert.Contains(t, html, "in 420ms (achieved RTO)")

	r.Violated, r.LastDrill = true, &backup.DrillReport{Kind: backup.DrillPointInTime, At: now, Error: "replicate: restore: LTX file missing"}
	html = render(r)
	assert.Contains(t, html, "RPO missed")
	assert.Contains(t, html, "failed: replicate: restore: LTX file missing")
	r.LastDrill = nil
	assert.Contains(t, render(r), `<td id="pitr-drill">not yet</td>`)
}
