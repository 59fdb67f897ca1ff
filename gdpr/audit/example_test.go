package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers driver "sqlite"

	"github.com/saaskit/saaskit/gdpr/audit"
	"github.com/saaskit/saaskit/gdpr/audit/memstore"
	"github.com/saaskit/saaskit/gdpr/audit/sqlstore"
)

// Record a data-subject request from receipt to response, then verify
// the trail.
func Example() {
	ctx := context.Background()
	pseudonymKey := []byte("a secret of 32 random bytes.....")
	clock := func() time.Time { return time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) }
	trail, err := audit.New(memstore.New(), audit.Options{Now: clock})
	if err != nil {
		fmt.Println(err)
		return
	}
	subject := audit.Pseudonym(pseudonymKey, "acme", "ada@example.com")
	received := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	request := audit.Request{ID: "dsr_1", ReceivedAt: received, Kind: "deletion", Channel: "web form"}
	first, _ := trail.Append(ctx, "acme", audit.Record{Actor: "system", Action: "dsr.received", Subject: subject, Request: &request})

	request.RespondedAt, request.Response = clock(), audit.Complied
	second, _ := trail.Append(ctx, "acme", audit.Record{Actor: "staff:42", Action: "dsr.completed", Subject: subject,
		Request: &request, Details: map[string]string{"sources": "crm, billing"}})
	fmt.Println(first.Seq, first.PrevHash == audit.ZeroHash)
	fmt.Println(second.Seq, second.PrevHash == first.Hash)

	report, err := trail.Verify(ctx, "acme")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(report.OK, report.Records)
	// Output:
	// 1 true
	// 2 true
	// true 2
}

// The trail keeps pseudonyms: stable for one key and tenant, unrelated
// across tenants, and no help to anyone without the key.
func ExamplePseudonym() {
	key := []byte("a secret of 32 random bytes.....")
	a := audit.Pseudonym(key, "acme", "ada@example.com")
	fmt.Println(len(a), a == audit.Pseudonym(key, "acme", "ada@example.com"))
	fmt.Println(a == audit.Pseudonym(key, "globex", "ada@example.com"))
	// Output:
	// 64 true
	// false
}

// openTrail returns a trail in a new SQLite database, and the database.
func openTrail(dir string, opts audit.Options) (*audit.Trail, *sql.DB, error) {
	db, err := sql.Open("sqlite", filepath.Join(dir, "audit.db"))
	if err != nil {
		return nil, nil, err
	}
	store, err := sqlstore.New(db)
	if err == nil {
		err = store.Migrate(context.Background())
	}
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	trail, err := audit.New(store, opts)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return trail, db, nil
}

// Someone with access to the database edits a record; Verify finds it.
func ExampleTrail_Verify() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "audit")
	defer os.RemoveAll(dir)
	trail, db, err := openTrail(dir, audit.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	for _, action := range []string{"dsr.received", "dsr.denied", "dsr.appealed"} {
		if _, err := trail.Append(ctx, "acme", audit.Record{Actor: "staff:42", Action: action}); err != nil {
			fmt.Println(err)
			return
		}
	}

	_, _ = db.Exec("UPDATE gdpr_audit SET action = 'dsr.completed' WHERE tenant_id = 'acme' AND seq = 2")

	report, err := trail.Verify(ctx, "acme")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(report.OK, report.Problem, report.BrokenAt, report.LastSeq)
	// Output: false modified 2 1
}

// Cutting records from the end leaves a chain that looks whole; a signed
// checkpoint taken before shows what is missing, and cannot be forged
// without the key.
func ExampleTrail_Checkpoint() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "audit")
	defer os.RemoveAll(dir)
	trail, db, err := openTrail(dir, audit.Options{CheckpointKey: []byte("another secret of 32 bytes......")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	for range 4 {
		if _, err := trail.Append(ctx, "acme", audit.Record{Actor: "system", Action: "retention.swept"}); err != nil {
			fmt.Println(err)
			return
		}
	}
	cp, _ := trail.Checkpoint(ctx, "acme") // kept elsewhere
	fmt.Println(cp.Seq)

	_, _ = db.Exec("DELETE FROM gdpr_audit WHERE tenant_id = 'acme' AND seq >= 3")

	alone, _ := trail.Verify(ctx, "acme")
	fmt.Println(alone.OK)
	report, _ := trail.Verify(ctx, "acme", cp)
	fmt.Println(report.OK, report.Problem, report.BrokenAt)

	forged := cp
	forged.Seq, forged.Hash = alone.LastSeq, alone.LastHash
	_, err = trail.Verify(ctx, "acme", forged)
	fmt.Println(err)
	// Output:
	// 4
	// true
	// false truncated 3
	// checkpoint of tenant acme at seq 2: audit: checkpoint signature does not verify
}
