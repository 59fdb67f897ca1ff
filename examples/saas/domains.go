package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/saaskit/saaskit/tenancy"
	"github.com/saaskit/saaskit/webhook"
)

// domainCheckEvery is how often the demo looks for custom domains due a
// re-check. Each domain is checked again every
// tenancy.DomainOptions.Interval (an hour); looking more often only
// spreads the checks. Every replica may look: each due domain is taken
// by one of them.
const domainCheckEvery = time.Minute

// checkDomains re-checks the custom domains that are due until ctx ends:
// a verified domain whose proof has gone turns failing, then revoked
// after the grace period, and a failing one whose proof is back
// recovers. Failed passes are logged and tried again.
func checkDomains(ctx context.Context, reg *tenancy.Registry, logger *slog.Logger) {
	_ = reg.RunDomainChecks(ctx, domainCheckEvery, func(err error) {
		logger.WarnContext(ctx, "domain checks", slog.String("error", err.Error()))
	})
}

// domainEventTypes are the catalogue's entries for the registry's
// domain events, which a tenant's endpoints may subscribe to.
var domainEventTypes = func() []webhook.EventType {
	schema := func(typ string) json.RawMessage {
		return json.RawMessage(`{
		"type": "object", "required": ["type", "data"],
		"properties": {"type": {"const": "` + typ + `"}, "data": {"type": "object", "required": ["tenant_id", "domain", "at"]}}}`)
	}
	return []webhook.EventType{
		{Name: tenancy.EventDomainVerified, Description: "A custom domain's proof was found: it serves the tenant. data is the domain event.", Schema: schema(tenancy.EventDomainVerified)},
		{Name: tenancy.EventDomainFailing, Description: "A verified domain's proof is gone: it serves until its grace period ends. data.reason says what is missing.", Schema: schema(tenancy.EventDomainFailing)},
		{Name: tenancy.EventDomainRecovered, Description: "A failing domain's proof is back.", Schema: schema(tenancy.EventDomainRecovered)},
		{Name: tenancy.EventDomainRevoked, Description: "A domain's proof stayed away past the grace period: it serves nobody.", Schema: schema(tenancy.EventDomainRevoked)},
	}
}()

// domainEvents forwards the registry's domain events to the tenant's
// webhook endpoints and the events outbox, as the demo's user events
// go. The registry is made before the webhooks open, so hooks is set
// once they do, before the first check.
type domainEvents struct {
	hooks  *hooks
	logger *slog.Logger
}

// errNoHooks: a domain event came before the webhooks opened.
var errNoHooks = errors.New("the webhooks are not open yet")

// send is the registry's DomainOptions.OnEvent. The domain's change is
// stored already, so the event is written even when ctx ends (the
// checks stopping at shutdown); one that cannot be written is logged.
func (d *domainEvents) send(ctx context.Context, ev tenancy.DomainEvent) {
	err := errNoHooks
	if d.hooks != nil {
		err = d.hooks.emit(context.WithoutCancel(ctx), nil, ev.TenantID, ev.Type, "", ev.Domain, ev)
	}
	if err != nil {
		d.logger.WarnContext(ctx, "domain event not sent", slog.String("event.type", ev.Type),
			slog.String(tenancy.AttrKey, ev.TenantID), slog.String("domain", ev.Domain), slog.String("error", err.Error()))
	}
}
