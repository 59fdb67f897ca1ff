// Package logctx wraps a slog.Handler so that each record gains
// attributes taken from its context (trace ids, the tenant) at the top
// level of the record, whatever groups the logger opened, and only once
// however many such wrappers are stacked.
package logctx

import (
	"context"
	"log/slog"
	"slices"
)

// Handler adds the attributes that its function finds in a record's
// context to the record's top level, then passes it on.
type Handler struct {
	inner slog.Handler
	attrs func(ctx context.Context, add func(slog.Attr))
	// groups opened by WithGroup, outermost first, each with the
	// attributes added inside it. They are applied at Handle, so that
	// the context's attributes stay outside them.
	groups []group
}

type group struct {
	name  string
	attrs []slog.Attr
}

// New wraps inner. attrs calls add for each attribute of ctx; an
// attribute whose key the record already has at its top level (another
// wrapper added it) is not added again.
func New(inner slog.Handler, attrs func(ctx context.Context, add func(slog.Attr))) *Handler {
	return &Handler{inner: inner, attrs: attrs}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if len(h.groups) > 0 {
		r = h.nest(r)
	}
	h.attrs(ctx, func(a slog.Attr) {
		if !hasTopLevel(r, a.Key) {
			r.AddAttrs(a)
		}
	})
	return h.inner.Handle(ctx, r)
}

// nest returns r with its attributes inside the open groups.
func (h *Handler) nest(r slog.Record) slog.Record {
	inner := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		inner = append(inner, a)
		return true
	})
	for i := len(h.groups) - 1; i >= 0; i-- {
		g := h.groups[i]
		members := append(slices.Clip(g.attrs), inner...)
		if len(members) == 0 {
			inner = nil // a group with no attributes is not written
			continue
		}
		inner = []slog.Attr{{Key: g.name, Value: slog.GroupValue(members...)}}
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(inner...)
	return out
}

func hasTopLevel(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	if len(h.groups) == 0 {
		return &Handler{inner: h.inner.WithAttrs(attrs), attrs: h.attrs}
	}
	groups := slices.Clone(h.groups)
	last := &groups[len(groups)-1]
	last.attrs = append(slices.Clip(last.attrs), attrs...)
	return &Handler{inner: h.inner, attrs: h.attrs, groups: groups}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	groups := append(slices.Clip(h.groups), group{name: name})
	return &Handler{inner: h.inner, attrs: h.attrs, groups: groups}
}
