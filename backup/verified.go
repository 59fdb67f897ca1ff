package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Verified is the outcome of a verification.
type Verified struct {
	ID    string    `json:"id"`
	At    time.Time `json:"at"`
	Level string    `json:"level"` // manifest, exists or all
	OK    bool      `json:"ok"`
	Error string    `json:"error,omitempty"`
}

// verifiedName is the object that keeps the outcome of the last
// verification of backup id, beside its manifest.
func verifiedName(id string) string { return "verified/" + id + ".json" }

// recordVerified keeps v as the last verification of its backup on each
// of holders. Of two processes recording at once, one outcome stays.
func recordVerified(ctx context.Context, holders []Target, v Verified) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range holders {
		if err := t.Delete(ctx, verifiedName(v.ID)); err != nil {
			errs = append(errs, fmt.Errorf("target %s: %w", t.Name(), err))
			continue
		}
		if err := t.Put(ctx, verifiedName(v.ID), bytes.NewReader(data)); err != nil && !errors.Is(err, ErrExists) {
			errs = append(errs, fmt.Errorf("target %s: %w", t.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// Verifications returns the last verification of each backup verified
// since it was made, newest first: those of every process that verified
// through these targets (a Scheduler, the command line, a drill), as
// the targets record them. A backup forgotten by Prune takes its record
// with it.
func (b *Backups) Verifications(ctx context.Context) ([]Verified, error) {
	byID := map[string]Verified{}
	var errs []error
	listed := 0
	for _, t := range b.targets {
		names, err := t.List(ctx, "verified/")
		if err != nil {
			errs = append(errs, fmt.Errorf("target %s: %w", t.Name(), err))
			continue
		}
		listed++
		for _, n := range names {
			v, err := readVerified(ctx, t, n)
			if err != nil {
				errs = append(errs, fmt.Errorf("target %s: %s: %w", t.Name(), n, err))
				continue
			}
			if old, ok := byID[v.ID]; !ok || v.At.After(old.At) {
				byID[v.ID] = v
			}
		}
	}
	if listed == 0 {
		return nil, errors.Join(errs...)
	}
	out := make([]Verified, 0, len(byID))
	for _, v := range byID {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b Verified) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

func readVerified(ctx context.Context, t Target, name string) (Verified, error) {
	var v Verified
	rc, err := t.Get(ctx, name)
	if err != nil {
		return v, err
	}
	defer rc.Close()
	if err := json.NewDecoder(rc).Decode(&v); err != nil {
		return v, fmt.Errorf("%w: verification record: %w", ErrCorrupt, err)
	}
	if verifiedName(v.ID) != name {
		return v, fmt.Errorf("%w: verification record of %q stored as %s", ErrCorrupt, v.ID, name)
	}
	return v, nil
}
