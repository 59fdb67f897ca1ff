// Package consenttest is the conformance suite of consent.Store:
// gdpr/consent/memstore and gdpr/consent/sqlstore run it, and so can any
// other store. It checks the Store contract directly and the Ledger's
// behaviour over the store: validation, notices, states, expiry,
// re-consent, tenant isolation, erasure, export and concurrent writes.
package consenttest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr/consent"
	"github.com/saaskit/saaskit/internal/testclock"
)

var start = time.Date(2025, 3, 1, 9, 30, 0, 123456000, time.UTC)

// Texts of the notices the suite publishes.
const (
	textV1 = "We would like to email you our newsletter. You can unsubscribe at any time."
	textV2 = "We would like to email you our newsletter and offers. You can unsubscribe at any time."
	textDE = "Wir möchten Ihnen unseren Newsletter und Angebote senden. Abmelden jederzeit möglich."
	textV3 = "We would like to email you offers from our partners too. You can unsubscribe at any time."
)

const (
	tenant  = "acme"
	other   = "globex"
	subject = "usr_ada"
	email   = "marketing-email"
)

// fixture is a Ledger over a fresh store with a purpose and a notice.
type fixture struct {
	store  consent.Store
	clock  *testclock.Clock
	tick   atomic.Int64 // when positive, each reading first advances the clock by this many nanoseconds
	ledger *consent.Ledger
	v1     *consent.Notice
}

// now reads the fixture's clock.
func (f *fixture) now() time.Time {
	if d := f.tick.Load(); d > 0 {
		f.clock.Advance(time.Duration(d))
	}
	return f.clock.Now()
}

func setup(t *testing.T, newStore func(t *testing.T) consent.Store) *fixture {
	t.Helper()
	f := &fixture{store: newStore(t), clock: testclock.New(start)}
	var err error
	f.ledger, err = consent.New(f.store, consent.Options{Now: f.now, PseudonymKey: []byte("consenttest pseudonym key")})
	require.NoError(t, err)
	ctx := context.Background()
	_, err = f.ledger.DefinePurpose(ctx, tenant, consent.Purpose{Key: email, Description: "newsletter by email"})
	require.NoError(t, err)
	f.v1, err = f.ledger.PublishNotice(ctx, tenant, consent.Notice{Purpose: email, Language: "en", Text: textV1})
	require.NoError(t, err)
	return f
}

// grant grants email for notice n through the web form.
func (f *fixture) grant(t *testing.T, subj string, n *consent.Notice) *consent.Event {
	t.Helper()
	e, err := f.ledger.Grant(context.Background(), tenant, subj, n.Purpose, consent.Grant{
		NoticeVersion: n.Version, NoticeHash: n.SHA256, Source: "web-form", Proof: "submission-" + subj,
	})
	require.NoError(t, err)
	return e
}

// RunStoreTests runs the suite; newStore returns an empty store.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) consent.Store) {
	t.Run("StorePurposes", func(t *testing.T) { testStorePurposes(t, newStore(t)) })
	t.Run("StoreAppend", func(t *testing.T) { testStoreAppend(t, newStore(t)) })
	t.Run("StoreErase", func(t *testing.T) { testStoreErase(t, newStore(t)) })
	t.Run("StoreUnstorableText", func(t *testing.T) { testStoreUnstorableText(t, newStore(t)) })
	t.Run("Purposes", func(t *testing.T) { testPurposes(t, setup(t, newStore)) })
	t.Run("Notices", func(t *testing.T) { testNotices(t, setup(t, newStore)) })
	t.Run("Validation", func(t *testing.T) { testValidation(t, setup(t, newStore)) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, setup(t, newStore)) })
	t.Run("Expiry", func(t *testing.T) { testExpiry(t, setup(t, newStore)) })
	t.Run("Reconsent", func(t *testing.T) { testReconsent(t, setup(t, newStore)) })
	t.Run("TenantIsolation", func(t *testing.T) { testTenantIsolation(t, setup(t, newStore)) })
	t.Run("EraseAndExport", func(t *testing.T) { testEraseAndExport(t, setup(t, newStore)) })
	t.Run("ClockBehind", func(t *testing.T) { testClockBehind(t, setup(t, newStore)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, setup(t, newStore)) })
}

func testStorePurposes(t *testing.T, s consent.Store) {
	ctx := context.Background()
	p := &consent.Purpose{TenantID: tenant, Key: "analytics", Description: "usage analytics", Lifetime: 90 * 24 * time.Hour}
	require.NoError(t, s.SavePurpose(ctx, p, nil))
	assert.Equal(t, int64(1), p.Revision)
	require.NoError(t, s.SavePurpose(ctx, &consent.Purpose{TenantID: tenant, Key: email}, nil))
	require.NoError(t, s.SavePurpose(ctx, &consent.Purpose{TenantID: other, Key: "analytics"}, nil))

	err := s.SavePurpose(ctx, &consent.Purpose{TenantID: tenant, Key: "analytics"}, nil)
	require.ErrorIs(t, err, consent.ErrConflict, "creating an existing purpose")

	n1 := &consent.Notice{Purpose: "analytics", Version: 1, Language: "en", SHA256: consent.Hash(textV1), Text: textV1, PublishedAt: start}
	p.Description = "product analytics"
	require.NoError(t, s.SavePurpose(ctx, p, n1))
	assert.Equal(t, int64(2), p.Revision)
	n2 := &consent.Notice{Purpose: "analytics", Version: 1, Language: "de", SHA256: consent.Hash(textDE), RequiresReconsent: true, PublishedAt: start.Add(time.Second)}
	require.NoError(t, s.SavePurpose(ctx, p, n2))

	stale := &consent.Purpose{TenantID: tenant, Key: "analytics", Revision: 2}
	require.ErrorIs(t, s.SavePurpose(ctx, stale, nil), consent.ErrConflict, "stale revision")
	require.ErrorIs(t, s.SavePurpose(ctx, p, n1), consent.ErrConflict, "a notice's version and language are taken")
	assert.Equal(t, int64(3), p.Revision, "a failed save changes nothing")
	missing := &consent.Purpose{TenantID: tenant, Key: "missing", Revision: 1}
	require.ErrorIs(t, s.SavePurpose(ctx, missing, nil), consent.ErrConflict, "updating a purpose that does not exist")

	ps, err := s.Purposes(ctx, tenant)
	require.NoError(t, err)
	require.Len(t, ps, 2)
	assert.Equal(t, "analytics", ps[0].Key, "by key")
	assert.Equal(t, email, ps[1].Key)
	got := ps[0]
	assert.Equal(t, tenant, got.TenantID)
	assert.Equal(t, "product analytics", got.Description)
	assert.Equal(t, 90*24*time.Hour, got.Lifetime)
	assert.Equal(t, int64(3), got.Revision, "the failed saves did not count")
	require.Len(t, got.Notices, 2)
	assert.Equal(t, *n2, *got.Notices[0], "notices by version, then language; a hash-only notice has no text")
	assert.Equal(t, *n1, *got.Notices[1])
	assert.Empty(t, ps[1].Notices)

	ps, err = s.Purposes(ctx, tenant, email, "missing")
	require.NoError(t, err)
	require.Len(t, ps, 1, "only the keys asked for; unknown keys left out")
	assert.Equal(t, email, ps[0].Key)

	ps, err = s.Purposes(ctx, other)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	assert.Empty(t, ps[0].Notices, "another tenant's notices are not there")
	ps, err = s.Purposes(ctx, "initech")
	require.NoError(t, err)
	assert.Empty(t, ps)
}

// storeEvent returns a full event of subj for purpose at at.
func storeEvent(tenantID, subj, purpose string, action consent.Action, at time.Time) *consent.Event {
	e := &consent.Event{TenantID: tenantID, Subject: subj, Purpose: purpose, Action: action, At: at, Source: "api", Proof: "req-1"}
	if action == consent.ActionGrant {
		e.NoticeVersion, e.NoticeLanguage, e.NoticeHash = 1, "en", consent.Hash(textV1)
		e.ExpiresAt = at.Add(24 * time.Hour)
	}
	return e
}

func testStoreAppend(t *testing.T, s consent.Store) {
	ctx := context.Background()
	for _, p := range []*consent.Purpose{{TenantID: tenant, Key: email}, {TenantID: tenant, Key: "analytics"}, {TenantID: other, Key: email}} {
		require.NoError(t, s.SavePurpose(ctx, p, nil))
	}
	var appended []*consent.Event
	add := func(tenantID, subj, purpose string, action consent.Action, at time.Time) *consent.Event {
		e := storeEvent(tenantID, subj, purpose, action, at)
		require.NoError(t, s.Append(ctx, e))
		appended = append(appended, e)
		return e
	}
	g1 := add(tenant, subject, email, consent.ActionGrant, start)
	w := add(tenant, subject, email, consent.ActionWithdraw, start.Add(time.Minute))
	g2 := add(tenant, subject, email, consent.ActionGrant, start.Add(time.Minute)) // the same time is not older
	a := add(tenant, subject, "analytics", consent.ActionGrant, start)
	add(tenant, "usr_bob", email, consent.ActionGrant, start)
	add(other, subject, email, consent.ActionWithdraw, start)
	assert.Equal(t, []int64{1, 2, 3, 1}, []int64{g1.Seq, w.Seq, g2.Seq, a.Seq}, "Seq counts per subject and purpose")

	all, err := s.Events(ctx, tenant, subject, consent.EventFilter{})
	require.NoError(t, err)
	assert.Equal(t, []*consent.Event{a, g1, w, g2}, all, "by purpose, then Seq, every field kept")
	assert.Zero(t, all[2].ExpiresAt, "a withdrawal has no expiry")

	cur, err := s.Events(ctx, tenant, subject, consent.EventFilter{Current: true})
	require.NoError(t, err)
	assert.Equal(t, []*consent.Event{a, g2}, cur, "the current event of each purpose")
	cur, err = s.Events(ctx, tenant, subject, consent.EventFilter{Purpose: email, Current: true})
	require.NoError(t, err)
	assert.Equal(t, []*consent.Event{g2}, cur)
	hist, err := s.Events(ctx, tenant, subject, consent.EventFilter{Purpose: email})
	require.NoError(t, err)
	assert.Equal(t, []*consent.Event{g1, w, g2}, hist)

	late := add(tenant, subject, email, consent.ActionWithdraw, start.Add(time.Minute-time.Microsecond))
	assert.Equal(t, int64(4), late.Seq)
	assert.Equal(t, start.Add(time.Minute), late.At, "an event older than the current one takes its time")
	cur, err = s.Events(ctx, tenant, subject, consent.EventFilter{Purpose: email, Current: true})
	require.NoError(t, err)
	assert.Equal(t, []*consent.Event{late}, cur, "and becomes the current state")
	hist, err = s.Events(ctx, tenant, subject, consent.EventFilter{Purpose: email})
	require.NoError(t, err)
	assert.Equal(t, []*consent.Event{g1, w, g2, late}, hist)

	none, err := s.Events(ctx, other, "usr_bob", consent.EventFilter{})
	require.NoError(t, err)
	assert.Empty(t, none, "another tenant's subject of the same name has no events")
	none, err = s.Events(ctx, tenant, subject, consent.EventFilter{Purpose: "unknown"})
	require.NoError(t, err)
	assert.Empty(t, none)
}

func testStoreErase(t *testing.T, s consent.Store) {
	ctx := context.Background()
	for _, p := range []*consent.Purpose{{TenantID: tenant, Key: email}, {TenantID: tenant, Key: "analytics"}, {TenantID: other, Key: email}} {
		require.NoError(t, s.SavePurpose(ctx, p, nil))
	}
	appendAt := func(tenantID, subj, purpose string, action consent.Action, at time.Time) {
		require.NoError(t, s.Append(ctx, storeEvent(tenantID, subj, purpose, action, at)))
	}
	appendAt(tenant, subject, email, consent.ActionGrant, start)
	appendAt(tenant, subject, email, consent.ActionWithdraw, start.Add(time.Second))
	appendAt(tenant, subject, "analytics", consent.ActionGrant, start)
	appendAt(tenant, "usr_bob", email, consent.ActionGrant, start)
	appendAt(other, subject, email, consent.ActionGrant, start)

	const pseudonym = "erased:0123"
	n, err := s.EraseSubject(ctx, tenant, subject, pseudonym)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	gone, err := s.Events(ctx, tenant, subject, consent.EventFilter{})
	require.NoError(t, err)
	assert.Empty(t, gone, "no event names the subject")
	moved, err := s.Events(ctx, tenant, pseudonym, consent.EventFilter{})
	require.NoError(t, err)
	require.Len(t, moved, 3)
	for _, e := range moved {
		assert.Equal(t, pseudonym, e.Subject)
		assert.Empty(t, e.Proof, "erasure clears the proof")
		assert.Equal(t, "api", e.Source, "and keeps the rest")
	}
	assert.Equal(t, consent.ActionWithdraw, moved[2].Action)
	assert.Equal(t, start.Add(time.Second), moved[2].At)
	for _, subj := range []string{subject, pseudonym} {
		cur, err := s.Events(ctx, tenant, subj, consent.EventFilter{Current: true})
		require.NoError(t, err)
		assert.Empty(t, cur, "%s has no current state", subj)
	}
	for _, k := range []struct{ tenant, subject string }{{tenant, "usr_bob"}, {other, subject}} {
		kept, err := s.Events(ctx, k.tenant, k.subject, consent.EventFilter{Current: true})
		require.NoError(t, err)
		assert.Len(t, kept, 1, "%s/%s is untouched", k.tenant, k.subject)
	}

	// The subject comes back, consents, and is erased again under the
	// same pseudonym: the history continues.
	appendAt(tenant, subject, email, consent.ActionGrant, start.Add(time.Hour))
	n, err = s.EraseSubject(ctx, tenant, subject, pseudonym)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	moved, err = s.Events(ctx, tenant, pseudonym, consent.EventFilter{Purpose: email})
	require.NoError(t, err)
	require.Len(t, moved, 3)
	assert.Equal(t, []int64{1, 2, 3}, []int64{moved[0].Seq, moved[1].Seq, moved[2].Seq})
	assert.Equal(t, start.Add(time.Hour), moved[2].At)

	n, err = s.EraseSubject(ctx, tenant, subject, pseudonym)
	require.NoError(t, err)
	assert.Zero(t, n, "erasing again does nothing")
}

func testPurposes(t *testing.T, f *fixture) {
	ctx := context.Background()
	l := f.ledger
	p, err := l.DefinePurpose(ctx, tenant, consent.Purpose{Key: email, Description: "newsletter and offers", Lifetime: time.Hour})
	require.NoError(t, err, "defining again updates")
	assert.Equal(t, "newsletter and offers", p.Description)
	assert.Equal(t, time.Hour, p.Lifetime)
	require.Len(t, p.Notices, 1, "and keeps the notices")

	_, err = l.DefinePurpose(ctx, tenant, consent.Purpose{Key: "analytics"})
	require.NoError(t, err)
	ps, err := l.Purposes(ctx, tenant)
	require.NoError(t, err)
	require.Len(t, ps, 2)
	assert.Equal(t, []string{"analytics", email}, []string{ps[0].Key, ps[1].Key})

	got, err := l.Purpose(ctx, tenant, email)
	require.NoError(t, err)
	assert.Equal(t, "newsletter and offers", got.Description)
	assert.Equal(t, f.v1, got.Latest("en"))
	assert.Nil(t, got.Latest("fr"))

	_, err = l.Purpose(ctx, tenant, "unknown")
	assert.ErrorIs(t, err, consent.ErrNotFound)
	assert.ErrorContains(t, err, `purpose "unknown"`)
	_, err = l.Purpose(ctx, other, email)
	assert.ErrorIs(t, err, consent.ErrNotFound, "another tenant's purpose")

	for _, tt := range []struct {
		name string
		p    consent.Purpose
		want string
	}{
		{"empty key", consent.Purpose{}, `purpose ""`},
		{"upper case key", consent.Purpose{Key: "Marketing"}, `purpose "Marketing"`},
		{"long key", consent.Purpose{Key: fmt.Sprintf("%065d", 0)}, "1 to 64"},
		{"negative lifetime", consent.Purpose{Key: "x", Lifetime: -time.Second}, "lifetime"},
		{"long description", consent.Purpose{Key: "x", Description: string(make([]byte, 5000))}, "description"},
	} {
		_, err := l.DefinePurpose(ctx, tenant, tt.p)
		assert.ErrorIs(t, err, consent.ErrInvalid, tt.name)
		assert.ErrorContains(t, err, tt.want, tt.name)
	}
	_, err = l.DefinePurpose(ctx, "", consent.Purpose{Key: "x"})
	assert.ErrorIs(t, err, consent.ErrInvalid)
	assert.ErrorContains(t, err, "tenant")
}

func testNotices(t *testing.T, f *fixture) {
	ctx := context.Background()
	l := f.ledger
	assert.Equal(t, 1, f.v1.Version)
	assert.Equal(t, consent.Hash(textV1), f.v1.SHA256)
	assert.Equal(t, textV1, f.v1.Text)
	assert.Equal(t, start.Truncate(time.Microsecond), f.v1.PublishedAt)

	again, err := l.PublishNotice(ctx, tenant, consent.Notice{Purpose: email, Language: "en", Text: textV1})
	require.NoError(t, err)
	assert.Equal(t, f.v1, again, "publishing the latest text again returns it")

	f.clock.Advance(time.Hour)
	v2, err := l.PublishNotice(ctx, tenant, consent.Notice{Purpose: email, Language: "en", SHA256: consent.Hash(textV2)})
	require.NoError(t, err, "a hash without its text")
	assert.Equal(t, 2, v2.Version, "a new text is a new version")
	assert.Empty(t, v2.Text)
	de, err := l.PublishNotice(ctx, tenant, consent.Notice{Purpose: email, Version: 2, Language: "de", Text: textDE})
	require.NoError(t, err)
	assert.Equal(t, 2, de.Version, "a translation of version 2")
	again, err = l.PublishNotice(ctx, tenant, consent.Notice{Purpose: email, Version: 2, Language: "de", Text: textDE})
	require.NoError(t, err)
	assert.Equal(t, de, again)

	_, err = l.PublishNotice(ctx, tenant, consent.Notice{Purpose: email, Version: 1, Language: "en", Text: textV2})
	assert.ErrorIs(t, err, consent.ErrConflict, "a published text never changes")
	assert.ErrorContains(t, err, "new version")
	_, err = l.PublishNotice(ctx, tenant, consent.Notice{Purpose: email, Version: 7, Language: "en", Text: textV2})
	assert.ErrorIs(t, err, consent.ErrNotFound, "translating a version that does not exist")
	_, err = l.PublishNotice(ctx, tenant, consent.Notice{Purpose: email, Version: 2, Language: "fr", Text: "Bonjour", RequiresReconsent: true})
	assert.ErrorIs(t, err, consent.ErrInvalid, "a version's languages share RequiresReconsent")
	assert.ErrorContains(t, err, "requires_reconsent")
	_, err = l.PublishNotice(ctx, tenant, consent.Notice{Purpose: "unknown", Language: "en", Text: textV1})
	assert.ErrorIs(t, err, consent.ErrNotFound)
	_, err = l.PublishNotice(ctx, other, consent.Notice{Purpose: email, Language: "en", Text: textV1})
	assert.ErrorIs(t, err, consent.ErrNotFound, "another tenant's purpose")

	for _, tt := range []struct {
		name string
		n    consent.Notice
		want string
	}{
		{"no text nor hash", consent.Notice{Purpose: email, Language: "en"}, "text or its sha256"},
		{"bad language", consent.Notice{Purpose: email, Language: "english!", Text: textV3}, "language"},
		{"bad hash", consent.Notice{Purpose: email, Language: "en", SHA256: "abc"}, "64 hex digits"},
		{"hash of another text", consent.Notice{Purpose: email, Language: "en", Text: textV3, SHA256: consent.Hash(textV1)}, "not the hash of its text"},
		{"negative version", consent.Notice{Purpose: email, Version: -1, Language: "en", Text: textV3}, "version -1"},
		{"text not UTF-8", consent.Notice{Purpose: email, Language: "en", Text: "caf\xe9"}, "notice text: must be valid UTF-8"},
	} {
		_, err := l.PublishNotice(ctx, tenant, tt.n)
		assert.ErrorIs(t, err, consent.ErrInvalid, tt.name)
		assert.ErrorContains(t, err, tt.want, tt.name)
	}

	p, err := l.Purpose(ctx, tenant, email)
	require.NoError(t, err)
	require.Len(t, p.Notices, 3)
	assert.Equal(t, []*consent.Notice{f.v1, de, v2}, p.Notices, "by version, then language")
	assert.Equal(t, v2, p.Latest("en"))
	assert.Equal(t, de, p.Latest("de"))
	assert.Zero(t, p.ReconsentFrom())
}

func testValidation(t *testing.T, f *fixture) {
	ctx := context.Background()
	l := f.ledger
	_, err := l.DefinePurpose(ctx, other, consent.Purpose{Key: "globex-only"})
	require.NoError(t, err)
	ok := consent.Grant{NoticeVersion: 1, NoticeHash: f.v1.SHA256, Source: "web-form"}
	with := func(change func(g *consent.Grant)) consent.Grant {
		g := ok
		change(&g)
		return g
	}
	tests := []struct {
		name                     string
		tenant, subject, purpose string
		g                        consent.Grant
		is                       error
		want                     string
	}{
		{"empty tenant", "", subject, email, ok, consent.ErrInvalid, "tenant"},
		{"empty subject", tenant, "", email, ok, consent.ErrInvalid, "subject: must not be empty"},
		{"long subject", tenant, string(make([]byte, 513)), email, ok, consent.ErrInvalid, "subject"},
		{"subject not UTF-8", tenant, "\xff", email, ok, consent.ErrInvalid, "subject: must be valid UTF-8"},
		{"NUL in subject", tenant, "usr\x00ada", email, ok, consent.ErrInvalid, "subject: must not contain NUL"},
		{"pseudonym subject", tenant, "erased:abc", email, ok, consent.ErrInvalid, "pseudonym"},
		{"malformed purpose", tenant, subject, "Marketing Email", ok, consent.ErrInvalid, `purpose "Marketing Email"`},
		{"empty purpose", tenant, subject, "", ok, consent.ErrInvalid, `purpose ""`},
		{"unknown purpose", tenant, subject, "sms", ok, consent.ErrNotFound, `purpose "sms"`},
		{"another tenant's purpose", tenant, subject, "globex-only", ok, consent.ErrNotFound, `purpose "globex-only"`},
		{"no notice version", tenant, subject, email, with(func(g *consent.Grant) { g.NoticeVersion = 0 }), consent.ErrInvalid, "notice version 0"},
		{"unknown notice version", tenant, subject, email, with(func(g *consent.Grant) { g.NoticeVersion = 9 }), consent.ErrNotFound, "notice version 9"},
		{"no notice hash", tenant, subject, email, with(func(g *consent.Grant) { g.NoticeHash = "" }), consent.ErrInvalid, "notice hash"},
		{"notice hash mismatch", tenant, subject, email, with(func(g *consent.Grant) { g.NoticeHash = consent.Hash(textV2) }), consent.ErrNoticeMismatch, "notice hash mismatch"},
		{"expiry before the grant", tenant, subject, email, with(func(g *consent.Grant) { g.ExpiresAt = start.Add(-time.Hour) }), consent.ErrInvalid, "expires_at"},
		{"long source", tenant, subject, email, with(func(g *consent.Grant) { g.Source = string(make([]byte, 200)) }), consent.ErrInvalid, "source"},
		{"long proof", tenant, subject, email, with(func(g *consent.Grant) { g.Proof = string(make([]byte, 5000)) }), consent.ErrInvalid, "proof"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.Grant(ctx, tt.tenant, tt.subject, tt.purpose, tt.g)
			assert.ErrorIs(t, err, tt.is)
			assert.ErrorContains(t, err, tt.want)
		})
	}
	assert.ErrorIs(t, consent.ErrNoticeMismatch, consent.ErrInvalid, "a mismatch is invalid")

	_, err = l.Grant(ctx, tenant, subject, email, consent.Grant{NoticeVersion: 1, NoticeHash: strings.ToUpper(f.v1.SHA256)})
	require.NoError(t, err, "hex in upper case is the same hash; source and proof are optional")

	_, err = l.Withdraw(ctx, tenant, subject, "sms", consent.Withdrawal{})
	assert.ErrorIs(t, err, consent.ErrNotFound, "withdrawing from an unknown purpose")
	_, err = l.Withdraw(ctx, tenant, "", email, consent.Withdrawal{})
	assert.ErrorIs(t, err, consent.ErrInvalid)
	_, err = l.Status(ctx, tenant, "", email)
	assert.ErrorIs(t, err, consent.ErrInvalid)
	_, err = l.Status(ctx, tenant, subject, "sms")
	assert.ErrorIs(t, err, consent.ErrNotFound)
	allowed, err := l.Allowed(ctx, tenant, subject, "sms")
	assert.ErrorIs(t, err, consent.ErrNotFound)
	assert.False(t, allowed)
	_, err = l.History(ctx, tenant, subject, "sms")
	assert.ErrorIs(t, err, consent.ErrNotFound)
	_, err = l.Subject(ctx, "", subject)
	assert.ErrorIs(t, err, consent.ErrInvalid)
	_, _, err = l.EraseSubject(ctx, tenant, "")
	assert.ErrorIs(t, err, consent.ErrInvalid)
	_, err = l.ExportSubject(ctx, tenant, "")
	assert.ErrorIs(t, err, consent.ErrInvalid)
}

func testLifecycle(t *testing.T, f *fixture) {
	ctx := context.Background()
	l := f.ledger
	_, err := l.DefinePurpose(ctx, tenant, consent.Purpose{Key: "analytics"})
	require.NoError(t, err)

	s, err := l.Status(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.Equal(t, consent.State{Purpose: email, Status: consent.Never, Reason: "never granted"}, s)

	f.clock.Advance(time.Minute)
	g := f.grant(t, subject, f.v1)
	assert.Equal(t, &consent.Event{
		TenantID: tenant, Subject: subject, Purpose: email, Seq: 1, Action: consent.ActionGrant,
		At: start.Add(time.Minute).Truncate(time.Microsecond), NoticeVersion: 1, NoticeLanguage: "en",
		NoticeHash: f.v1.SHA256, Source: "web-form", Proof: "submission-" + subject,
	}, g)
	s, err = l.Status(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.Equal(t, consent.State{Purpose: email, Status: consent.Granted, Event: g}, s)
	assert.True(t, s.Allowed())
	allowed, err := l.Allowed(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.True(t, allowed)

	f.clock.Advance(time.Minute)
	w, err := l.Withdraw(ctx, tenant, subject, email, consent.Withdrawal{Source: "unsubscribe-link", Proof: "link-42"})
	require.NoError(t, err, "withdrawing needs no notice")
	assert.Equal(t, int64(2), w.Seq)
	s, err = l.Status(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.Equal(t, consent.Withdrawn, s.Status)
	assert.Equal(t, w, s.Event)
	assert.Contains(t, s.Reason, "withdrawn at")
	allowed, err = l.Allowed(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.False(t, allowed)

	f.clock.Advance(time.Minute)
	g2 := f.grant(t, subject, f.v1)
	hist, err := l.History(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.Equal(t, []*consent.Event{g, w, g2}, hist, "the history keeps every event, in order")

	_, err = l.Withdraw(ctx, tenant, "usr_bob", email, consent.Withdrawal{})
	require.NoError(t, err, "withdrawing what was never granted is recorded")
	s, err = l.Status(ctx, tenant, "usr_bob", email)
	require.NoError(t, err)
	assert.Equal(t, consent.Withdrawn, s.Status)

	states, err := l.Subject(ctx, tenant, subject)
	require.NoError(t, err)
	require.Len(t, states, 2, "every purpose of the tenant")
	assert.Equal(t, consent.State{Purpose: "analytics", Status: consent.Never, Reason: "never granted"}, states[0])
	assert.Equal(t, consent.State{Purpose: email, Status: consent.Granted, Event: g2}, states[1])
}

func testExpiry(t *testing.T, f *fixture) {
	ctx := context.Background()
	l := f.ledger
	_, err := l.DefinePurpose(ctx, tenant, consent.Purpose{Key: email, Lifetime: 24 * time.Hour})
	require.NoError(t, err)
	g := f.grant(t, subject, f.v1)
	assert.Equal(t, g.At.Add(24*time.Hour), g.ExpiresAt, "the purpose's lifetime")

	f.clock.Advance(24*time.Hour - time.Second)
	allowed, err := l.Allowed(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.True(t, allowed, "a second before expiry")
	f.clock.Advance(time.Second)
	s, err := l.Status(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.Equal(t, consent.Expired, s.Status, "at expiry")
	assert.Equal(t, g, s.Event)
	assert.Contains(t, s.Reason, "expired at")
	assert.False(t, s.Allowed())

	own := f.clock.Now().Add(time.Hour)
	g2, err := l.Grant(ctx, tenant, subject, email, consent.Grant{NoticeVersion: 1, NoticeHash: f.v1.SHA256, ExpiresAt: own})
	require.NoError(t, err)
	assert.Equal(t, own.Truncate(time.Microsecond), g2.ExpiresAt, "a grant's own expiry wins")
	states, err := l.Subject(ctx, tenant, subject)
	require.NoError(t, err)
	require.Len(t, states, 1)
	assert.Equal(t, consent.Granted, states[0].Status)
	f.clock.Advance(time.Hour)
	states, err = l.Subject(ctx, tenant, subject)
	require.NoError(t, err)
	assert.Equal(t, consent.Expired, states[0].Status)
}

func testReconsent(t *testing.T, f *fixture) {
	ctx := context.Background()
	l := f.ledger
	f.grant(t, subject, f.v1)
	v2, err := l.PublishNotice(ctx, tenant, consent.Notice{Purpose: email, Language: "en", Text: textV2})
	require.NoError(t, err)
	allowed, err := l.Allowed(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.True(t, allowed, "a grant for an older notice stays valid")

	v3, err := l.PublishNotice(ctx, tenant, consent.Notice{Purpose: email, Language: "en", Text: textV3, RequiresReconsent: true})
	require.NoError(t, err)
	assert.Equal(t, 3, v3.Version)
	s, err := l.Status(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.Equal(t, consent.Granted, s.Status, "still granted")
	assert.True(t, s.ReconsentRequired, "but for a text that needs consent again")
	assert.Equal(t, "granted for notice version 1; version 3 requires consent again", s.Reason)
	assert.False(t, s.Allowed())
	allowed, err = l.Allowed(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.False(t, allowed)

	old := f.grant(t, "usr_bob", v2)
	assert.Equal(t, 2, old.NoticeVersion, "a grant for an outdated notice is recorded as it happened")
	allowed, err = l.Allowed(ctx, tenant, "usr_bob", email)
	require.NoError(t, err)
	assert.False(t, allowed, "and allows nothing")

	f.grant(t, subject, v3)
	s, err = l.Status(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.True(t, s.Allowed(), "consent to the new text")
	assert.Empty(t, s.Reason)

	v4, err := l.PublishNotice(ctx, tenant, consent.Notice{Purpose: email, Language: "en", Text: textV3 + " Thanks."})
	require.NoError(t, err)
	p, err := l.Purpose(ctx, tenant, email)
	require.NoError(t, err)
	assert.Equal(t, 3, p.ReconsentFrom(), "a later version without the flag keeps version 3's")
	assert.Equal(t, v4, p.Latest("en"))
	allowed, err = l.Allowed(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.True(t, allowed)
}

func testTenantIsolation(t *testing.T, f *fixture) {
	ctx := context.Background()
	l := f.ledger
	f.grant(t, subject, f.v1)

	_, err := l.Status(ctx, other, subject, email)
	assert.ErrorIs(t, err, consent.ErrNotFound, "the other tenant has no such purpose")
	_, err = l.History(ctx, other, subject, email)
	assert.ErrorIs(t, err, consent.ErrNotFound)
	_, err = l.Grant(ctx, other, subject, email, consent.Grant{NoticeVersion: 1, NoticeHash: f.v1.SHA256})
	assert.ErrorIs(t, err, consent.ErrNotFound, "nor can it grant against acme's notice")

	_, err = l.DefinePurpose(ctx, other, consent.Purpose{Key: email})
	require.NoError(t, err)
	s, err := l.Status(ctx, other, subject, email)
	require.NoError(t, err)
	assert.Equal(t, consent.Never, s.Status, "the same key and subject in another tenant")
	_, err = l.Grant(ctx, other, subject, email, consent.Grant{NoticeVersion: 1, NoticeHash: f.v1.SHA256})
	assert.ErrorIs(t, err, consent.ErrNotFound, "globex has published no notice")
	hist, err := l.History(ctx, other, subject, email)
	require.NoError(t, err)
	assert.Empty(t, hist)
	x, err := l.ExportSubject(ctx, other, subject)
	require.NoError(t, err)
	assert.Empty(t, x.Events)
	pseudonym, n, err := l.EraseSubject(ctx, other, subject)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.NotEqual(t, l.Pseudonym(tenant, subject), pseudonym, "pseudonyms are per tenant")
	allowed, err := l.Allowed(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.True(t, allowed, "erasing in globex leaves acme's consent")
}

func testEraseAndExport(t *testing.T, f *fixture) {
	ctx := context.Background()
	l := f.ledger
	_, err := l.DefinePurpose(ctx, tenant, consent.Purpose{Key: "analytics", Description: "usage analytics"})
	require.NoError(t, err)
	_, err = l.PublishNotice(ctx, tenant, consent.Notice{Purpose: email, Language: "en", Text: textV2})
	require.NoError(t, err)
	g := f.grant(t, subject, f.v1)
	f.clock.Advance(time.Minute)
	w, err := l.Withdraw(ctx, tenant, subject, email, consent.Withdrawal{Source: "settings", Proof: "ip-hash:9f86d0"})
	require.NoError(t, err)
	bob := f.grant(t, "usr_bob", f.v1)

	x, err := l.ExportSubject(ctx, tenant, subject)
	require.NoError(t, err)
	assert.Equal(t, tenant, x.TenantID)
	assert.Equal(t, subject, x.Subject)
	assert.Equal(t, []*consent.Event{g, w}, x.Events)
	require.Len(t, x.Purposes, 1, "the purposes the subject has events for")
	assert.Equal(t, []*consent.Notice{f.v1}, x.Purposes[0].Notices, "with the notices they saw, texts included")
	require.Len(t, x.States, 1)
	assert.Equal(t, consent.Withdrawn, x.States[0].Status)
	doc, err := json.Marshal(x)
	require.NoError(t, err)
	var back map[string]any
	require.NoError(t, json.Unmarshal(doc, &back))
	assert.Contains(t, string(doc), `"text":"`+textV1+`"`)
	assert.Contains(t, string(doc), `"proof":"ip-hash:9f86d0"`)
	assert.NotContains(t, string(doc), "usr_bob")

	pseudonym, n, err := l.EraseSubject(ctx, tenant, subject)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, l.Pseudonym(tenant, subject), pseudonym)
	assert.Regexp(t, `^erased:[0-9a-f]{64}$`, pseudonym)

	s, err := l.Status(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.Equal(t, consent.Never, s.Status, "the erased subject has no consent")
	hist, err := l.History(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.Empty(t, hist)
	x, err = l.ExportSubject(ctx, tenant, subject)
	require.NoError(t, err)
	assert.Empty(t, x.Events)
	assert.NotNil(t, x.Events, "an empty export encodes lists, not null")

	kept, err := l.History(ctx, tenant, pseudonym, email)
	require.NoError(t, err, "the history stays, under the pseudonym")
	require.Len(t, kept, 2)
	for i, e := range []*consent.Event{g, w} {
		want := *e
		want.Subject, want.Proof = pseudonym, ""
		assert.Equal(t, &want, kept[i])
	}
	_, _, err = l.EraseSubject(ctx, tenant, pseudonym)
	assert.ErrorIs(t, err, consent.ErrInvalid, "a pseudonym is erased already")

	f.clock.Advance(time.Minute)
	f.grant(t, subject, f.v1)
	_, n, err = l.EraseSubject(ctx, tenant, subject)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	kept, err = l.History(ctx, tenant, pseudonym, email)
	require.NoError(t, err)
	require.Len(t, kept, 3, "a second erasure adds to the pseudonym's history")
	assert.Equal(t, int64(3), kept[2].Seq)
	_, n, err = l.EraseSubject(ctx, tenant, subject)
	require.NoError(t, err)
	assert.Zero(t, n, "erasing again is harmless")

	s, err = l.Status(ctx, tenant, "usr_bob", email)
	require.NoError(t, err)
	assert.Equal(t, bob, s.Event, "other subjects are untouched")
}

func testClockBehind(t *testing.T, f *fixture) {
	ctx := context.Background()
	l := f.ledger
	g := f.grant(t, subject, f.v1)
	f.clock.Advance(-time.Hour)
	w, err := l.Withdraw(ctx, tenant, subject, email, consent.Withdrawal{})
	require.NoError(t, err, "a clock behind never keeps a subject from withdrawing")
	assert.Equal(t, g.At, w.At, "the withdrawal takes the grant's time, not an earlier one")
	assert.Equal(t, int64(2), w.Seq)
	s, err := l.Status(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.Equal(t, consent.Withdrawn, s.Status)
	assert.Equal(t, w, s.Event)
}

// testConcurrent races grants and withdrawals for one subject and purpose
// and checks that the current state is the last event by Seq, and that
// times follow Seq.
func testConcurrent(t *testing.T, f *fixture) {
	ctx := context.Background()
	l := f.ledger
	f.tick.Store(int64(time.Millisecond))
	const workers, each = 6, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				var err error
				if (w+i)%2 == 0 {
					_, err = l.Grant(ctx, tenant, subject, email, consent.Grant{NoticeVersion: 1, NoticeHash: f.v1.SHA256, Source: fmt.Sprintf("worker-%d", w)})
				} else {
					_, err = l.Withdraw(ctx, tenant, subject, email, consent.Withdrawal{Source: fmt.Sprintf("worker-%d", w)})
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	hist, err := l.History(ctx, tenant, subject, email)
	require.NoError(t, err)
	require.Len(t, hist, workers*each, "every event is kept")
	for i, e := range hist {
		assert.Equal(t, int64(i+1), e.Seq, "Seq has no gaps")
		if i > 0 {
			assert.False(t, e.At.Before(hist[i-1].At), "times follow Seq: %d at %s, %d at %s", i, e.At, i+1, hist[i-1].At)
		}
	}
	last := hist[len(hist)-1]
	s, err := l.Status(ctx, tenant, subject, email)
	require.NoError(t, err)
	assert.Equal(t, last, s.Event, "the current state is set by the last event")
	want := map[consent.Action]consent.Status{consent.ActionGrant: consent.Granted, consent.ActionWithdraw: consent.Withdrawn}[last.Action]
	assert.Equal(t, want, s.Status)
}

// testStoreUnstorableText: a subject no text column holds (a NUL byte,
// invalid UTF-8), as a request path may carry, has no events and
// nothing to erase, never a database error.
func testStoreUnstorableText(t *testing.T, s consent.Store) {
	ctx := context.Background()
	for _, v := range []string{"a\x00b", "\xff", "usr_\xc3\x28"} {
		events, err := s.Events(ctx, "acme", v, consent.EventFilter{})
		assert.NoError(t, err, "Events of %q", v)
		assert.Empty(t, events)
		events, err = s.Events(ctx, v, "usr_1", consent.EventFilter{Current: true})
		assert.NoError(t, err, "Events of tenant %q", v)
		assert.Empty(t, events)
		n, err := s.EraseSubject(ctx, "acme", v, "pseudonym")
		assert.NoError(t, err, "EraseSubject %q", v)
		assert.Zero(t, n)
		purposes, err := s.Purposes(ctx, "acme", v)
		assert.NoError(t, err, "Purposes %q", v)
		assert.Empty(t, purposes)
	}
}
