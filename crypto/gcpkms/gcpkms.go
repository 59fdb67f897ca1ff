package gcpkms

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	tinkgcp "github.com/tink-crypto/tink-go-gcpkms/v2/integration/gcpkms"
	"github.com/tink-crypto/tink-go/v2/core/registry"
	"github.com/tink-crypto/tink-go/v2/tink"
	"google.golang.org/api/option"
)

// ErrInvalid: an argument failed validation; the message names it.
var ErrInvalid = errors.New("gcpkms: invalid argument")

// URIPrefix starts every key URI this package supports.
const URIPrefix = "gcp-kms://"

// keyURI is the form GetAEAD accepts: a CryptoKey, not one of its versions.
var keyURI = regexp.MustCompile(`^gcp-kms://projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`)

// Options configure a Client. The zero value is a sensible default.
type Options struct {
	// REST talks to Cloud KMS over HTTP and JSON. Default false: gRPC.
	REST bool
	// ClientOptions configure the Google API client: credentials
	// (option.WithAuthCredentialsFile, option.WithTokenSource, ...), the
	// endpoint, a ready gRPC connection or HTTP client. Default none:
	// Application Default Credentials and the public endpoint.
	ClientOptions []option.ClientOption
}

// Client is a Tink KMS client for keys in Google Cloud KMS. It is safe for
// concurrent use; Close it when done.
type Client struct {
	kms *tinkgcp.Client
}

var _ registry.KMSClient = (*Client)(nil)

// New returns a Client for the key URIs that start with keyURIPrefix:
// "gcp-kms://" (every key the credentials reach) or a prefix of a key's
// URI that starts "gcp-kms://projects/". It finds credentials now but
// sends no request: a missing permission or key shows on first use.
func New(ctx context.Context, keyURIPrefix string, opts Options) (*Client, error) {
	rest, ok := strings.CutPrefix(keyURIPrefix, URIPrefix)
	if !ok || (rest != "" && !strings.HasPrefix(rest, "projects/")) {
		return nil, fmt.Errorf("%w: key uri prefix must be %q or start with %q", ErrInvalid, URIPrefix, URIPrefix+"projects/")
	}
	transport := tinkgcp.TransportGRPC
	if opts.REST {
		transport = tinkgcp.TransportREST
	}
	c, err := tinkgcp.NewClient(ctx, keyURIPrefix,
		tinkgcp.WithTransport(transport), tinkgcp.WithGoogleAPIClientOptions(opts.ClientOptions...))
	if err != nil {
		return nil, fmt.Errorf("gcpkms: new client: %w", err)
	}
	return &Client{kms: c}, nil
}

// Supported reports whether keyURI starts with the client's prefix.
func (c *Client) Supported(keyURI string) bool { return c.kms.Supported(keyURI) }

// GetAEAD returns an AEAD that encrypts and decrypts with the Cloud KMS
// key keyURI names,
// "gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K". Each Encrypt
// and Decrypt is one request to Cloud KMS.
func (c *Client) GetAEAD(uri string) (tink.AEAD, error) {
	if !keyURI.MatchString(uri) {
		return nil, fmt.Errorf("%w: key uri %q must be %sprojects/P/locations/L/keyRings/R/cryptoKeys/K", ErrInvalid, uri, URIPrefix)
	}
	a, err := c.kms.GetAEAD(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: key uri %q: %w", ErrInvalid, uri, err)
	}
	return a, nil
}

// Close releases the client's connections.
func (c *Client) Close() error { return c.kms.Close() }
