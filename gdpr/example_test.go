package gdpr_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/saaskit/saaskit/gdpr"
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
	e, _ := gdpr.New(gdpr.NewMemoryStore(), gdpr.Options{}, crm{"usr_ada": "ada@example.com"})
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
