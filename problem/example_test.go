package problem_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/saaskit/saaskit/problem"
)

// An error answered as an RFC 9457 problem, with an extension member.
func ExampleWrite() {
	rec := httptest.NewRecorder()
	problem.Write(rec, problem.Details{Status: http.StatusBadRequest, Detail: "email_address must be a single address",
		Extensions: map[string]any{"field": "email_address"}})
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Print(rec.Body.String())
	// Output:
	// 400 application/problem+json
	// {"detail":"email_address must be a single address","field":"email_address","status":400,"title":"Bad Request","type":"about:blank"}
}
