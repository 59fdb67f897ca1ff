package awskms_test

// These tests run offline: clients get static fake credentials or an
// in-process fake KMS, and with the SDK's default client no request is
// ever sent. Encrypt and Decrypt against AWS KMS are not tested here;
// they are Tink's code and need a real account.

import (
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/kms"
	"github.com/aws/aws-sdk-go/service/kms/kmsiface"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/crypto/awskms"
)

const (
	prefix = "aws-kms://arn:aws:kms:eu-west-1:123456789012:"
	key    = "aws-kms://arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

// offlineEnv keeps the SDK's default chain on fake static credentials and
// away from the instance metadata service.
func offlineEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "notARealSecretKeyOnlyForOfflineTests0000")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

func TestNewValidates(t *testing.T) {
	offlineEnv(t)
	tests := []struct {
		name, prefix string
		opts         awskms.Options
		want         string
	}{
		{"empty", "", awskms.Options{}, "key uri prefix"},
		{"scheme only", "aws-kms://", awskms.Options{}, "key uri prefix"},
		{"no region", "aws-kms://arn:aws:kms::123456789012:key/k", awskms.Options{}, "key uri prefix"},
		{"not an arn", "aws-kms://alias/root", awskms.Options{}, "key uri prefix"},
		{"other service", "aws-kms://arn:aws:s3:eu-west-1:123456789012:", awskms.Options{}, "key uri prefix"},
		{"upper-case scheme", "AWS-KMS://arn:aws:kms:eu-west-1:123456789012:", awskms.Options{}, "key uri prefix"},
		{"gcp uri", "gcp-kms://projects/p", awskms.Options{}, "key uri prefix"},
		{"kms and file", prefix, awskms.Options{KMS: &fakeKMS{}, CredentialsFile: "testdata/credentials.csv"}, "not both"},
		{"missing credentials file", prefix, awskms.Options{CredentialsFile: "testdata/absent.csv"}, "cannot open credential path"},
		{"malformed credentials csv", prefix, awskms.Options{CredentialsFile: "testdata/malformed.csv"}, "malformed credential CSV"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := awskms.New(tt.prefix, tt.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			if tt.want == "key uri prefix" || tt.want == "not both" {
				assert.ErrorIs(t, err, awskms.ErrInvalid)
			}
		})
	}
}

func TestSupportedAndGetAEAD(t *testing.T) {
	offlineEnv(t)
	for name, opts := range map[string]awskms.Options{
		"default chain":    {},
		"credentials file": {CredentialsFile: "testdata/credentials.csv"},
		"own kms client":   {KMS: &fakeKMS{}},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := awskms.New(prefix, opts)
			require.NoError(t, err)
			tests := []struct {
				uri       string
				supported bool
				getAEAD   bool
			}{
				{key, true, true},
				{"aws-kms://arn:aws:kms:eu-west-1:123456789012:alias/saaskit-root", true, true},
				{"aws-kms://arn:aws:kms:eu-west-1:123456789012:key/", true, false},
				{"aws-kms://arn:aws:kms:eu-west-1:123456789012:", true, false},
				{"aws-kms://arn:aws:kms:eu-west-1:999999999999:key/k", false, false},
				{"aws-kms://arn:aws:kms:us-east-1:123456789012:key/k", false, false},
				{"gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k", false, false},
				{"", false, false},
			}
			for _, tt := range tests {
				assert.Equal(t, tt.supported, c.Supported(tt.uri), tt.uri)
				a, err := c.GetAEAD(tt.uri) // builds the AEAD; sends nothing
				if tt.getAEAD {
					assert.NoError(t, err, tt.uri)
					assert.NotNil(t, a, tt.uri)
				} else {
					assert.ErrorIs(t, err, awskms.ErrInvalid, tt.uri)
				}
			}
		})
	}
}

// fakeKMS is an in-process stand-in for the SDK's KMS client: it records
// requests and returns a reversible "ciphertext". It checks the adapter's
// wiring, not AWS.
type fakeKMS struct {
	kmsiface.KMSAPI
	keyIDs   []string
	contexts []map[string]*string
}

func (f *fakeKMS) Encrypt(in *kms.EncryptInput) (*kms.EncryptOutput, error) {
	f.keyIDs = append(f.keyIDs, aws.StringValue(in.KeyId))
	f.contexts = append(f.contexts, in.EncryptionContext)
	return &kms.EncryptOutput{CiphertextBlob: append([]byte("ct:"), in.Plaintext...)}, nil
}

func (f *fakeKMS) Decrypt(in *kms.DecryptInput) (*kms.DecryptOutput, error) {
	f.keyIDs = append(f.keyIDs, aws.StringValue(in.KeyId))
	f.contexts = append(f.contexts, in.EncryptionContext)
	if len(in.CiphertextBlob) < 3 {
		return nil, errors.New("InvalidCiphertextException")
	}
	return &kms.DecryptOutput{Plaintext: in.CiphertextBlob[3:]}, nil
}

func TestRequestsCarryKeyAndAssociatedData(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		fake := &fakeKMS{}
		c, err := awskms.New(prefix, awskms.Options{KMS: fake, LegacyAdditionalData: legacy})
		require.NoError(t, err)
		a, err := c.GetAEAD(key)
		require.NoError(t, err)
		ct, err := a.Encrypt([]byte("pt"), []byte("ad"))
		require.NoError(t, err)
		pt, err := a.Decrypt(ct, []byte("ad"))
		require.NoError(t, err)
		assert.Equal(t, "pt", string(pt))

		name := map[bool]string{false: "associatedData", true: "additionalData"}[legacy]
		arn := key[len(awskms.URIPrefix):]
		assert.Equal(t, []string{arn, arn}, fake.keyIDs)
		for _, ec := range fake.contexts {
			require.Contains(t, ec, name)
			assert.Equal(t, hex.EncodeToString([]byte("ad")), aws.StringValue(ec[name]))
		}
	}
}
