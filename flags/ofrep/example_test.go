package ofrep_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/saaskit/saaskit/flags"
	"github.com/saaskit/saaskit/flags/ofrep"
)

// Serve the frontend flag set over OFREP and evaluate a flag.
func ExampleNewHandler() {
	set, err := flags.Parse([]byte(`{"flags": {}, "sets": {"frontend": {"flags": {
		"checkout": {"state": "ENABLED", "variants": {"new": "v2", "old": "v1"}, "defaultVariant": "old",
			"targeting": {"if": [{"ends_with": [{"var": "email"}, "@example.com"]}, "new"]}}
	}}}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	ev := flags.NewEvaluator(set, flags.Options{Sets: []string{"frontend"}})
	// Public for the example; a service puts the handler behind
	// tenancy's middleware and authentication instead.
	h := ofrep.NewHandler(ev, ofrep.Options{Public: true})

	body := `{"context": {"targetingKey": "user-1", "email": "ada@example.com"}}`
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ofrep/v1/evaluate/flags/checkout", strings.NewReader(body)))
	fmt.Println(rec.Code, rec.Body.String())
	// Output:
	// 200 {"key":"checkout","value":"v2","reason":"TARGETING_MATCH","variant":"new","metadata":{"flagSetId":"frontend"}}
}
