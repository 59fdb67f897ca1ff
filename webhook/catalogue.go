package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// EventTypeState is where an event type is in its life.
type EventTypeState string

// The states of an event type. A deprecated type is still sent, and
// endpoints may still subscribe to it; an archived type is refused.
const (
	EventTypeActive     EventTypeState = "active"
	EventTypeDeprecated EventTypeState = "deprecated"
	EventTypeArchived   EventTypeState = "archived"
)

// EventType is one kind of event the application sends, as its
// endpoints' owners read it in the catalogue.
type EventType struct {
	Name        string // e.g. "invoice.paid"
	Description string
	// State is EventTypeActive when empty.
	State EventTypeState
	// Schema is the JSON Schema (draft 2020-12 unless it says
	// otherwise) of the payload as sent; Send checks payloads against
	// it. Nil: any JSON.
	Schema json.RawMessage
	// Versions are the schemas of the payload as endpoints pinned to
	// older API versions receive it (see DispatcherOptions.Render), by
	// version, for the owners' documentation. Optional.
	Versions map[string]json.RawMessage
}

// Catalogue is the set of event types an application sends. Built once
// at start-up from code, it is the same in every replica. Given to a
// Dispatcher (DispatcherOptions.Catalogue), it is enforced: Send
// refuses an event type it does not know or has archived, and payloads
// that break the type's schema; endpoints may subscribe only to known
// types or to families of them ("invoice.*").
type Catalogue struct {
	types   map[string]EventType
	schemas map[string]*jsonschema.Schema
	names   []string // sorted
}

// ErrUnknownEventType means the catalogue has no such event type.
var ErrUnknownEventType = errors.New("webhook: unknown event type")

// NewCatalogue checks and compiles the event types: valid unique names
// (no wildcards), known states, and schemas that compile.
func NewCatalogue(types ...EventType) (*Catalogue, error) {
	c := &Catalogue{types: map[string]EventType{}, schemas: map[string]*jsonschema.Schema{}}
	for _, t := range types {
		if !validEventType(t.Name) {
			return nil, fmt.Errorf("%w: event type %q: 1 to %d characters of a-z, A-Z, 0-9, '_', '.', '-'", ErrInvalid, t.Name, maxEventType)
		}
		if _, dup := c.types[t.Name]; dup {
			return nil, fmt.Errorf("%w: event type %q is listed twice", ErrInvalid, t.Name)
		}
		switch t.State {
		case "":
			t.State = EventTypeActive
		case EventTypeActive, EventTypeDeprecated, EventTypeArchived:
		default:
			return nil, fmt.Errorf("%w: event type %q: state %q is not active, deprecated or archived", ErrInvalid, t.Name, t.State)
		}
		if t.Schema != nil {
			s, err := compileSchema(t.Name, t.Schema)
			if err != nil {
				return nil, err
			}
			c.schemas[t.Name] = s
		}
		for v, raw := range t.Versions {
			if _, err := compileSchema(t.Name+"@"+v, raw); err != nil {
				return nil, err
			}
		}
		c.types[t.Name] = t
		c.names = append(c.names, t.Name)
	}
	slices.Sort(c.names)
	return c, nil
}

// compileSchema compiles one schema, named for its errors.
func compileSchema(name string, raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: schema of event type %s is not JSON: %v", ErrInvalid, name, err)
	}
	url := "urn:saaskit:event-type:" + name
	comp := jsonschema.NewCompiler()
	if err := comp.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("%w: schema of event type %s: %v", ErrInvalid, name, err)
	}
	s, err := comp.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("%w: schema of event type %s: %v", ErrInvalid, name, err)
	}
	return s, nil
}

// Types returns the event types, by name.
func (c *Catalogue) Types() []EventType {
	out := make([]EventType, 0, len(c.names))
	for _, n := range c.names {
		out = append(out, c.types[n])
	}
	return out
}

// Lookup returns the event type with that name.
func (c *Catalogue) Lookup(name string) (EventType, bool) {
	t, ok := c.types[name]
	return t, ok
}

// checkMessage refuses a message whose type the catalogue does not
// know or has archived, or whose payload breaks the type's schema.
func (c *Catalogue) checkMessage(m *Message) error {
	t, ok := c.types[m.EventType]
	if !ok {
		return fmt.Errorf("%w: %q is not in the catalogue", ErrUnknownEventType, m.EventType)
	}
	if t.State == EventTypeArchived {
		return fmt.Errorf("%w: event type %q is archived", ErrInvalid, m.EventType)
	}
	s := c.schemas[m.EventType]
	if s == nil {
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(m.Payload))
	if err != nil {
		return fmt.Errorf("%w: payload must be valid JSON", ErrInvalid)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%w: payload does not match the schema of %s: %v", ErrInvalid, m.EventType, err)
	}
	return nil
}

// checkFilter refuses an endpoint's event-type filter entry that names
// no type in the catalogue: an unknown or archived type, or a family
// ("invoice.*") with no type that is not archived.
func (c *Catalogue) checkFilter(filter string) error {
	for _, n := range c.names {
		if matchesEventType(filter, n) && c.types[n].State != EventTypeArchived {
			return nil
		}
	}
	return fmt.Errorf("%w: %q matches no event type that can be sent", ErrUnknownEventType, filter)
}

// matchesEventType reports whether an endpoint's filter entry takes
// event type t: the same name, or a family "prefix.*" taking every type
// that starts with "prefix.".
func matchesEventType(filter, t string) bool {
	if family, ok := strings.CutSuffix(filter, "*"); ok && strings.HasSuffix(family, ".") {
		return strings.HasPrefix(t, family)
	}
	return filter == t
}

// validEventFilter reports whether s may be in an endpoint's event-type
// filter: an event type, or a family of them ("invoice.*").
func validEventFilter(s string) bool {
	if family, ok := strings.CutSuffix(s, ".*"); ok {
		return validEventType(family)
	}
	return validEventType(s)
}
