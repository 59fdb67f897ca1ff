package awskms

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go/service/kms/kmsiface"
	tinkaws "github.com/tink-crypto/tink-go-awskms/v2/integration/awskms"
	"github.com/tink-crypto/tink-go/v2/core/registry"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// ErrInvalid: an argument failed validation; the message names it.
var ErrInvalid = errors.New("awskms: invalid argument")

// URIPrefix starts every key URI this package supports.
const URIPrefix = "aws-kms://"

var (
	// prefixURI: an ARN prefix that names the partition and the region.
	prefixURI = regexp.MustCompile(`^aws-kms://arn:aws[a-z0-9-]*:kms:[a-z0-9-]+:`)
	// keyURI: the ARN of a key or an alias.
	keyURI = regexp.MustCompile(`^aws-kms://arn:aws[a-z0-9-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_+=,.@:-]+$`)
)

// Options configure a Client. The zero value is a sensible default.
type Options struct {
	// CredentialsFile is the path of AWS credentials: the CSV the IAM
	// console gives, or an INI shared-credentials file (its "default"
	// profile). Default "": the AWS SDK's default chain (environment,
	// shared config, then the instance or task role).
	CredentialsFile string
	// KMS is a configured AWS SDK for Go (v1) KMS client, for custom
	// endpoints, retries or credentials; its region must be the URIs'.
	// Default nil: one made from the region in the prefix. It excludes
	// CredentialsFile.
	KMS kmsiface.KMSAPI
	// LegacyAdditionalData names the encryption-context entry that holds
	// the associated data "additionalData", as Tink's deprecated
	// constructors did, instead of "associatedData". Set it only to
	// decrypt data wrapped that way. Default false.
	LegacyAdditionalData bool
}

// Client is a Tink KMS client for keys in AWS KMS. It is safe for
// concurrent use.
type Client struct {
	kms registry.KMSClient
}

var _ registry.KMSClient = (*Client)(nil)

// New returns a Client for the key URIs that start with keyURIPrefix,
// "aws-kms://arn:PARTITION:kms:REGION:" followed by any part of the rest
// of a key's ARN. It reads credentials configuration but sends no
// request: missing permissions or keys show on first use.
func New(keyURIPrefix string, opts Options) (*Client, error) {
	if !prefixURI.MatchString(keyURIPrefix) {
		return nil, fmt.Errorf("%w: key uri prefix must start with %q and name the partition and region", ErrInvalid, URIPrefix+"arn:PARTITION:kms:REGION:")
	}
	if opts.KMS != nil && opts.CredentialsFile != "" {
		return nil, fmt.Errorf("%w: options: set KMS or CredentialsFile, not both", ErrInvalid)
	}
	var o []tinkaws.ClientOption
	if opts.KMS != nil {
		o = append(o, tinkaws.WithKMS(opts.KMS))
	}
	if opts.CredentialsFile != "" {
		o = append(o, tinkaws.WithCredentialPath(opts.CredentialsFile))
	}
	if opts.LegacyAdditionalData {
		o = append(o, tinkaws.WithEncryptionContextName(tinkaws.LegacyAdditionalData))
	}
	c, err := tinkaws.NewClientWithOptions(keyURIPrefix, o...)
	if err != nil {
		return nil, fmt.Errorf("awskms: new client: %w", err)
	}
	return &Client{kms: c}, nil
}

// Supported reports whether keyURI starts with the client's prefix.
func (c *Client) Supported(keyURI string) bool { return c.kms.Supported(keyURI) }

// GetAEAD returns an AEAD that encrypts and decrypts with the AWS KMS key
// keyURI names: "aws-kms://" and the ARN of a key
// (arn:aws:kms:REGION:ACCOUNT:key/ID) or an alias
// (arn:aws:kms:REGION:ACCOUNT:alias/NAME). Each Encrypt and Decrypt is one
// request to AWS KMS.
func (c *Client) GetAEAD(uri string) (tink.AEAD, error) {
	if !keyURI.MatchString(uri) {
		return nil, fmt.Errorf("%w: key uri %q must be %sarn:PARTITION:kms:REGION:ACCOUNT:key/ID or :alias/NAME", ErrInvalid, uri, URIPrefix)
	}
	a, err := c.kms.GetAEAD(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: key uri %q: %w", ErrInvalid, uri, err)
	}
	return a, nil
}
