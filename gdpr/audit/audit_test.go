package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/gdpr/audit"
	"github.com/saaskit/saaskit/gdpr/audit/memstore"
)

var (
	t0  = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	key = []byte("0123456789abcdef0123456789abcdef")
)

func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestPseudonym(t *testing.T) {
	p := audit.Pseudonym(key, "acme", "ada@example.com")
	assert.Regexp(t, `^[0-9a-f]{64}$`, p)
	assert.Equal(t, p, audit.Pseudonym(key, "acme", "ada@example.com"), "stable per key")
	assert.NotContains(t, p, "ada")
	for name, other := range map[string]string{
		"another key":      audit.Pseudonym([]byte("another key, 32 bytes long......"), "acme", "ada@example.com"),
		"another tenant":   audit.Pseudonym(key, "globex", "ada@example.com"),
		"another identity": audit.Pseudonym(key, "acme", "bob@example.com"),
		"shifted boundary": audit.Pseudonym(key, "acmea", "da@example.com"),
	} {
		assert.NotEqual(t, p, other, name)
	}
}

// encodeAsDocumented is the record encoding as doc.go specifies it,
// written independently of the package.
func encodeAsDocumented(r audit.Record, sortedDetailKeys []string) []byte {
	var b bytes.Buffer
	field := func(s string) {
		_ = binary.Write(&b, binary.BigEndian, uint64(len(s)))
		b.WriteString(s)
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02T15:04:05.000000Z")
	}
	field("saaskit.gdpr.audit.record.v1")
	field(r.TenantID)
	field(fmt.Sprint(r.Seq))
	field(ts(r.Time))
	field(r.Actor)
	field(r.Action)
	field(r.Subject)
	if q := r.Request; q == nil {
		field("0")
	} else {
		for _, s := range []string{"1", q.ID, ts(q.ReceivedAt), q.Kind, q.Channel, ts(q.RespondedAt), string(q.Response), q.DenialBasis} {
			field(s)
		}
	}
	field(fmt.Sprint(len(sortedDetailKeys)))
	for _, k := range sortedDetailKeys {
		field(k)
		field(r.Details[k])
	}
	field(r.PrevHash)
	return b.Bytes()
}

func TestHashFollowsDocumentedEncoding(t *testing.T) {
	r := audit.Record{TenantID: "acme", Seq: 12, Time: t0.Add(123456 * time.Microsecond), Actor: "staff:7", Action: "dsr.completed",
		Subject: audit.Pseudonym(key, "acme", "u_1"),
		Request: &audit.Request{ID: "dsr_9", ReceivedAt: t0.AddDate(0, 0, -3), Kind: "deletion", Channel: "email",
			RespondedAt: t0, Response: audit.Denied, DenialBasis: "identity not verified"},
		Details: map[string]string{"b": "2", "a": "1", "aa": ""}, PrevHash: strings.Repeat("ab", 32)}
	sum := sha256.Sum256(encodeAsDocumented(r, []string{"a", "aa", "b"}))
	assert.Equal(t, hex.EncodeToString(sum[:]), r.ComputeHash())

	bare := audit.Record{TenantID: "acme", Seq: 1, Time: t0, Actor: "system", Action: "tick", PrevHash: audit.ZeroHash}
	sum = sha256.Sum256(encodeAsDocumented(bare, nil))
	assert.Equal(t, hex.EncodeToString(sum[:]), bare.ComputeHash())
	// Pinned, so that a change to the encoding cannot go unnoticed: every
	// stored trail would stop verifying.
	assert.Equal(t, "81e1f671bfb8e7b09ae00f7a6eb2de0c258297d307bef33de88244fe2827bca8", bare.ComputeHash())
}

func TestHashCoversEveryField(t *testing.T) {
	base := func() audit.Record {
		return audit.Record{TenantID: "acme", Seq: 3, Time: t0, Actor: "staff:7", Action: "dsr.completed",
			Subject: audit.Pseudonym(key, "acme", "u_1"),
			Request: &audit.Request{ID: "dsr_9", ReceivedAt: t0.AddDate(0, 0, -3), Kind: "deletion", Channel: "email",
				RespondedAt: t0, Response: audit.Denied, DenialBasis: "identity not verified"},
			Details: map[string]string{"a": "1"}, PrevHash: audit.ZeroHash}
	}
	changes := map[string]func(r *audit.Record){
		"TenantID":            func(r *audit.Record) { r.TenantID = "globex" },
		"Seq":                 func(r *audit.Record) { r.Seq = 4 },
		"Time":                func(r *audit.Record) { r.Time = r.Time.Add(time.Microsecond) },
		"Actor":               func(r *audit.Record) { r.Actor = "staff:8" },
		"Action":              func(r *audit.Record) { r.Action = "dsr.denied" },
		"Subject":             func(r *audit.Record) { r.Subject = "" },
		"Request":             func(r *audit.Record) { r.Request = nil },
		"Request.ID":          func(r *audit.Record) { r.Request.ID = "dsr_8" },
		"Request.ReceivedAt":  func(r *audit.Record) { r.Request.ReceivedAt = t0 },
		"Request.Kind":        func(r *audit.Record) { r.Request.Kind = "access" },
		"Request.Channel":     func(r *audit.Record) { r.Request.Channel = "phone" },
		"Request.RespondedAt": func(r *audit.Record) { r.Request.RespondedAt = time.Time{} },
		"Request.Response":    func(r *audit.Record) { r.Request.Response = audit.PartiallyDenied },
		"Request.DenialBasis": func(r *audit.Record) { r.Request.DenialBasis = "" },
		"Details value":       func(r *audit.Record) { r.Details["a"] = "2" },
		"Details key":         func(r *audit.Record) { r.Details = map[string]string{"b": "1"} },
		"Details added":       func(r *audit.Record) { r.Details["b"] = "" },
		"Details moved":       func(r *audit.Record) { r.Details = map[string]string{"a1": ""} },
		"PrevHash":            func(r *audit.Record) { r.PrevHash = strings.Repeat("1", 64) },
	}
	want := base().ComputeHash()
	assert.Regexp(t, `^[0-9a-f]{64}$`, want)
	for name, change := range changes {
		r := base()
		change(&r)
		assert.NotEqual(t, want, r.ComputeHash(), name)
	}
	r := base()
	r.Hash = "anything"
	r.Time = t0.In(time.FixedZone("CET", 3600))
	r.Details = map[string]string{"a": "1"}
	assert.Equal(t, want, r.ComputeHash(), "Hash itself, the time zone and map order do not count")
}

func FuzzHashUnambiguous(f *testing.F) {
	f.Add("ab", "c", "d", "e")
	f.Add("", "", "x", "")
	f.Fuzz(func(t *testing.T, actor, action, k, v string) {
		r := audit.Record{TenantID: "acme", Seq: 1, Actor: actor, Action: action, Details: map[string]string{k: v}, PrevHash: audit.ZeroHash}
		h := r.ComputeHash()
		// Moving a byte across any boundary between fields must change the hash.
		if actor != "" {
			s := r
			s.Actor, s.Action = actor[:len(actor)-1], actor[len(actor)-1:]+action
			assert.NotEqual(t, h, s.ComputeHash())
		}
		if v != "" {
			s := r
			s.Details = map[string]string{k + v[:1]: v[1:]}
			assert.NotEqual(t, h, s.ComputeHash())
		}
		s := r
		s.Details = nil
		s.Action = action + k + v
		assert.NotEqual(t, h, s.ComputeHash())
	})
}

func TestAppendFillsTheChain(t *testing.T) {
	ctx := context.Background()
	now := t0.Add(123456789 * time.Nanosecond).In(time.FixedZone("CET", 3600))
	tr, err := audit.New(memstore.New(), audit.Options{Now: fixed(now)})
	require.NoError(t, err)
	details := map[string]string{"ticket": "T-1"}
	first, err := tr.Append(ctx, "acme", audit.Record{Actor: "system", Action: "dsr.received", Seq: 99, Hash: "ignored",
		PrevHash: "ignored", Time: t0.AddDate(-1, 0, 0), Details: details})
	require.NoError(t, err)
	details["ticket"] = "changed after the append"
	assert.Equal(t, "acme", first.TenantID)
	assert.EqualValues(t, 1, first.Seq)
	assert.Equal(t, audit.ZeroHash, first.PrevHash)
	assert.Equal(t, t0.Add(123456*time.Microsecond), first.Time, "the clock's time in UTC to the microsecond")
	assert.Equal(t, first.ComputeHash(), first.Hash)
	assert.Equal(t, "T-1", first.Details["ticket"])

	second, err := tr.Append(ctx, "acme", audit.Record{TenantID: "acme", Actor: "system", Action: "dsr.completed", Details: map[string]string{}})
	require.NoError(t, err)
	assert.EqualValues(t, 2, second.Seq)
	assert.Equal(t, first.Hash, second.PrevHash)
	assert.Nil(t, second.Details, "empty details are kept as none")

	var got []audit.Record
	for r, err := range tr.Records(ctx, "acme", 0) {
		require.NoError(t, err)
		got = append(got, r)
	}
	assert.Equal(t, []audit.Record{first, second}, got)
	assert.Equal(t, "T-1", got[0].Details["ticket"])
}

func TestAppendRefusesInvalidRecords(t *testing.T) {
	subject := audit.Pseudonym(key, "acme", "ada@example.com")
	request := func(change func(q *audit.Request)) *audit.Request {
		q := &audit.Request{ReceivedAt: t0, Kind: "deletion", Channel: "web form"}
		change(q)
		return q
	}
	tests := []struct {
		name   string
		tenant string
		record audit.Record
		field  string
	}{
		{"no tenant", "", audit.Record{Actor: "a", Action: "b"}, "tenantID"},
		{"another tenant", "acme", audit.Record{TenantID: "globex", Actor: "a", Action: "b"}, "TenantID"},
		{"no actor", "acme", audit.Record{Action: "b"}, "Actor"},
		{"no action", "acme", audit.Record{Actor: "a"}, "Action"},
		{"NUL in action", "acme", audit.Record{Actor: "a", Action: "b\x00"}, "Action"},
		{"not UTF-8", "acme", audit.Record{Actor: "a\xff", Action: "b"}, "Actor"},
		{"long actor", "acme", audit.Record{Actor: strings.Repeat("a", 257), Action: "b"}, "Actor"},
		{"raw email subject", "acme", audit.Record{Actor: "a", Action: "b", Subject: "ada@example.com"}, "Subject"},
		{"uppercase pseudonym", "acme", audit.Record{Actor: "a", Action: "b", Subject: strings.ToUpper(subject)}, "Subject"},
		{"empty detail key", "acme", audit.Record{Actor: "a", Action: "b", Details: map[string]string{"": "x"}}, "Details key"},
		{"NUL in detail", "acme", audit.Record{Actor: "a", Action: "b", Details: map[string]string{"k": "\x00"}}, `Details["k"]`},
		{"request without date", "acme", audit.Record{Actor: "a", Action: "b",
			Request: request(func(q *audit.Request) { q.ReceivedAt = time.Time{} })}, "Request.ReceivedAt"},
		{"request without kind", "acme", audit.Record{Actor: "a", Action: "b",
			Request: request(func(q *audit.Request) { q.Kind = "" })}, "Request.Kind"},
		{"request without channel", "acme", audit.Record{Actor: "a", Action: "b",
			Request: request(func(q *audit.Request) { q.Channel = "" })}, "Request.Channel"},
		{"unknown response", "acme", audit.Record{Actor: "a", Action: "b",
			Request: request(func(q *audit.Request) { q.Response, q.RespondedAt = "ignored", t0 })}, "Request.Response"},
		{"response without date", "acme", audit.Record{Actor: "a", Action: "b",
			Request: request(func(q *audit.Request) { q.Response = audit.Complied })}, "Request.RespondedAt"},
		{"date without response", "acme", audit.Record{Actor: "a", Action: "b",
			Request: request(func(q *audit.Request) { q.RespondedAt = t0 })}, "Request.Response"},
		{"response before request", "acme", audit.Record{Actor: "a", Action: "b",
			Request: request(func(q *audit.Request) { q.Response, q.RespondedAt = audit.Complied, t0.Add(-time.Hour) })}, "Request.RespondedAt"},
		{"denial without basis", "acme", audit.Record{Actor: "a", Action: "b",
			Request: request(func(q *audit.Request) { q.Response, q.RespondedAt = audit.Denied, t0 })}, "Request.DenialBasis"},
		{"partial denial without basis", "acme", audit.Record{Actor: "a", Action: "b",
			Request: request(func(q *audit.Request) { q.Response, q.RespondedAt = audit.PartiallyDenied, t0 })}, "Request.DenialBasis"},
		{"basis without denial", "acme", audit.Record{Actor: "a", Action: "b",
			Request: request(func(q *audit.Request) { q.Response, q.RespondedAt, q.DenialBasis = audit.Complied, t0, "why" })}, "Request.DenialBasis"},
	}
	store := memstore.New()
	tr, err := audit.New(store, audit.Options{})
	require.NoError(t, err)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tr.Append(context.Background(), tc.tenant, tc.record)
			require.ErrorIs(t, err, audit.ErrInvalid)
			assert.Contains(t, err.Error(), tc.field)
		})
	}
	_, err = store.Last(context.Background(), "acme")
	assert.ErrorIs(t, err, audit.ErrNotFound, "nothing was stored")
}

func TestNewChecksOptions(t *testing.T) {
	_, err := audit.New(nil, audit.Options{})
	assert.ErrorIs(t, err, audit.ErrInvalid)
	for name, opts := range map[string]audit.Options{
		"Options.CheckpointKey": {CheckpointKey: []byte("short")},
		"Options.PageSize":      {PageSize: -1},
		"Options.MaxAttempts":   {MaxAttempts: -1},
	} {
		_, err := audit.New(memstore.New(), opts)
		require.ErrorIs(t, err, audit.ErrInvalid, name)
		assert.Contains(t, err.Error(), name)
		assert.NotContains(t, err.Error(), "short", "keys stay out of errors")
	}
}

func TestSignedCheckpoints(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	tr, err := audit.New(store, audit.Options{Now: fixed(t0), CheckpointKey: key})
	require.NoError(t, err)
	for range 3 {
		_, err := tr.Append(ctx, "acme", audit.Record{Actor: "system", Action: "tick"})
		require.NoError(t, err)
	}
	cp, err := tr.Checkpoint(ctx, "acme")
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9a-f]{64}$`, cp.Signature)
	assert.Equal(t, t0, cp.Time)
	rep, err := tr.Verify(ctx, "acme", cp)
	require.NoError(t, err)
	assert.True(t, rep.OK, rep.Reason)

	other, err := audit.New(store, audit.Options{CheckpointKey: []byte("another key, 32 bytes long......")})
	require.NoError(t, err)
	foreign, err := other.Checkpoint(ctx, "acme")
	require.NoError(t, err)
	unsigned, err := audit.New(store, audit.Options{})
	require.NoError(t, err)
	plain, err := unsigned.Checkpoint(ctx, "acme")
	require.NoError(t, err)
	assert.Empty(t, plain.Signature)

	forged := map[string]audit.Checkpoint{
		"unsigned":         plain,
		"another key":      foreign,
		"earlier seq":      func() audit.Checkpoint { c := cp; c.Seq = 2; return c }(),
		"other hash":       func() audit.Checkpoint { c := cp; c.Hash = strings.Repeat("1", 64); return c }(),
		"later time":       func() audit.Checkpoint { c := cp; c.Time = c.Time.Add(time.Second); return c }(),
		"empty trail":      func() audit.Checkpoint { c := cp; c.Seq, c.Hash = 0, audit.ZeroHash; return c }(),
		"upper-case hex":   func() audit.Checkpoint { c := cp; c.Signature = strings.ToUpper(c.Signature); return c }(),
		"truncated digest": func() audit.Checkpoint { c := cp; c.Signature = c.Signature[:32]; return c }(),
	}
	for name, c := range forged {
		_, err := tr.Verify(ctx, "acme", c)
		assert.ErrorIs(t, err, audit.ErrBadSignature, name)
	}
	rep, err = unsigned.Verify(ctx, "acme", plain, foreign)
	require.NoError(t, err, "without a key signatures are not checked")
	assert.True(t, rep.OK)
}

func TestVerifyRefusesMalformedCheckpoints(t *testing.T) {
	ctx := context.Background()
	tr, err := audit.New(memstore.New(), audit.Options{})
	require.NoError(t, err)
	for name, cp := range map[string]audit.Checkpoint{
		"another tenant": {TenantID: "globex", Hash: audit.ZeroHash},
		"short hash":     {TenantID: "acme", Seq: 1, Hash: "abc"},
		"seq 0 hash":     {TenantID: "acme", Hash: strings.Repeat("1", 64)},
	} {
		_, err := tr.Verify(ctx, "acme", cp)
		assert.ErrorIs(t, err, audit.ErrInvalid, name)
	}
	_, err = tr.Verify(ctx, "", audit.Checkpoint{})
	assert.ErrorIs(t, err, audit.ErrInvalid)
	_, err = tr.Checkpoint(ctx, "")
	assert.ErrorIs(t, err, audit.ErrInvalid)
}

// racingStore is a Store whose chain some other appender always extends
// first, or that fails.
type racingStore struct {
	audit.Store
	appends atomic.Int64
	err     error
}

func (s *racingStore) Append(context.Context, audit.Record) error {
	s.appends.Add(1)
	return fmt.Errorf("lost: %w", audit.ErrConflict)
}

func (s *racingStore) Last(ctx context.Context, tenantID string) (audit.Record, error) {
	if s.err != nil {
		return audit.Record{}, s.err
	}
	return s.Store.Last(ctx, tenantID)
}

func TestAppendGivesUpAfterMaxAttempts(t *testing.T) {
	ctx := context.Background()
	s := &racingStore{Store: memstore.New()}
	tr, err := audit.New(s, audit.Options{MaxAttempts: 5})
	require.NoError(t, err)
	_, err = tr.Append(ctx, "acme", audit.Record{Actor: "a", Action: "b"})
	assert.ErrorIs(t, err, audit.ErrConflict)
	assert.EqualValues(t, 5, s.appends.Load())

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tr, err = audit.New(s, audit.Options{})
	require.NoError(t, err)
	_, err = tr.Append(canceled, "acme", audit.Record{Actor: "a", Action: "b"})
	assert.ErrorIs(t, err, context.Canceled, "retries stop with the context")

	s.err = errors.New("disk on fire")
	_, err = tr.Append(ctx, "acme", audit.Record{Actor: "a", Action: "b"})
	assert.ErrorIs(t, err, s.err)
	_, err = tr.Checkpoint(ctx, "acme")
	assert.ErrorIs(t, err, s.err)
}

// stuckStore lists the same page whatever afterSeq is.
type stuckStore struct{ audit.Store }

func (s stuckStore) List(ctx context.Context, tenantID string, _ uint64, limit int) ([]audit.Record, error) {
	return s.Store.List(ctx, tenantID, 0, limit)
}

func TestRecordsStopsOnAStoreThatDoesNotPage(t *testing.T) {
	ctx := context.Background()
	m := memstore.New()
	tr, err := audit.New(m, audit.Options{PageSize: 2})
	require.NoError(t, err)
	for range 5 {
		_, err := tr.Append(ctx, "acme", audit.Record{Actor: "a", Action: "b"})
		require.NoError(t, err)
	}
	stuck, err := audit.New(stuckStore{m}, audit.Options{PageSize: 2})
	require.NoError(t, err)
	var err2 error
	n := 0
	for _, err := range stuck.Records(ctx, "acme", 0) {
		n++
		err2 = err
	}
	assert.ErrorContains(t, err2, "after 2: the store returned record 1", "an error, not an endless loop")
	assert.Equal(t, 3, n)
	_, err = stuck.Verify(ctx, "acme")
	assert.ErrorContains(t, err, "the store returned record 1")
}

func TestReportErr(t *testing.T) {
	assert.NoError(t, audit.Report{OK: true}.Err())
	err := audit.Report{TenantID: "acme", BrokenAt: 3, Problem: audit.Deleted, Reason: "record 3 is missing"}.Err()
	assert.ErrorIs(t, err, audit.ErrTampered)
	assert.EqualError(t, err, "audit: trail tampered with: tenant acme: deleted at seq 3: record 3 is missing")
}
