// Package problem writes HTTP error responses as RFC 9457 problem
// details (application/problem+json), as every saaskit handler does, so
// an application's own handlers answer errors in the same shape.
package problem

import (
	"encoding/json"
	"net/http"
)

// Details is an RFC 9457 problem object.
type Details struct {
	Type   string `json:"type"`             // URI naming the problem type; "about:blank" when only the status matters
	Title  string `json:"title"`            // short summary of the type
	Status int    `json:"status"`           // HTTP status code
	Detail string `json:"detail,omitempty"` // what went wrong this time
	// Extensions are extra members (RFC 9457 section 3.2), such as the
	// versions an API supports; they cannot replace the members above.
	Extensions map[string]any `json:"-"`
}

// MarshalJSON writes the members and the extensions in one object.
func (d Details) MarshalJSON() ([]byte, error) {
	type plain Details
	base, err := json.Marshal(plain(d))
	if err != nil || len(d.Extensions) == 0 {
		return base, err
	}
	merged := make(map[string]any, len(d.Extensions)+4)
	for k, v := range d.Extensions {
		merged[k] = v
	}
	var members map[string]any
	if err := json.Unmarshal(base, &members); err != nil {
		return nil, err
	}
	for k, v := range members {
		merged[k] = v
	}
	return json.Marshal(merged)
}

// Write sends d with its status and the problem+json media type. An empty
// Type becomes "about:blank" and an empty Title the status text.
func Write(w http.ResponseWriter, d Details) {
	if d.Type == "" {
		d.Type = "about:blank"
	}
	if d.Title == "" {
		d.Title = http.StatusText(d.Status)
	}
	body, err := json.Marshal(d)
	if err != nil { // only an extension that cannot be encoded
		http.Error(w, d.Title, d.Status)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(d.Status)
	_, _ = w.Write(append(body, '\n'))
}
