package flags_test

import (
	"errors"
	"fmt"

	"github.com/saaskit/saaskit/flags"
)

// Serve one document's flag sets to different audiences: the browser
// gets the frontend set, the server the backend set, each with its own
// "limit" flag.
func ExampleSet_Select() {
	set, err := flags.Parse([]byte(`{"flags": {}, "sets": {
		"frontend": {"flags": {"limit": {"state": "ENABLED", "variants": {"few": 10}, "defaultVariant": "few"}}},
		"backend":  {"flags": {"limit": {"state": "ENABLED", "variants": {"many": 1000}, "defaultVariant": "many"}}}
	}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	front := flags.NewEvaluator(set, flags.Options{Sets: []string{"frontend"}})
	back := flags.NewEvaluator(set, flags.Options{Sets: []string{"backend"}})
	v, d := front.Evaluate("limit", nil)
	fmt.Println(v, d.FlagSet, d.Metadata["flagSetId"])
	v, d = back.Evaluate("limit", nil)
	fmt.Println(v, d.FlagSet)

	_, err = set.Select("frontend", "backend")
	fmt.Println(errors.Is(err, flags.ErrDuplicateKey), err)
	// Output:
	// 10 frontend frontend
	// 1000 backend
	// true flags: one key in two served flag sets: flag "limit" is in set "frontend" and in set "backend"
}
