package gdpr_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/saaskit/saaskit/gdpr"
	"github.com/saaskit/saaskit/gdpr/audit"
	auditmem "github.com/saaskit/saaskit/gdpr/audit/memstore"
	"github.com/saaskit/saaskit/gdpr/memstore"
)

// crm is a toy source: a map of user IDs to email addresses.
type crm map[string]string

func (crm) Info() gdpr.SourceInfo {
	return gdpr.SourceInfo{Name: "crm", Categories: []string{"contact"}}
}

func (c crm) Export(_ context.Context, _ string, s gdpr.Subject, emit func(any) error) error {
	if email, ok := c[s.Value("user_id")]; ok {
		return emit(map[string]string{"email": email})
	}
	return nil
}

func (c crm) Erase(_ context.Context, _ string, s gdpr.Subject) (gdpr.Erased, error) {
	_, ok := c[s.Value("user_id")]
	delete(c, s.Value("user_id"))
	if ok {
		return gdpr.Erased{Records: 1}, nil
	}
	return gdpr.Erased{}, nil
}

// Answer an access request, then an erasure request.
func Example() {
	ctx := context.Background()
	e, _ := gdpr.New(memstore.New(), gdpr.Options{}, crm{"usr_ada": "ada@example.com"})
	ada := gdpr.Subject{Identities: []gdpr.Identity{{Kind: "user_id", Value: "usr_ada"}}}

	access, _ := e.Submit(ctx, "acme", gdpr.Access, gdpr.GDPR, ada, "web form")
	access, _ = e.Verify(ctx, "acme", access.ID)
	var buf bytes.Buffer
	if err := e.Export(ctx, "acme", access.ID, gdpr.JSON, &buf); err != nil {
		fmt.Println(err)
		return
	}
	var out struct {
		Sources map[string][]map[string]string
	}
	_ = json.Unmarshal(buf.Bytes(), &out)
	fmt.Println(out.Sources["crm"])

	erasure, _ := e.Submit(ctx, "acme", gdpr.Erasure, gdpr.GDPR, ada, "web form")
	erasure, _ = e.Verify(ctx, "acme", erasure.ID)
	erasure, _ = e.Process(ctx, "acme", erasure.ID)
	fmt.Println(erasure.State, erasure.Steps["crm"].Records)
	// Output:
	// [map[email:ada@example.com]]
	// completed 1
}

// Record every change of every request in a hash-chained audit trail,
// with the subject named only by pseudonym.
func ExampleAudit() {
	ctx := context.Background()
	trail, _ := audit.New(auditmem.New(), audit.Options{})
	pseudonymKey := []byte("32 secret bytes, kept apart.....")
	staff := func(r *gdpr.Request) string { return "staff:grace" }
	e, _ := gdpr.New(memstore.New(), gdpr.Options{OnChange: gdpr.Audit(trail, pseudonymKey, staff)},
		crm{"usr_ada": "ada@example.com"})
	ada := gdpr.Subject{Identities: []gdpr.Identity{{Kind: "user_id", Value: "usr_ada"}}}

	r, _ := e.Submit(ctx, "acme", gdpr.Erasure, gdpr.GDPR, ada, "email")
	_, _ = e.Verify(ctx, "acme", r.ID)
	_, _ = e.Process(ctx, "acme", r.ID)

	for rec, err := range trail.Records(ctx, "acme", 0) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(rec.Seq, rec.Actor, rec.Action, rec.Subject == audit.Pseudonym(pseudonymKey, "acme", "usr_ada"))
	}
	report, _ := trail.Verify(ctx, "acme")
	fmt.Println("intact:", report.OK)
	// Output:
	// 1 staff:grace request submitted true
	// 2 staff:grace request verified true
	// 3 staff:grace request completed true
	// intact: true
}

// A legal hold refuses an erasure until it is lifted.
func ExampleEngine_PlaceHold() {
	ctx := context.Background()
	e, _ := gdpr.New(memstore.New(), gdpr.Options{Holds: memstore.New()}, crm{"usr_ada": "ada@example.com"})
	ada := gdpr.Subject{Identities: []gdpr.Identity{{Kind: gdpr.SubjectKey, Value: "usr_ada"}}}
	if _, err := e.PlaceHold(ctx, "acme", "usr_ada", "litigation 2026-17"); err != nil {
		fmt.Println(err)
		return
	}
	r, _ := e.Submit(ctx, "acme", gdpr.Erasure, gdpr.GDPR, ada, "web form")
	r, _ = e.Verify(ctx, "acme", r.ID)
	_, err := e.Process(ctx, "acme", r.ID)
	fmt.Println(err)

	_ = e.ReleaseHold(ctx, "acme", "usr_ada")
	r, _ = e.Process(ctx, "acme", r.ID)
	fmt.Println(r.State)
	// Output:
	// gdpr: data under legal hold: litigation 2026-17
	// completed
}

// The breach register tracks each incident's 72-hour deadline.
func ExampleIncidents() {
	ctx := context.Background()
	detected := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	now := detected.Add(80 * time.Hour)
	reg := gdpr.NewIncidents(gdpr.NewMemoryIncidents(), func() time.Time { return now })
	inc, _ := reg.Open(ctx, "backup bucket readable publicly", detected, 1200, []string{"contact"}, "acme")
	overdue, _ := reg.Overdue(ctx)
	fmt.Println(len(overdue), "overdue, due", overdue[0].NotifyBy.Format(time.RFC3339))
	_, err := reg.Notified(ctx, inc.ID, "")
	fmt.Println(err)
	inc, _ = reg.Notified(ctx, inc.ID, "the logs took two days to analyse")
	fmt.Println(inc.Status)
	// Output:
	// 1 overdue, due 2026-05-07T09:00:00Z
	// gdpr: invalid: notified after the 72-hour deadline: the reasons for the delay are required
	// notified
}
