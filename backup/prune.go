package backup

import (
	"context"
	"errors"
	"fmt"

	"github.com/saaskit/saaskit/backup/retention"
)

// Plan applies a retention policy to the catalog, grouped by source and
// tenant, without deleting anything: the dry run. Backups held by a
// restore in progress are kept whatever the policy says.
func (b *Backups) Plan(ctx context.Context, p retention.Policy, opts retention.Options) (retention.Plan, error) {
	all, err := b.Manifests(ctx)
	if err != nil {
		return retention.Plan{}, err
	}
	snaps := make([]retention.Snapshot, len(all))
	for i, m := range all {
		snaps[i] = retention.Snapshot{ID: m.ID, Time: m.Started, Tags: m.Tags, Group: m.TenantID + "\x00" + m.Source}
	}
	plan, err := retention.Apply(snaps, p, opts)
	if err != nil {
		return plan, err
	}
	b.holdsMu.Lock()
	defer b.holdsMu.Unlock()
	for i, d := range plan.Decisions {
		if !d.Keep && b.holds[d.Snapshot.ID] > 0 {
			plan.Decisions[i].Keep = true
			plan.Decisions[i].Reasons = []string{"held by a restore in progress"}
		}
	}
	return plan, nil
}

// Prune deletes what Plan forgets: each backup's manifest first (the
// backup stops existing), then its data, on every target. It returns
// the plan it carried out.
func (b *Backups) Prune(ctx context.Context, p retention.Policy, opts retention.Options) (retention.Plan, error) {
	plan, err := b.Plan(ctx, p, opts)
	if err != nil {
		return plan, err
	}
	var errs []error
	for _, s := range plan.Forget() {
		if b.held(s.ID) { // a restore began after planning
			continue
		}
		for _, t := range b.targets {
			if err := t.Delete(ctx, manifestName(s.ID)); err != nil {
				errs = append(errs, fmt.Errorf("target %s: delete %s: %w", t.Name(), s.ID, err))
				continue
			}
			for _, name := range []string{dataName(s.ID), verifiedName(s.ID)} {
				if err := t.Delete(ctx, name); err != nil {
					errs = append(errs, fmt.Errorf("target %s: delete %s: %w", t.Name(), name, err))
				}
			}
		}
	}
	return plan, errors.Join(errs...)
}

// hold marks a backup in use by a restore; the returned function
// releases it.
func (b *Backups) hold(id string) func() {
	b.holdsMu.Lock()
	defer b.holdsMu.Unlock()
	if b.holds == nil {
		b.holds = map[string]int{}
	}
	b.holds[id]++
	return func() {
		b.holdsMu.Lock()
		defer b.holdsMu.Unlock()
		if b.holds[id]--; b.holds[id] <= 0 {
			delete(b.holds, id)
		}
	}
}

func (b *Backups) held(id string) bool {
	b.holdsMu.Lock()
	defer b.holdsMu.Unlock()
	return b.holds[id] > 0
}
