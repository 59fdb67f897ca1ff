// Package problem writes HTTP error responses as RFC 9457 problem
// details (application/problem+json).
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
	if err != nil { // cannot happen for strings and an int
		http.Error(w, d.Title, d.Status)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(d.Status)
	_, _ = w.Write(append(body, '\n'))
}
