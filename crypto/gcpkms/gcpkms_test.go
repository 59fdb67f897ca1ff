package gcpkms_test

// These tests run offline: every client gets a loopback gRPC connection
// that is never used, or a REST endpoint on the loopback address, and no
// credentials, so none of them looks up credentials, reaches Google or
// sends a request. Encrypt and Decrypt against Cloud KMS are not tested
// here; they are Tink's code and need a real project.

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/saaskit/saaskit/crypto/gcpkms"
)

const key = "gcp-kms://projects/acme-prod/locations/europe-west1/keyRings/saaskit/cryptoKeys/root"

// offline returns client options that keep a client off the network.
func offline(t *testing.T, rest bool) gcpkms.Options {
	t.Helper()
	if rest {
		return gcpkms.Options{REST: true, ClientOptions: []option.ClientOption{
			option.WithoutAuthentication(), option.WithEndpoint("http://127.0.0.1:1/"),
		}}
	}
	conn, err := grpc.NewClient("passthrough:///127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return gcpkms.Options{ClientOptions: []option.ClientOption{option.WithGRPCConn(conn)}}
}

func TestNewValidatesPrefix(t *testing.T) {
	for _, prefix := range []string{
		"",
		"projects/acme-prod",
		"gcp-kms:/projects/acme-prod",
		"GCP-KMS://projects/acme-prod",
		"gcp-kms://locations/europe-west1",
		"aws-kms://arn:aws:kms:eu-west-1:123456789012:key/k",
		"hcvault://vault.internal:8200/transit/keys/root",
	} {
		t.Run(prefix, func(t *testing.T) {
			_, err := gcpkms.New(context.Background(), prefix, offline(t, true))
			require.ErrorIs(t, err, gcpkms.ErrInvalid)
			assert.Contains(t, err.Error(), "key uri prefix must be")
		})
	}
}

func TestSupportedAndGetAEAD(t *testing.T) {
	for _, rest := range []bool{false, true} {
		name := map[bool]string{false: "grpc", true: "rest"}[rest]
		t.Run(name, func(t *testing.T) {
			c, err := gcpkms.New(context.Background(), "gcp-kms://projects/acme-prod/", offline(t, rest))
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })

			tests := []struct {
				uri       string
				supported bool
				getAEAD   bool
			}{
				{key, true, true},
				{"gcp-kms://projects/acme-prod/locations/global/keyRings/r/cryptoKeys/k", true, true},
				{"gcp-kms://projects/acme-prod/locations/global/keyRings/r", true, false},
				{"gcp-kms://projects/acme-prod/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1", true, false},
				{"gcp-kms://projects/acme-prod/locations/global/keyRings/r/cryptoKeys/", true, false},
				{"gcp-kms://projects/other/locations/global/keyRings/r/cryptoKeys/k", false, false},
				{"aws-kms://arn:aws:kms:eu-west-1:123456789012:key/k", false, false},
				{"", false, false},
			}
			for _, tt := range tests {
				assert.Equal(t, tt.supported, c.Supported(tt.uri), tt.uri)
				a, err := c.GetAEAD(tt.uri) // builds the AEAD; sends nothing
				if tt.getAEAD {
					assert.NoError(t, err, tt.uri)
					assert.NotNil(t, a, tt.uri)
				} else {
					assert.ErrorIs(t, err, gcpkms.ErrInvalid, tt.uri)
				}
			}
		})
	}
}

func TestPrefixForEveryKey(t *testing.T) {
	c, err := gcpkms.New(context.Background(), gcpkms.URIPrefix, offline(t, false))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	assert.True(t, c.Supported(key))
	assert.True(t, c.Supported("gcp-kms://projects/other/locations/global/keyRings/r/cryptoKeys/k"))
	assert.False(t, c.Supported("aws-kms://arn:aws:kms:eu-west-1:123456789012:key/k"))
}
