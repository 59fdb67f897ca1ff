package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// EndpointSpec is what an endpoint's owner chooses: CreateEndpoint
// stores it and UpdateEndpoint replaces it, both validated alike.
type EndpointSpec struct {
	URL        string
	APIVersion string            // pinned payload version; "" follows the latest
	EventTypes []string          // types or families ("invoice.*"); empty: every type
	Channels   []string          // at most 100; empty: messages on any channel or none
	RateLimit  float64           // deliveries per second; 0: none
	Ordered    bool              // deliver one at a time, in order
	Metadata   map[string]string // at most 50 entries
	// Headers are sent with every delivery: at most 20, 4 KiB in all,
	// never one a delivery sets itself (Host, Content-Type,
	// Authorization, webhook-*, hop-by-hop headers).
	Headers map[string]string
	// Auth authenticates deliveries to the receiver with a bearer token
	// or HTTP Basic, sealed at rest. In UpdateEndpoint, nil keeps the
	// endpoint's, and a zero EndpointAuth removes it.
	Auth *EndpointAuth
	// Signature is the scheme of a new endpoint's signing secret:
	// SchemeHMAC ("v1", the default: a shared whsec_ secret) or
	// SchemeEd25519 ("v1a": the dispatcher keeps a whsk_ private key and
	// the owner verifies with its whpk_ public key). Rotation keeps the
	// scheme. UpdateEndpoint ignores it.
	Signature string
}

// Signature schemes of EndpointSpec.Signature.
const (
	SchemeHMAC    = "v1"
	SchemeEd25519 = "v1a"
)

// DefaultSecretOverlap is how long RotateSecret lets the secrets it
// replaces sign beside the new one when no overlap is given: a day, for
// receivers to deploy the new secret.
const DefaultSecretOverlap = 24 * time.Hour

// maxSecrets bounds the secrets an endpoint signs with at once: the
// current one and those still in their overlap after rotations.
const maxSecrets = 5

// maxUpdateRetries bounds the read-modify-write rounds of an endpoint
// change that keeps losing races with other writers.
const maxUpdateRetries = 5

func newID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func secretAD(e *Endpoint) []byte { return []byte("saaskit.webhook.secret:" + e.TenantID + ":" + e.ID) }

// validate checks spec as CreateEndpoint and UpdateEndpoint accept it:
// the URL (scheme, and a host that is not a forbidden address, checked
// again when the client dials), the event-type filter (types or
// families of them, in the catalogue if there is one), the rate limit,
// the pinned version and the metadata. A URL whose scheme is a
// registered Destination's is checked by it for the tenant instead, and
// takes no authentication: the operator's connection to the broker is
// the credential.
func (d *Dispatcher) validate(tenantID string, spec EndpointSpec) error {
	if dest := d.destination(spec.URL); dest != nil {
		if _, err := d.checkDestination(tenantID, spec.URL); err != nil {
			return err
		}
		if err := checkDestinationHeaders(dest, spec.Headers); err != nil {
			return err
		}
		if spec.Auth != nil && *spec.Auth != (EndpointAuth{}) {
			return fmt.Errorf("%w: auth is for http endpoints, not a broker destination", ErrInvalid)
		}
	} else {
		u, err := CheckURL(spec.URL, d.opts.HTTPSOnly)
		if err != nil {
			return d.unknownScheme(err, spec.URL)
		}
		if err := checkEndpointHost(u.Hostname(), d.opts.AllowCIDRs); err != nil {
			return err
		}
		if spec.Auth != nil && *spec.Auth != (EndpointAuth{}) {
			if err := spec.Auth.check(); err != nil {
				return err
			}
			if spec.Auth.ClientCertificate != "" && !strings.EqualFold(u.Scheme, "https") {
				return fmt.Errorf("%w: a client certificate needs an https endpoint", ErrInvalid)
			}
		}
	}
	if len(spec.EventTypes) > maxEventTypes {
		return fmt.Errorf("%w: at most %d event types", ErrInvalid, maxEventTypes)
	}
	for _, t := range spec.EventTypes {
		if !validEventFilter(t) {
			return fmt.Errorf("%w: event type %q: 1 to %d characters of a-z, A-Z, 0-9, '_', '.', '-', or a family such as \"invoice.*\"", ErrInvalid, t, maxEventType)
		}
		if c := d.opts.Catalogue; c != nil {
			if err := c.checkFilter(t); err != nil {
				return err
			}
		}
	}
	if err := checkChannels(spec.Channels, maxEventTypes); err != nil {
		return err
	}
	if spec.RateLimit != 0 && !(spec.RateLimit >= MinRateLimit && spec.RateLimit <= 1e6) {
		return fmt.Errorf("%w: rate limit must be 0 (none) or %g to 1e6 per second", ErrInvalid, MinRateLimit)
	}
	if len(spec.APIVersion) > maxEventType || !isPrintableASCII(spec.APIVersion) {
		return fmt.Errorf("%w: api version must be at most %d printable characters", ErrInvalid, maxEventType)
	}
	if len(spec.Metadata) > maxMetadata {
		return fmt.Errorf("%w: at most %d metadata entries", ErrInvalid, maxMetadata)
	}
	return checkHeaders(spec.Headers)
}

// apply sets the endpoint's owner-chosen fields from spec, sealing its
// authentication.
func (d *Dispatcher) apply(e *Endpoint, spec EndpointSpec) error {
	e.URL, e.APIVersion, e.EventTypes, e.Channels = spec.URL, spec.APIVersion, slices.Clone(spec.EventTypes), slices.Clone(spec.Channels)
	e.RateLimit, e.Ordered, e.Metadata, e.Headers = spec.RateLimit, spec.Ordered, maps.Clone(spec.Metadata), maps.Clone(spec.Headers)
	switch {
	case spec.Auth == nil: // kept
	case *spec.Auth == EndpointAuth{}:
		e.Auth = nil
	default:
		sealed, err := d.sealAuth(e, spec.Auth)
		if err != nil {
			return err
		}
		e.Auth = sealed
	}
	return nil
}

// newSecret returns a fresh secret of scheme, and what its owner is
// shown: the secret itself for HMAC, the public key for Ed25519.
func newSecret(scheme string) (secret, shown string, err error) {
	switch scheme {
	case "", SchemeHMAC:
		s := NewSecret()
		return s, s, nil
	case SchemeEd25519:
		sk, pk := NewKeyPair()
		return sk, pk, nil
	}
	return "", "", fmt.Errorf("%w: signature scheme %q: %q or %q", ErrInvalid, scheme, SchemeHMAC, SchemeEd25519)
}

// sealSecret seals secret for e.
func (d *Dispatcher) sealSecret(e *Endpoint, secret string) ([]byte, error) {
	sealed, err := d.seal(e.TenantID).Encrypt([]byte(secret), secretAD(e))
	if err != nil {
		return nil, fmt.Errorf("seal endpoint secret: %w", err)
	}
	return sealed, nil
}

// CreateEndpoint validates spec and stores a new endpoint with a fresh
// signing secret, sealed at rest. What the owner needs to verify
// signatures is returned once: the whsec_ secret, or for an Ed25519
// endpoint the whpk_ public key.
func (d *Dispatcher) CreateEndpoint(ctx context.Context, tenantID string, spec EndpointSpec) (*Endpoint, string, error) {
	if tenantID == "" {
		return nil, "", fmt.Errorf("%w: tenant is required", ErrInvalid)
	}
	if err := d.validate(tenantID, spec); err != nil {
		return nil, "", err
	}
	secret, shown, err := newSecret(spec.Signature)
	if err != nil {
		return nil, "", err
	}
	now := d.opts.Now().UTC()
	e := &Endpoint{ID: newID("ep_"), TenantID: tenantID, CreatedAt: now, UpdatedAt: now}
	if err := d.apply(e, spec); err != nil {
		return nil, "", err
	}
	sealed, err := d.sealSecret(e, secret)
	if err != nil {
		return nil, "", err
	}
	e.Secrets = [][]byte{sealed}
	if err := d.endpoints.CreateEndpoint(ctx, e); err != nil {
		return nil, "", fmt.Errorf("create endpoint: %w", err)
	}
	d.emit(ctx, Event{Type: EventEndpointCreated, TenantID: tenantID, EndpointID: e.ID, At: now})
	return e, shown, nil
}

// GetEndpoint returns the tenant's endpoint; ErrNotFound when the
// tenant has none with that ID. Its secrets stay sealed.
func (d *Dispatcher) GetEndpoint(ctx context.Context, tenantID, id string) (*Endpoint, error) {
	return d.endpoints.GetEndpoint(ctx, tenantID, id)
}

// ListEndpoints returns the tenant's endpoints, oldest first.
func (d *Dispatcher) ListEndpoints(ctx context.Context, tenantID string) ([]*Endpoint, error) {
	return d.endpoints.ListEndpoints(ctx, tenantID)
}

// UpdateEndpoint replaces the owner-chosen fields of the tenant's
// endpoint with spec, validated as CreateEndpoint validates them. Its
// secrets, state and history stay. A concurrent change (a worker
// disabling it, say) is read again and kept, not overwritten.
func (d *Dispatcher) UpdateEndpoint(ctx context.Context, tenantID, id string, spec EndpointSpec) (*Endpoint, error) {
	if err := d.validate(tenantID, spec); err != nil {
		return nil, err
	}
	var failed error
	e, err := d.modify(ctx, tenantID, id, func(e *Endpoint, now time.Time) bool {
		failed = d.apply(e, spec)
		return failed == nil
	})
	if err == nil {
		err = failed
	}
	if err != nil {
		return nil, err
	}
	d.emit(ctx, Event{Type: EventEndpointUpdated, TenantID: tenantID, EndpointID: id, At: e.UpdatedAt})
	return e, nil
}

// DeleteEndpoint removes the tenant's endpoint; its pending deliveries
// die when workers reach them.
func (d *Dispatcher) DeleteEndpoint(ctx context.Context, tenantID, id string) error {
	if err := d.endpoints.DeleteEndpoint(ctx, tenantID, id); err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	d.forget(id)
	d.emit(ctx, Event{Type: EventEndpointDeleted, TenantID: tenantID, EndpointID: id, At: d.opts.Now().UTC()})
	return nil
}

// DisableEndpoint stops deliveries to the tenant's endpoint, saying why:
// those due die with the reason while it stays disabled. Disabling a
// disabled endpoint keeps its first reason.
func (d *Dispatcher) DisableEndpoint(ctx context.Context, tenantID, id, reason string) error {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return fmt.Errorf("%w: a reason is required", ErrInvalid)
	}
	e, err := d.disable(ctx, tenantID, id, reason)
	if e != nil {
		d.emit(ctx, Event{Type: EventEndpointDisabled, TenantID: tenantID, EndpointID: id, Reason: reason, At: e.UpdatedAt})
	}
	return err
}

// EnableEndpoint delivers to the tenant's endpoint again, with its
// failure streak forgotten and, in this process, its circuit breaker
// closed. Deliveries that died while it was disabled stay dead: Recover
// brings them back.
func (d *Dispatcher) EnableEndpoint(ctx context.Context, tenantID, id string) error {
	changed := false
	e, err := d.modify(ctx, tenantID, id, func(e *Endpoint, now time.Time) bool {
		changed = e.DisabledReason != "" || !e.FailingSince.IsZero()
		e.DisabledReason, e.FailingSince = "", time.Time{}
		return changed
	})
	if err == nil {
		d.health.reset(id)
		if changed {
			d.emit(ctx, Event{Type: EventEndpointEnabled, TenantID: tenantID, EndpointID: id, At: e.UpdatedAt})
		}
	}
	return err
}

// RotateSecret gives the tenant's endpoint a fresh signing secret of the
// same scheme and returns what its owner is shown (as CreateEndpoint).
// The new secret signs from now on; the ones it replaces keep signing
// beside it for overlap (DefaultSecretOverlap when 0), so receivers
// that have not yet deployed the new one still verify. At most five
// secrets sign at once: the oldest are dropped first.
func (d *Dispatcher) RotateSecret(ctx context.Context, tenantID, id string, overlap time.Duration) (string, error) {
	if overlap < 0 {
		return "", fmt.Errorf("%w: overlap must not be negative", ErrInvalid)
	}
	if overlap == 0 {
		overlap = DefaultSecretOverlap
	}
	var shown string
	var failed error
	e, err := d.modify(ctx, tenantID, id, func(e *Endpoint, now time.Time) bool {
		current, err := d.unseal(e)
		if err == nil && len(current) == 0 {
			err = fmt.Errorf("endpoint %s has no secret", id)
		}
		var secret string
		if err == nil {
			secret, shown, err = newSecret(schemeOf(current[0]))
		}
		var sealed []byte
		if err == nil {
			sealed, err = d.sealSecret(e, secret)
		}
		if failed = err; err != nil {
			return false
		}
		kept := e.Secrets[:e.activeSecrets(now)]
		e.Secrets = append([][]byte{sealed}, kept[:min(len(kept), maxSecrets-1)]...)
		e.PreviousSecretsUntil = now.Add(overlap)
		return true
	})
	if err == nil {
		err = failed
	}
	if err != nil {
		return "", fmt.Errorf("rotate secret: %w", err)
	}
	d.emit(ctx, Event{Type: EventSecretRotated, TenantID: tenantID, EndpointID: id, At: e.UpdatedAt})
	return shown, nil
}

// schemeOf names the scheme a secret signs with.
func schemeOf(secret string) string {
	if strings.HasPrefix(secret, SecretKeyPrefix) {
		return SchemeEd25519
	}
	return SchemeHMAC
}

// activeSecrets is how many of the endpoint's secrets sign at now: all
// of them until PreviousSecretsUntil (or when it is unset), then the
// first alone.
func (e *Endpoint) activeSecrets(now time.Time) int {
	if e.PreviousSecretsUntil.IsZero() || now.Before(e.PreviousSecretsUntil) {
		return len(e.Secrets)
	}
	return min(len(e.Secrets), 1)
}

// disable marks the endpoint disabled with reason, retrying on races,
// and returns it if this call disabled it (nil if it already was).
func (d *Dispatcher) disable(ctx context.Context, tenantID, id, reason string) (*Endpoint, error) {
	changed := false
	e, err := d.modify(ctx, tenantID, id, func(e *Endpoint, now time.Time) bool {
		changed = e.DisabledReason == ""
		if changed {
			e.DisabledReason = reason
		}
		return changed
	})
	if err != nil || !changed {
		return nil, err
	}
	return e, nil
}

// modify reads the tenant's endpoint, lets change edit it as of now
// (false: leave it as it is) and writes it back if nobody changed it meanwhile, else
// starts over, a bounded number of times.
func (d *Dispatcher) modify(ctx context.Context, tenantID, id string, change func(e *Endpoint, now time.Time) bool) (*Endpoint, error) {
	for range maxUpdateRetries {
		e, err := d.endpoints.GetEndpoint(ctx, tenantID, id)
		if err != nil {
			return nil, err
		}
		now := d.opts.Now().UTC()
		if !change(e, now) {
			return e, nil
		}
		e.UpdatedAt = now
		if err = d.endpoints.UpdateEndpoint(ctx, e); !errors.Is(err, ErrConflict) {
			if err != nil {
				return nil, err
			}
			d.forget(id)
			return e, nil
		}
	}
	return nil, fmt.Errorf("update endpoint %s: %w", id, ErrConflict)
}

// forget drops what this process cached of the endpoint; deliveries
// read it again (other processes do when its version moves).
func (d *Dispatcher) forget(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.endpointCache, id)
	delete(d.signers, id)
}

// EventTypes returns the catalogue's event types, by name; nil without
// a catalogue.
func (d *Dispatcher) EventTypes() []EventType {
	if d.opts.Catalogue == nil {
		return nil
	}
	return d.opts.Catalogue.Types()
}
