package hcvault

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/hashicorp/vault/api"
	tinkvault "github.com/tink-crypto/tink-go-hcvault/v2/integration/hcvault"
	"github.com/tink-crypto/tink-go/v2/core/registry"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// ErrInvalid means an argument failed validation; the message names it.
var ErrInvalid = errors.New("hcvault: invalid argument")

// URIPrefix starts every key URI this package supports.
const URIPrefix = "hcvault://"

// Options configure a Client. The zero value is a sensible default.
type Options struct {
	// Address is the Vault server's base URL, such as
	// "https://vault.internal:8200". Default "https://" followed by the
	// host of the key URI prefix.
	Address string
	// Token authenticates to Vault. Default the VAULT_TOKEN environment
	// variable.
	Token string
	// Namespace is the Vault Enterprise namespace. Default the
	// VAULT_NAMESPACE environment variable, else none.
	Namespace string
	// TLSConfig configures TLS to Vault, such as a private root CA.
	// Default the Vault client's (TLS 1.2 or later, system roots, and the
	// VAULT_CACERT family of environment variables). Ignored when
	// HTTPClient is set.
	TLSConfig *tls.Config
	// HTTPClient sends the requests. Default the Vault client's pooled
	// client.
	HTTPClient *http.Client
	// LegacyContext sends associated data in Vault's "context" parameter,
	// as Tink's deprecated hcvault.NewClient did, instead of
	// "associated_data". Set it only to decrypt data wrapped that way.
	// Default false.
	LegacyContext bool
}

// Client is a Tink KMS client for keys in Vault's Transit secrets engine.
// It is safe for concurrent use.
type Client struct {
	kms registry.KMSClient
}

var _ registry.KMSClient = (*Client)(nil)

// New returns a Client for the key URIs that start with keyURIPrefix,
// which has the form "hcvault://HOST[:PORT][/MOUNT/keys/NAME]". It does
// not contact Vault: a wrong address or token shows on first use.
func New(keyURIPrefix string, opts Options) (*Client, error) {
	u, err := url.Parse(keyURIPrefix)
	if err != nil || !strings.HasPrefix(keyURIPrefix, URIPrefix) {
		return nil, fmt.Errorf("%w: key uri prefix must start with %q followed by the vault host", ErrInvalid, URIPrefix)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: key uri prefix must be %sHOST[:PORT][/MOUNT/keys/NAME], with no user, query or fragment", ErrInvalid, URIPrefix)
	}
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("%w: vault environment: %w", ErrInvalid, cfg.Error)
	}
	cfg.Address = "https://" + u.Host
	if opts.Address != "" {
		a, err := url.Parse(opts.Address)
		if err != nil || (a.Scheme != "https" && a.Scheme != "http") || a.Host == "" {
			return nil, fmt.Errorf("%w: options: address must be an http or https url with a host", ErrInvalid)
		}
		cfg.Address = opts.Address
	}
	switch {
	case opts.HTTPClient != nil:
		cfg.HttpClient = opts.HTTPClient
	case opts.TLSConfig != nil:
		if t, ok := cfg.HttpClient.Transport.(*http.Transport); ok {
			t.TLSClientConfig = opts.TLSConfig.Clone()
		}
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: vault client: %w", ErrInvalid, err)
	}
	if opts.Token != "" {
		c.SetToken(opts.Token)
	}
	if opts.Namespace != "" {
		c.SetNamespace(opts.Namespace)
	}
	var aeadOpts []tinkvault.AEADOption
	if opts.LegacyContext {
		aeadOpts = append(aeadOpts, tinkvault.WithLegacyContextParamater())
	}
	kms, err := tinkvault.NewClientWithAEADOptions(keyURIPrefix, c.Logical(), aeadOpts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return &Client{kms: kms}, nil
}

// Supported reports whether keyURI starts with the client's prefix.
func (c *Client) Supported(keyURI string) bool { return c.kms.Supported(keyURI) }

// GetAEAD returns an AEAD that encrypts and decrypts with the Transit key
// keyURI names, "hcvault://HOST[:PORT]/MOUNT/keys/NAME" (MOUNT may hold
// slashes). Each Encrypt and Decrypt is one request to Vault.
func (c *Client) GetAEAD(keyURI string) (tink.AEAD, error) {
	a, err := c.kms.GetAEAD(keyURI)
	if err != nil {
		return nil, fmt.Errorf("%w: key uri %q: %w", ErrInvalid, keyURI, err)
	}
	return a, nil
}
