package webhook

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"
)

// EndpointAuth is how an endpoint's receiver authenticates deliveries
// besides their signature: a bearer token or a user name and password
// (HTTP Basic), sent as the Authorization header, and or a TLS client
// certificate (mutual TLS) for an https endpoint. It is sealed at rest
// like the signing secrets.
type EndpointAuth struct {
	Scheme   string `json:"scheme,omitempty"` // "bearer", "basic", or "" for a client certificate alone
	Token    string `json:"token,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// ClientCertificate and ClientKey are the PEM certificate chain and
	// private key deliveries present when the receiver asks for a
	// client certificate. Each endpoint's connections are its own: no
	// other endpoint's delivery reuses a connection made with its
	// certificate. The delivery client must be NewDeliveryClient's.
	ClientCertificate string `json:"client_certificate,omitempty"`
	ClientKey         string `json:"client_key,omitempty"`
}

// Bounds of an endpoint's custom headers.
const (
	maxHeaders     = 20
	maxHeaderBytes = 4 << 10
)

// forbiddenHeaders are names an endpoint's custom headers may not set:
// the transport's, the body's, the signature's (webhook-*), and
// Authorization, which EndpointAuth sets.
var forbiddenHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Content-Type": true, "Content-Encoding": true, "Transfer-Encoding": true,
	"Connection": true, "Keep-Alive": true, "Te": true, "Trailer": true, "Upgrade": true, "Expect": true,
	"User-Agent": true, "Authorization": true, "Cookie": true, "Date": true,
}

// checkHeaders refuses custom headers that are malformed, too many or
// too large, or that would override what a delivery must carry.
func checkHeaders(h map[string]string) error {
	if len(h) > maxHeaders {
		return fmt.Errorf("%w: at most %d custom headers", ErrInvalid, maxHeaders)
	}
	size := 0
	for name, value := range h {
		size += len(name) + len(value)
		canonical := http.CanonicalHeaderKey(name)
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			return fmt.Errorf("%w: header name %q is not a valid HTTP field name", ErrInvalid, name)
		case !httpguts.ValidHeaderFieldValue(value) || !utf8.ValidString(value):
			return fmt.Errorf("%w: header %s: value has characters HTTP does not allow", ErrInvalid, canonical)
		case forbiddenHeaders[canonical], strings.HasPrefix(canonical, "Webhook-"), strings.HasPrefix(canonical, "Proxy-"):
			return fmt.Errorf("%w: header %s is set by the delivery itself (use EndpointSpec.Auth for Authorization)", ErrInvalid, canonical)
		}
	}
	if size > maxHeaderBytes {
		return fmt.Errorf("%w: custom headers are %d bytes, more than %d", ErrInvalid, size, maxHeaderBytes)
	}
	return nil
}

// check reports what is wrong with auth, if anything.
func (a *EndpointAuth) check() error {
	if _, err := a.authorization(); err != nil {
		return err
	}
	_, err := a.certificate()
	return err
}

// certificate parses the client certificate; nil when there is none.
func (a *EndpointAuth) certificate() (*tls.Certificate, error) {
	if a.ClientCertificate == "" && a.ClientKey == "" {
		return nil, nil
	}
	cert, err := tls.X509KeyPair([]byte(a.ClientCertificate), []byte(a.ClientKey))
	if err != nil {
		return nil, fmt.Errorf("%w: client certificate and key: %v", ErrInvalid, err)
	}
	return &cert, nil
}

// authorization is the Authorization header value of auth; "" for a
// client certificate alone.
func (a *EndpointAuth) authorization() (string, error) {
	switch a.Scheme {
	case "":
		if a.ClientCertificate == "" || a.Token != "" || a.Username != "" || a.Password != "" {
			return "", fmt.Errorf("%w: authentication needs a scheme (\"bearer\" or \"basic\") or a client certificate alone", ErrInvalid)
		}
		return "", nil
	case "bearer":
		if a.Token == "" || !httpguts.ValidHeaderFieldValue(a.Token) || a.Username != "" || a.Password != "" {
			return "", fmt.Errorf("%w: bearer authentication takes a token of printable characters, and no user name or password", ErrInvalid)
		}
		return "Bearer " + a.Token, nil
	case "basic":
		if a.Username == "" || strings.Contains(a.Username, ":") || a.Token != "" {
			return "", fmt.Errorf("%w: basic authentication takes a user name without ':' and a password, and no token", ErrInvalid)
		}
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(a.Username+":"+a.Password)), nil
	}
	return "", fmt.Errorf("%w: authentication scheme %q: \"bearer\" or \"basic\"", ErrInvalid, a.Scheme)
}

func authAD(e *Endpoint) []byte { return []byte("saaskit.webhook.auth:" + e.TenantID + ":" + e.ID) }

// sealAuth seals auth for e; nil auth is none.
func (d *Dispatcher) sealAuth(e *Endpoint, auth *EndpointAuth) ([]byte, error) {
	if auth == nil {
		return nil, nil
	}
	plain, err := json.Marshal(auth)
	if err != nil {
		return nil, err
	}
	sealed, err := d.seal(e.TenantID).Encrypt(plain, authAD(e))
	if err != nil {
		return nil, fmt.Errorf("seal endpoint authentication: %w", err)
	}
	return sealed, nil
}

// credentialsOf unseals the endpoint's authentication into an
// Authorization header value ("" for none) and a client certificate
// (nil for none).
func (d *Dispatcher) credentialsOf(e *Endpoint) (string, *tls.Certificate, error) {
	if len(e.Auth) == 0 {
		return "", nil, nil
	}
	plain, err := d.seal(e.TenantID).Decrypt(e.Auth, authAD(e))
	if err != nil {
		return "", nil, fmt.Errorf("unseal authentication of endpoint %s: %w", e.ID, err)
	}
	var auth EndpointAuth
	if err := json.Unmarshal(plain, &auth); err != nil {
		return "", nil, fmt.Errorf("authentication of endpoint %s: %w", e.ID, err)
	}
	authorization, err := auth.authorization()
	if err != nil {
		return "", nil, err
	}
	cert, err := auth.certificate()
	return authorization, cert, err
}
