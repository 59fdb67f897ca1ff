package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DrillOptions configure a restore drill.
type DrillOptions struct {
	// ScratchDir receives the restored copy, removed afterwards. Default
	// the system's temporary directory.
	ScratchDir string
	// Check, when set, examines the restored file: an integrity check
	// (backup/sqlitecheck.Integrity for SQLite), a test query, a count.
	Check func(ctx context.Context, path string) error
}

// DrillReport is the outcome of a restore drill: whether the backup
// could really be restored, and how long it took (the recovery time
// objective actually achieved).
type DrillReport struct {
	// Kind is DrillFull (a backup restored whole, ID) or
	// DrillPointInTime (a continuous source, Source, restored as it was
	// at Point).
	Kind   string    `json:"kind"`
	ID     string    `json:"id,omitempty"`
	Source string    `json:"source,omitempty"`
	Point  time.Time `json:"point,omitzero"`
	// At is when the drill ran.
	At       time.Time     `json:"at"`
	Duration time.Duration `json:"-"` // restore and check: the measured RTO; JSON duration_seconds
	Bytes    int64         `json:"bytes"`
	OK       bool          `json:"ok"`
	Error    string        `json:"error,omitempty"`
}

// MarshalJSON writes the report with its duration in seconds.
func (r DrillReport) MarshalJSON() ([]byte, error) {
	type fields DrillReport
	return json.Marshal(struct {
		fields
		DurationSeconds float64 `json:"duration_seconds"`
	}{fields(r), r.Duration.Seconds()})
}

// Drill restores backup id to a scratch file, verifies it against its
// manifest, runs the check, and measures the time it all took. The
// report always comes back; a failed drill has OK false and says why.
func (b *Backups) Drill(ctx context.Context, id string, opts DrillOptions) DrillReport {
	r := DrillReport{Kind: DrillFull, ID: id, At: b.opts.Now().UTC()}
	dir, err := os.MkdirTemp(opts.ScratchDir, "drill-")
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "restored")
	start := time.Now()
	err = b.RestoreFile(ctx, id, path)
	if err == nil && opts.Check != nil {
		if cerr := opts.Check(ctx, path); cerr != nil {
			err = fmt.Errorf("check of the restored copy: %w", cerr)
		}
	}
	r.Duration = time.Since(start)
	if fi, serr := os.Stat(path); serr == nil {
		r.Bytes = fi.Size()
	}
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.OK = true
	return r
}

// Placement describes where a target keeps its copies, for the 3-2-1
// rule.
type Placement struct {
	Target  string // its Name
	Media   string // a class of storage: "disk", "object-storage", "tape", ...
	Offsite bool   // in another site, region or provider than production
}

// Check321 lists the ways backups on these placements break the 3-2-1
// rule: three copies of the data (production counts as one), on two
// kinds of media, one of them offsite. No violations: nil.
//
// Copies are counted by target, not by placement: a target listed
// twice (one directory under two media labels, say) is one copy, with
// the media and site of its first listing, and the repetition is
// itself a violation. Targets are told apart by their Name, a
// directory ("dir:" or "file://") by its path cleaned and, where it
// exists, with symbolic links resolved.
func Check321(placements []Placement) []string {
	var out []string
	first := map[string]Placement{}
	var copies []Placement
	for _, p := range placements {
		id := targetIdentity(p.Target)
		if f, ok := first[id]; ok {
			out = append(out, fmt.Sprintf("target %s is listed twice (as %q and %q): it holds one copy", p.Target, f.Media, p.Media))
			continue
		}
		first[id] = p
		copies = append(copies, p)
	}
	if n := len(copies) + 1; n < 3 {
		out = append(out, fmt.Sprintf("%d copies of the data counting production; 3 are needed", n))
	}
	media := map[string]bool{}
	offsite := false
	for _, p := range copies {
		media[p.Media] = true
		offsite = offsite || p.Offsite
	}
	if len(media) < 2 {
		out = append(out, fmt.Sprintf("backups on %d kind of media; 2 are needed", len(media)))
	}
	if !offsite {
		out = append(out, "no copy offsite")
	}
	return out
}

// targetIdentity is what tells a target apart from another: its name,
// with a directory's path cleaned and its symbolic links resolved, so
// that two spellings of one directory are one target.
func targetIdentity(name string) string {
	var dir string
	switch {
	case strings.HasPrefix(name, "dir:"):
		dir = strings.TrimPrefix(name, "dir:")
	case strings.HasPrefix(name, "file://"):
		u, err := url.Parse(name)
		if err != nil {
			return name
		}
		dir = filepath.FromSlash(u.Path)
	default:
		return name
	}
	dir = filepath.Clean(dir)
	if resolved, err := filepath.EvalSymlinks(dir); err == nil {
		dir = resolved
	}
	return "dir:" + dir
}
