package webhook

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzEndpointHeaders: what a tenant gives as custom headers or
// authentication is refused with ErrInvalid or accepted as values that
// cannot split a request, never a panic.
func FuzzEndpointHeaders(f *testing.F) {
	f.Add("X-Team", "billing", "bearer", "tok", "", "")
	f.Add("Host", "evil", "basic", "", "user", "pw")
	f.Add("X-A", "a\r\nB: c", "basic", "", "a:b", "")
	f.Add("webhook-id", "x", "digest", "t", "", "")
	f.Fuzz(func(t *testing.T, name, value, scheme, token, user, password string) {
		err := checkHeaders(map[string]string{name: value})
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("header error without ErrInvalid: %v", err)
		}
		if err == nil {
			h := http.Header{}
			h.Set(name, value)
			if strings.ContainsAny(value, "\r\n\x00") || forbiddenHeaders[http.CanonicalHeaderKey(name)] {
				t.Fatalf("accepted header %q: %q", name, value)
			}
		}
		a := EndpointAuth{Scheme: scheme, Token: token, Username: user, Password: password}
		v, err := a.authorization()
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("auth error without ErrInvalid: %v", err)
		}
		if err == nil && strings.ContainsAny(v, "\r\n\x00") {
			t.Fatalf("authorization %q can split a request", v)
		}
	})
}
