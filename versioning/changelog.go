package versioning

import (
	"fmt"
	"net/http"
	"strings"
)

// Changelog renders the API's history as Markdown, newest version
// first: each version's description, its added and removed routes, and
// its deprecation and sunset dates.
func (a *API) Changelog() string {
	var b strings.Builder
	b.WriteString("# API changelog\n")
	byVersion := map[string]*compiledChange{}
	for i := range a.changes {
		byVersion[a.changes[i].version.String()] = &a.changes[i]
	}
	for i := len(a.versions) - 1; i >= 0; i-- {
		v := a.versions[i]
		fmt.Fprintf(&b, "\n## %s", v)
		if v.Compare(a.head) == 0 {
			b.WriteString(" (current)")
		}
		b.WriteString("\n\n")
		c := byVersion[v.String()]
		switch {
		case c != nil && strings.TrimSpace(c.Description) != "":
			b.WriteString(strings.TrimSpace(c.Description) + "\n")
		case i == 0:
			b.WriteString("The first version.\n")
		default:
			b.WriteString("No documented change.\n")
		}
		if c != nil {
			for _, r := range c.AddedRoutes {
				fmt.Fprintf(&b, "- Added `%s`.\n", r)
			}
			for _, r := range c.RemovedRoutes {
				fmt.Fprintf(&b, "- Removed `%s`.\n", r)
			}
		}
		if a.opts.DocumentPath != "" && len(a.opts.Operations) > 0 {
			fmt.Fprintf(&b, "- Reference: [OpenAPI document](%s%s.json).\n", a.opts.DocumentPath, v)
		}
		if l, ok := a.opts.VersionLifecycle[v.String()]; ok {
			if !l.Deprecated.IsZero() {
				fmt.Fprintf(&b, "- Deprecated on %s.\n", l.Deprecated.UTC().Format(http.TimeFormat))
			}
			if !l.Sunset.IsZero() {
				fmt.Fprintf(&b, "- Sunset on %s.\n", l.Sunset.UTC().Format(http.TimeFormat))
			}
			if l.Link != "" {
				fmt.Fprintf(&b, "- See %s.\n", l.Link)
			}
		}
	}
	return b.String()
}
