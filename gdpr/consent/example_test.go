package consent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/gdpr/consent"
	"github.com/saaskit/saaskit/gdpr/consent/memstore"
)

// Ask for consent, check it before processing, and honour a withdrawal.
func Example() {
	ctx := context.Background()
	ledger, _ := consent.New(memstore.New(), consent.Options{})
	_, _ = ledger.DefinePurpose(ctx, "acme", consent.Purpose{Key: "marketing-email", Description: "monthly newsletter"})
	n, _ := ledger.PublishNotice(ctx, "acme", consent.Notice{
		Purpose: "marketing-email", Language: "en",
		Text: "May we email you our monthly newsletter? You can unsubscribe at any time.",
	})

	// The signup form showed notice n and posts back its version and hash.
	_, err := ledger.Grant(ctx, "acme", "usr_ada", "marketing-email", consent.Grant{
		NoticeVersion: n.Version, NoticeHash: n.SHA256, Source: "signup-form", Proof: "submission-8812",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ok, _ := ledger.Allowed(ctx, "acme", "usr_ada", "marketing-email")
	fmt.Println("send newsletter:", ok)

	_, _ = ledger.Withdraw(ctx, "acme", "usr_ada", "marketing-email", consent.Withdrawal{Source: "unsubscribe-link"})
	s, _ := ledger.Status(ctx, "acme", "usr_ada", "marketing-email")
	fmt.Println("send newsletter:", s.Allowed(), "-", s.Status)

	history, _ := ledger.History(ctx, "acme", "usr_ada", "marketing-email")
	for _, e := range history {
		fmt.Println(e.Seq, e.Action, e.Source)
	}
	// Output:
	// send newsletter: true
	// send newsletter: false - withdrawn
	// 1 grant signup-form
	// 2 withdraw unsubscribe-link
}

// A grant must name the text the subject saw: a hash of another text is
// refused.
func ExampleLedger_Grant_mismatch() {
	ctx := context.Background()
	ledger, _ := consent.New(memstore.New(), consent.Options{})
	_, _ = ledger.DefinePurpose(ctx, "acme", consent.Purpose{Key: "analytics"})
	_, _ = ledger.PublishNotice(ctx, "acme", consent.Notice{Purpose: "analytics", Language: "en", Text: "May we measure how you use the app?"})

	_, err := ledger.Grant(ctx, "acme", "usr_ada", "analytics", consent.Grant{
		NoticeVersion: 1, NoticeHash: consent.Hash("May we measure everything?"),
	})
	fmt.Println(errors.Is(err, consent.ErrNoticeMismatch))
	_, err = ledger.Grant(ctx, "acme", "usr_ada", "sms", consent.Grant{NoticeVersion: 1, NoticeHash: consent.Hash("")})
	fmt.Println(err)
	// Output:
	// true
	// consent: not found: purpose "sms" of tenant "acme"
}

// A new notice version that requires re-consent stops older grants from
// allowing processing, and the state says why.
func ExampleLedger_Status_reconsent() {
	ctx := context.Background()
	ledger, _ := consent.New(memstore.New(), consent.Options{})
	_, _ = ledger.DefinePurpose(ctx, "acme", consent.Purpose{Key: "marketing-email"})
	v1, _ := ledger.PublishNotice(ctx, "acme", consent.Notice{Purpose: "marketing-email", Language: "en", Text: "Newsletter?"})
	_, _ = ledger.Grant(ctx, "acme", "usr_ada", "marketing-email", consent.Grant{NoticeVersion: v1.Version, NoticeHash: v1.SHA256})

	_, _ = ledger.PublishNotice(ctx, "acme", consent.Notice{
		Purpose: "marketing-email", Language: "en", Text: "Newsletter and partner offers?", RequiresReconsent: true,
	})
	s, _ := ledger.Status(ctx, "acme", "usr_ada", "marketing-email")
	fmt.Println(s.Status, s.Allowed())
	fmt.Println(s.Reason)
	// Output:
	// granted false
	// granted for notice version 1; version 2 requires consent again
}

// Consent that lapses: the purpose's lifetime sets each grant's expiry.
func ExampleLedger_Allowed_expiry() {
	ctx := context.Background()
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	ledger, _ := consent.New(memstore.New(), consent.Options{Now: func() time.Time { return now }})
	_, _ = ledger.DefinePurpose(ctx, "acme", consent.Purpose{Key: "cookies", Lifetime: 180 * 24 * time.Hour})
	n, _ := ledger.PublishNotice(ctx, "acme", consent.Notice{Purpose: "cookies", Language: "en", Text: "Analytics cookies?"})
	e, _ := ledger.Grant(ctx, "acme", "visitor-17", "cookies", consent.Grant{NoticeVersion: n.Version, NoticeHash: n.SHA256})
	fmt.Println("expires", e.ExpiresAt.Format(time.DateOnly))

	now = now.AddDate(0, 7, 0)
	s, _ := ledger.Status(ctx, "acme", "visitor-17", "cookies")
	fmt.Println(s.Status, s.Allowed())
	// Output:
	// expires 2025-06-30
	// expired false
}

// Answer an access request, then an erasure request: the history stays
// under a pseudonym, without the proof.
func ExampleLedger_EraseSubject() {
	ctx := context.Background()
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	ledger, _ := consent.New(memstore.New(), consent.Options{
		Now:          func() time.Time { return now },
		PseudonymKey: []byte("load me from a secret store"),
	})
	_, _ = ledger.DefinePurpose(ctx, "acme", consent.Purpose{Key: "marketing-email"})
	n, _ := ledger.PublishNotice(ctx, "acme", consent.Notice{Purpose: "marketing-email", Language: "en", Text: "Newsletter?"})
	_, _ = ledger.Grant(ctx, "acme", "usr_ada", "marketing-email", consent.Grant{
		NoticeVersion: n.Version, NoticeHash: n.SHA256, Source: "signup-form", Proof: "ip-hash:9f86d0",
	})

	x, _ := ledger.ExportSubject(ctx, "acme", "usr_ada")
	doc, _ := json.Marshal(x.Events[0])
	fmt.Println(string(doc))

	pseudonym, events, _ := ledger.EraseSubject(ctx, "acme", "usr_ada")
	fmt.Println("erased", events, "event(s)")
	s, _ := ledger.Status(ctx, "acme", "usr_ada", "marketing-email")
	fmt.Println("usr_ada:", s.Status)
	kept, _ := ledger.History(ctx, "acme", ledger.Pseudonym("acme", "usr_ada"), "marketing-email")
	fmt.Println(kept[0].Subject == pseudonym, kept[0].Action, kept[0].Source, kept[0].Proof == "")
	// Output:
	// {"tenant_id":"acme","subject":"usr_ada","purpose":"marketing-email","seq":1,"action":"grant","at":"2025-01-01T12:00:00Z","notice_version":1,"notice_language":"en","notice_sha256":"09861f679293181e8fa0bd0a5b10c60694999d9fb45e480f45036be35ead8606","source":"signup-form","proof":"ip-hash:9f86d0"}
	// erased 1 event(s)
	// usr_ada: never
	// true grant signup-form true
}
