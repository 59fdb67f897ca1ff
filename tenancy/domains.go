package tenancy

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// DomainState is where a custom domain is in its lifecycle.
type DomainState string

// Domain states. Verified and failing domains serve requests (a failing
// one only until its grace period ends); pending and revoked ones do not.
const (
	// DomainPending: added, its proof not yet found.
	DomainPending DomainState = "pending"
	// DomainVerified: its proof was found (or an operator set it in
	// Tenant.Domains); it serves the tenant.
	DomainVerified DomainState = "verified"
	// DomainFailing: verified, but its proof has gone; it keeps serving
	// for DomainOptions.Grace from FailingSince, then is revoked.
	DomainFailing DomainState = "failing"
	// DomainRevoked: its proof stayed away past the grace period, or it
	// was taken over; it serves nobody until verified again.
	DomainRevoked DomainState = "revoked"
)

// Serving reports whether a domain in state s resolves requests (failing
// ones only within their grace period, which the Registry checks).
func (s DomainState) Serving() bool { return s == DomainVerified || s == DomainFailing }

// Domain is a tenant's claim on a custom domain and where its
// verification stands. Stores return copies.
type Domain struct {
	TenantID string      `json:"tenant_id"`
	Name     string      `json:"name"` // lower-case A-label form (punycode)
	State    DomainState `json:"state"`
	// Token is the random value the tenant publishes to prove control.
	// It is not a secret: it is public in DNS.
	Token        string    `json:"token"`
	CreatedAt    time.Time `json:"created_at"`
	CheckedAt    time.Time `json:"checked_at,omitzero"`    // last check; zero: never
	NextCheckAt  time.Time `json:"next_check_at,omitzero"` // zero: not checked on a schedule (set by an operator, or revoked)
	VerifiedAt   time.Time `json:"verified_at,omitzero"`   // last turn to verified
	FailingSince time.Time `json:"failing_since,omitzero"` // start of the current failing run
	Reason       string    `json:"reason,omitempty"`
	// Version increases on every change; UpdateDomain compares it, so
	// replicas checking the same domain never undo each other.
	Version int64 `json:"version"`
}

// DomainStore keeps domain claims. A tenant may hold each name once; any
// number of tenants may have a name pending, but at most one may have it
// serving (verified or failing), which the store enforces. The serving
// domains of a tenant are its Tenant.Domains, and Store.Lookup ByDomain
// finds them; Store.Create and Update store Tenant.Domains as verified
// domains that are not checked on a schedule (asserted by the operator).
// memstore and sqlstore implement it; tenancytest.RunDomainStoreTests
// checks an adapter.
type DomainStore interface {
	// AddDomain inserts d with Version 1; ErrConflict if its tenant
	// already holds the name, or d is serving and another tenant's is;
	// ErrNotFound if the tenant does not exist.
	AddDomain(ctx context.Context, d *Domain) error
	// ListDomains returns the tenant's domains in the order they were
	// added; with name non-empty only that one (or ErrNotFound).
	ListDomains(ctx context.Context, tenantID, name string) ([]*Domain, error)
	// DueDomains returns up to limit domains whose NextCheckAt is set and
	// not after now, earliest first.
	DueDomains(ctx context.Context, now time.Time, limit int) ([]*Domain, error)
	// UpdateDomain replaces the stored domain if its Version equals
	// d.Version, then increments d.Version. A stale version, or a turn to
	// serving while another tenant's claim serves, gives ErrConflict;
	// a missing one ErrNotFound. A change in whether it serves also bumps
	// its tenant's Version, so a Registry.Update in flight retries.
	UpdateDomain(ctx context.Context, d *Domain) error
	// RemoveDomain deletes the tenant's domain, or returns ErrNotFound.
	RemoveDomain(ctx context.Context, tenantID, name string) error
}

// Domain event types, for DomainOptions.OnEvent. They name what happened
// the way webhook's operational events do, so a service can forward
// them to its operator's endpoints.
const (
	EventDomainVerified  = "domain.verified"  // a proof was found: the domain serves the tenant
	EventDomainFailing   = "domain.failing"   // a verified domain's proof is gone; it serves during the grace period
	EventDomainRecovered = "domain.recovered" // a failing domain's proof is back
	EventDomainRevoked   = "domain.revoked"   // the proof stayed away past the grace period
)

// DomainEvent is a turn in a domain's lifecycle.
type DomainEvent struct {
	Type     string    `json:"type"`
	TenantID string    `json:"tenant_id"`
	Domain   string    `json:"domain"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
}

// TXTResolver looks up DNS TXT records; *net.Resolver is one.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// DomainOptions configure custom-domain verification (Options.Domains).
// The zero value is a sensible default.
type DomainOptions struct {
	// RequireVerification refuses new names in Tenant.Domains: a domain
	// is then added only through AddDomain and serves once verified.
	// Default false: an operator's Tenant.Domains serve at once, as they
	// did before verification existed.
	RequireVerification bool
	// ChallengePrefix is the label before the domain of the TXT record
	// that holds the token. Default "_saaskit-challenge".
	ChallengePrefix string
	// Resolver looks up TXT records. Default net.DefaultResolver.
	Resolver TXTResolver
	// HTTPClient, when set, also accepts the token served at
	// http://<domain>/.well-known/saaskit-challenge/<token>. Default nil:
	// DNS only, because the check makes the service fetch a URL on a name
	// the tenant points where it likes; give a client whose dialer
	// refuses private addresses.
	HTTPClient *http.Client
	// Interval is how often verified and pending domains are checked
	// again. Default 1h.
	Interval time.Duration
	// Grace is how long a failing domain keeps serving before it is
	// revoked. Default 72h.
	Grace time.Duration
	// Batch bounds the domains one CheckDomains call checks. Default 100.
	Batch int
	// OnEvent, when set, is told of every DomainEvent, after the change
	// is stored.
	OnEvent func(ctx context.Context, ev DomainEvent)
}

func (o DomainOptions) withDefaults() DomainOptions {
	if o.ChallengePrefix == "" {
		o.ChallengePrefix = "_saaskit-challenge"
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Interval <= 0 {
		o.Interval = time.Hour
	}
	if o.Grace <= 0 {
		o.Grace = 72 * time.Hour
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	return o
}

// maxDomainLen is the longest domain name DNS carries.
const maxDomainLen = 253

// NormalizeDomain returns name as stored: trimmed, without a final dot,
// lower case, and internationalised names in their A-label (punycode)
// form, so bücher.example becomes xn--bcher-kva.example. It refuses, with
// an error naming the rule, names that are empty or longer than 253
// bytes, IP addresses, wildcards, single labels and anything else that is
// not a host name.
func NormalizeDomain(name string) (string, error) {
	s := strings.TrimSuffix(strings.TrimSpace(name), ".")
	switch {
	case s == "":
		return "", fieldErr("domain", "must not be empty")
	case len(s) > maxDomainLen*4:
		return "", fieldErr("domain", "must be at most 253 characters")
	case !utf8.ValidString(s):
		return "", fieldErr("domain", "must be valid UTF-8")
	case strings.Contains(s, "*"):
		return "", fieldErr("domain", "must not be a wildcard")
	case isIPLiteral(s):
		return "", fieldErr("domain", "must be a domain name, not an IP address")
	}
	a, err := idna.Lookup.ToASCII(s)
	if err != nil {
		return "", fieldErr("domain", "must be a valid host name (IDNA: "+idnaReason(err)+")")
	}
	if again, err := idna.Lookup.ToASCII(a); err != nil || again != a {
		return "", fieldErr("domain", "must be a valid host name (its A-label form does not map to itself)")
	}
	if len(a) > maxDomainLen {
		return "", fieldErr("domain", "must be at most 253 characters")
	}
	if !ValidDomain(a) {
		return "", fieldErr("domain", "must be a fully qualified name of at least two labels of a-z, 0-9 and '-', with a top-level label not all digits")
	}
	return a, nil
}

// idnaReason keeps the IDNA library's reason without echoing the input.
func idnaReason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimPrefix(msg, "idna: ")
}

func isIPLiteral(s string) bool {
	if strings.HasPrefix(s, "[") || strings.Contains(s, ":") {
		return true
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

// ChallengeRecord returns the name of the TXT record that proves control
// of domain under opts (the token is its value).
func (o DomainOptions) ChallengeRecord(domain string) string {
	return o.withDefaults().ChallengePrefix + "." + domain
}

// WellKnownPath is the path of the HTTP proof of token.
func WellKnownPath(token string) string { return "/.well-known/saaskit-challenge/" + token }

// maxProofBody bounds what an HTTP proof may send.
const maxProofBody = 1024

// TXTHasToken reports whether one of the TXT records is the token (spaces
// around it and a "saaskit-challenge=" prefix allowed).
func TXTHasToken(records []string, token string) bool {
	if !validToken(token) {
		return false
	}
	for _, r := range records {
		r = strings.TrimSpace(r)
		r = strings.TrimPrefix(r, "saaskit-challenge=")
		if r == token {
			return true
		}
	}
	return false
}

// BodyHasToken reports whether an HTTP proof's body is the token, with
// surrounding white space allowed.
func BodyHasToken(body []byte, token string) bool {
	return validToken(token) && len(body) <= maxProofBody && strings.TrimSpace(string(body)) == token
}

// validToken: a token can match only if it is not empty and has no
// space around it, which proofs trim.
func validToken(token string) bool { return token != "" && strings.TrimSpace(token) == token }

// NewDomainToken returns a random verification token: 32 characters of
// a-z and 2-7. Stores use it for the domains an operator sets in
// Tenant.Domains.
func NewDomainToken() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// DomainStatus is a domain as a tenant's console shows it: its state and
// the DNS record to create.
type DomainStatus struct {
	Domain
	RecordName  string    `json:"record_name"`         // the TXT record to create: _saaskit-challenge.app.acme.com
	RecordType  string    `json:"record_type"`         // "TXT"
	RecordValue string    `json:"record_value"`        // the token
	HTTPPath    string    `json:"http_path,omitempty"` // the HTTP proof's path, when HTTP proofs are on
	RevokeAt    time.Time `json:"revoke_at,omitzero"`  // failing: when it stops serving
}

func (r *Registry) domainStore() (DomainStore, error) {
	if r.domains == nil {
		return nil, errors.New("tenancy: the store keeps no domains (it does not implement DomainStore)")
	}
	return r.domains, nil
}

// AddDomain claims name for a tenant, pending until its proof is found:
// the tenant publishes the returned status's TXT record, then calls
// VerifyDomain (or waits for CheckDomains). name may be an IDN; it is
// stored in A-label form. Other tenants may claim the same name; only one
// can have it verified.
func (r *Registry) AddDomain(ctx context.Context, tenantID, name string) (*DomainStatus, error) {
	ds, err := r.domainStore()
	if err != nil {
		return nil, err
	}
	n, err := NormalizeDomain(name)
	if err == nil {
		err = r.checkPlatform(n, "domain")
	}
	if err != nil {
		return nil, fmt.Errorf("add domain: %w", err)
	}
	have, err := ds.ListDomains(ctx, tenantID, "")
	if err != nil {
		return nil, fmt.Errorf("add domain %s: %w", n, err)
	}
	if len(have) >= maxDomains {
		return nil, fmt.Errorf("add domain %s: %w", n, fieldErr("domains", "must hold at most 50 domains"))
	}
	now := r.clock.Now().UTC().Truncate(time.Microsecond)
	d := &Domain{TenantID: tenantID, Name: n, State: DomainPending, Token: NewDomainToken(), CreatedAt: now, NextCheckAt: now.Add(r.dopts.Interval)}
	if err := ds.AddDomain(ctx, d); err != nil {
		return nil, fmt.Errorf("add domain %s: %w", n, err)
	}
	return r.status(d), nil
}

// Domains lists a tenant's domains with their state and the record each
// needs, for the tenant's console.
func (r *Registry) Domains(ctx context.Context, tenantID string) ([]*DomainStatus, error) {
	ds, err := r.domainStore()
	if err != nil {
		return nil, err
	}
	list, err := ds.ListDomains(ctx, tenantID, "")
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	out := make([]*DomainStatus, len(list))
	for i, d := range list {
		out[i] = r.status(d)
	}
	return out, nil
}

func (r *Registry) status(d *Domain) *DomainStatus {
	st := &DomainStatus{Domain: *d, RecordName: r.dopts.ChallengePrefix + "." + d.Name, RecordType: "TXT", RecordValue: d.Token}
	if r.dopts.HTTPClient != nil {
		st.HTTPPath = WellKnownPath(d.Token)
	}
	if d.State == DomainFailing {
		st.RevokeAt = d.FailingSince.Add(r.dopts.Grace)
	}
	return st
}

// RemoveDomain deletes a tenant's domain, whatever its state.
func (r *Registry) RemoveDomain(ctx context.Context, tenantID, name string) error {
	ds, err := r.domainStore()
	if err != nil {
		return err
	}
	n, err := NormalizeDomain(name)
	if err == nil {
		err = ds.RemoveDomain(ctx, tenantID, n)
	}
	if err != nil {
		return fmt.Errorf("remove domain: %w", err)
	}
	r.invalidate()
	return nil
}

// VerifyDomain checks a tenant's domain now (the console's Verify
// button) and returns where it stands. A revoked domain is checked
// again too; one that another tenant serves stays pending, with the
// reason, until that tenant's proof fails.
func (r *Registry) VerifyDomain(ctx context.Context, tenantID, name string) (*DomainStatus, error) {
	ds, err := r.domainStore()
	if err != nil {
		return nil, err
	}
	n, err := NormalizeDomain(name)
	if err != nil {
		return nil, fmt.Errorf("verify domain: %w", err)
	}
	list, err := ds.ListDomains(ctx, tenantID, n)
	if err != nil {
		return nil, fmt.Errorf("verify domain %s: %w", n, err)
	}
	d, err := r.check(ctx, ds, list[0])
	if err != nil {
		return nil, fmt.Errorf("verify domain %s: %w", n, err)
	}
	return r.status(d), nil
}

// CheckDomains checks the domains that are due, at most
// DomainOptions.Batch, and returns how many it checked. Replicas may run
// it at once on one store: each takes a domain with a versioned write
// before checking it, so a domain is checked by one of them and its
// state never flaps between their answers.
func (r *Registry) CheckDomains(ctx context.Context) (int, error) {
	ds, err := r.domainStore()
	if err != nil {
		return 0, err
	}
	now := r.clock.Now().UTC()
	due, err := ds.DueDomains(ctx, now, r.dopts.Batch)
	if err != nil {
		return 0, fmt.Errorf("check domains: %w", err)
	}
	checked := 0
	var errs []error
	for _, d := range due {
		// Take the domain: push its next check out, so other replicas
		// skip it. Losing this race means another replica has it.
		d.NextCheckAt = now.Add(r.dopts.Interval).Truncate(time.Microsecond)
		if err := ds.UpdateDomain(ctx, d); errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			errs = append(errs, fmt.Errorf("check domain %s: %w", d.Name, err))
			continue
		}
		if _, err := r.check(ctx, ds, d); err != nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) {
			errs = append(errs, fmt.Errorf("check domain %s: %w", d.Name, err))
		}
		checked++
	}
	return checked, errors.Join(errs...)
}

// RunDomainChecks calls CheckDomains at once and then every interval
// (DomainOptions.Interval/10 when zero) until ctx ends, and returns
// ctx's error. Errors of a pass go to onErr when it is not nil; the
// next pass tries again. Every replica may run it.
func (r *Registry) RunDomainChecks(ctx context.Context, every time.Duration, onErr func(error)) error {
	if every <= 0 {
		every = r.dopts.Interval / 10
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := r.CheckDomains(ctx); err != nil && onErr != nil && ctx.Err() == nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// check looks for d's proof and stores the state it leads to.
func (r *Registry) check(ctx context.Context, ds DomainStore, d *Domain) (*Domain, error) {
	found, reason := r.findProof(ctx, d)
	now := r.clock.Now().UTC().Truncate(time.Microsecond)
	next, event := transition(d, found, reason, now, r.dopts)
	err := ds.UpdateDomain(ctx, next)
	if errors.Is(err, ErrConflict) && next.State.Serving() && !d.State.Serving() {
		// Another tenant serves the name: stay pending until its proof fails.
		next = d.Clone()
		next.CheckedAt, next.Reason = now, "the domain is verified by another tenant; it moves here once that tenant's proof fails"
		next.NextCheckAt = now.Add(r.dopts.Interval)
		event = ""
		err = ds.UpdateDomain(ctx, next)
	}
	if err != nil {
		return nil, err
	}
	if next.State.Serving() != d.State.Serving() || next.State == DomainFailing {
		r.invalidate()
	}
	if event != "" && r.dopts.OnEvent != nil {
		r.dopts.OnEvent(ctx, DomainEvent{Type: event, TenantID: d.TenantID, Domain: d.Name, Reason: next.Reason, At: now})
	}
	return next, nil
}

// Clone returns a copy of d.
func (d *Domain) Clone() *Domain { c := *d; return &c }

// transition returns the domain d becomes after a check that found its
// proof or not, and the event to emit ("" for none).
func transition(d *Domain, found bool, reason string, now time.Time, o DomainOptions) (*Domain, string) {
	n := d.Clone()
	n.CheckedAt = now
	n.NextCheckAt = now.Add(o.Interval)
	switch {
	case found && d.State == DomainFailing:
		n.State, n.FailingSince, n.Reason, n.VerifiedAt = DomainVerified, time.Time{}, "", now
		return n, EventDomainRecovered
	case found && d.State == DomainVerified:
		n.Reason = ""
		return n, ""
	case found: // pending or revoked
		n.State, n.FailingSince, n.Reason, n.VerifiedAt = DomainVerified, time.Time{}, "", now
		return n, EventDomainVerified
	}
	n.Reason = reason
	switch d.State {
	case DomainVerified:
		n.State, n.FailingSince = DomainFailing, now
		return n, EventDomainFailing
	case DomainFailing:
		if !now.Before(d.FailingSince.Add(o.Grace)) {
			n.State, n.NextCheckAt = DomainRevoked, time.Time{}
			return n, EventDomainRevoked
		}
	case DomainRevoked:
		n.NextCheckAt = time.Time{}
	}
	return n, ""
}

// findProof looks up d's TXT record, then its HTTP proof when enabled.
// The reason says what was missing, without echoing remote content.
func (r *Registry) findProof(ctx context.Context, d *Domain) (bool, string) {
	records, err := r.dopts.Resolver.LookupTXT(ctx, r.dopts.ChallengePrefix+"."+d.Name)
	if err == nil && TXTHasToken(records, d.Token) {
		return true, ""
	}
	reason := "no TXT record " + r.dopts.ChallengePrefix + "." + d.Name + " holds the token"
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && !dnsErr.IsNotFound {
		reason = "DNS lookup of " + r.dopts.ChallengePrefix + "." + d.Name + " failed"
	}
	if r.dopts.HTTPClient == nil {
		return false, reason
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.Name+WellKnownPath(d.Token), nil)
	if err != nil {
		return false, reason
	}
	resp, err := r.dopts.HTTPClient.Do(req)
	if err != nil {
		return false, reason + ", and the HTTP proof could not be fetched"
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProofBody+1))
	if err == nil && resp.StatusCode == http.StatusOK && BodyHasToken(body, d.Token) {
		return true, ""
	}
	return false, reason + ", and the HTTP proof does not hold it"
}

// VerifiedDomain returns the ID of the tenant a host's domain serves:
// verified, or failing within its grace period, and the tenant active.
// It answers an on-demand TLS issuer's question "may we get a
// certificate for this name" at about the cost of a map lookup for a
// host seen before (cached like other lookups); any other host gives
// ErrNotFound.
func (r *Registry) VerifiedDomain(ctx context.Context, host string) (string, error) {
	t, err := r.lookup(ctx, ByDomain, strings.ToLower(strings.TrimSuffix(host, ".")))
	if err != nil {
		return "", err
	}
	if !t.Active() {
		return "", fmt.Errorf("tenant with domain %q: %w", host, ErrNotFound)
	}
	return t.ID, nil
}

// servingTenant returns the tenant whose claim on name serves, checking
// the grace period of a failing one, and until when (clock nanoseconds)
// the answer holds: 0 means no bound of its own.
func (r *Registry) servingTenant(ctx context.Context, name string) (*Tenant, int64, error) {
	// A serving claim is among its tenant's Tenant.Domains: find the
	// tenant, then the claim's state.
	t, err := r.store.Lookup(ctx, ByDomain, name)
	if err != nil || r.domains == nil {
		return t, 0, err
	}
	list, err := r.domains.ListDomains(ctx, t.ID, name)
	if err != nil {
		return nil, 0, err
	}
	switch d := list[0]; d.State {
	case DomainVerified:
		return t, 0, nil
	case DomainFailing:
		if end := d.FailingSince.Add(r.dopts.Grace); r.clock.Now().Before(end) {
			return t, end.UnixNano(), nil
		}
	}
	return nil, 0, fmt.Errorf("tenant with domain %q: %w", name, ErrNotFound)
}

// checkPlatform refuses the platform's own domains and names under them.
func (r *Registry) checkPlatform(d, field string) error {
	for _, p := range r.opts.PlatformDomains {
		p = strings.ToLower(strings.TrimSuffix(p, "."))
		if d == p || strings.HasSuffix(d, "."+p) {
			return fieldErr(field, "must not be "+p+" or under it: the platform's own domain")
		}
	}
	return nil
}

// domainsAdded returns the names in next that are not in prev.
func domainsAdded(prev, next []string) []string {
	var out []string
	for _, d := range next {
		if !slices.Contains(prev, d) {
			out = append(out, d)
		}
	}
	return out
}
