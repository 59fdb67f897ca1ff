package webhook_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/webhook"
	"github.com/saaskit/saaskit/webhook/memstore"
)

const invoiceSchema = `{
	"type": "object",
	"required": ["id", "amount"],
	"properties": {"id": {"type": "string"}, "amount": {"type": "integer", "minimum": 0}}
}`

func testCatalogue(t *testing.T) *webhook.Catalogue {
	c, err := webhook.NewCatalogue(
		webhook.EventType{Name: "invoice.paid", Description: "An invoice was paid in full.", Schema: json.RawMessage(invoiceSchema),
			Versions: map[string]json.RawMessage{"2024-01-01": json.RawMessage(`{"type": "object"}`)}},
		webhook.EventType{Name: "invoice.voided", Description: "An invoice was voided.", State: webhook.EventTypeDeprecated},
		webhook.EventType{Name: "invoice.legacy", Description: "Replaced by invoice.paid.", State: webhook.EventTypeArchived},
		webhook.EventType{Name: "user.created", Description: "A user was created."},
	)
	require.NoError(t, err)
	return c
}

func TestCatalogueRefusesBadTypes(t *testing.T) {
	for name, types := range map[string][]webhook.EventType{
		"bad name":        {{Name: "invoice paid"}},
		"wildcard name":   {{Name: "invoice.*"}},
		"listed twice":    {{Name: "a"}, {Name: "a"}},
		"unknown state":   {{Name: "a", State: "retired"}},
		"schema not json": {{Name: "a", Schema: json.RawMessage(`{`)}},
		"bad schema":      {{Name: "a", Schema: json.RawMessage(`{"type": 12}`)}},
		"bad version":     {{Name: "a", Versions: map[string]json.RawMessage{"v1": json.RawMessage(`{"minimum": "x"}`)}}},
	} {
		_, err := webhook.NewCatalogue(types...)
		assert.ErrorIs(t, err, webhook.ErrInvalid, name)
	}
	c := testCatalogue(t)
	names := []string{}
	for _, et := range c.Types() {
		names = append(names, et.Name)
	}
	assert.Equal(t, []string{"invoice.legacy", "invoice.paid", "invoice.voided", "user.created"}, names)
	et, ok := c.Lookup("user.created")
	assert.True(t, ok)
	assert.Equal(t, webhook.EventTypeActive, et.State, "an empty state is active")
}

// TestCatalogueIsEnforced: with a catalogue, Send refuses unknown and
// archived types and payloads that break the schema, sends deprecated
// ones, and endpoints subscribe only to known types or their families.
func TestCatalogueIsEnforced(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	f := newDeliveryFixture(t)
	d, err := webhook.NewDispatcher(st, st, func(string) webhook.AEAD { return f.aead }, webhook.DispatcherOptions{Catalogue: testCatalogue(t)})
	require.NoError(t, err)
	assert.Len(t, d.EventTypes(), 4)

	for filter, want := range map[string]error{
		"invoice.paid":   nil,
		"invoice.*":      nil,
		"invoice.voided": nil,
		"invoice.legacy": webhook.ErrUnknownEventType,
		"billing.*":      webhook.ErrUnknownEventType,
		"invoice.nope":   webhook.ErrUnknownEventType,
		"invoice*":       webhook.ErrInvalid,
		"*":              webhook.ErrInvalid,
	} {
		_, _, err := d.CreateEndpoint(ctx, "acme", webhook.EndpointSpec{URL: "https://a.example.com", EventTypes: []string{filter}})
		if want == nil {
			assert.NoError(t, err, filter)
		} else {
			assert.ErrorIs(t, err, want, filter)
		}
	}

	send := func(eventType, payload string) (int, error) {
		return d.Send(ctx, &webhook.Message{TenantID: "acme", EventType: eventType, Payload: json.RawMessage(payload)})
	}
	n, err := send("invoice.paid", `{"id": "in_1", "amount": 100}`)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "invoice.paid and invoice.* take it")
	n, err = send("invoice.voided", `{}`)
	require.NoError(t, err, "a deprecated type is still sent")
	assert.Equal(t, 2, n, "invoice.voided and invoice.* take it")
	_, err = send("invoice.paid", `{"id": "in_1", "amount": -5}`)
	assert.ErrorIs(t, err, webhook.ErrInvalid, "a payload breaking the schema")
	_, err = send("invoice.paid", `{"id": "in_1"}`)
	assert.ErrorIs(t, err, webhook.ErrInvalid, "a payload missing a required field")
	_, err = send("invoice.legacy", `{}`)
	assert.ErrorIs(t, err, webhook.ErrInvalid, "an archived type")
	_, err = send("invoice.unknown", `{}`)
	assert.ErrorIs(t, err, webhook.ErrUnknownEventType)
	_, err = d.SendMany(ctx, []*webhook.Message{
		{TenantID: "acme", EventType: "user.created", Payload: json.RawMessage(`{}`)},
		{TenantID: "acme", EventType: "nope", Payload: json.RawMessage(`{}`)},
	})
	assert.ErrorIs(t, err, webhook.ErrUnknownEventType, "SendMany checks every message")
}

// TestFamilyFilterWithoutCatalogue: "invoice.*" takes every invoice
// type, and only those, with or without a catalogue.
func TestFamilyFilterWithoutCatalogue(t *testing.T) {
	e := &webhook.Endpoint{EventTypes: []string{"invoice.*", "user.created"}}
	for typ, want := range map[string]bool{
		"invoice.paid": true, "invoice.line.added": true, "user.created": true,
		"invoice": false, "invoices.paid": false, "user.deleted": false,
	} {
		assert.Equal(t, want, e.Subscribed(typ), typ)
	}
}
