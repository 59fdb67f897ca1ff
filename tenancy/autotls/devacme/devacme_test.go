package devacme_test

import (
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/tenancy/autotls/devacme"
)

func TestStartServesADirectory(t *testing.T) {
	ca, err := devacme.Start(devacme.Options{TLSPort: 8443, HTTPPort: 8080})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ca.Close() })

	iss := ca.Issuer()
	assert.Equal(t, ca.DirectoryURL(), iss.CA)
	assert.Equal(t, 8443, iss.AltTLSALPNPort)
	assert.Equal(t, 8080, iss.AltHTTPPort)
	assert.True(t, iss.Agreed)

	block, _ := pem.Decode(ca.RootPEM())
	require.NotNil(t, block)
	root, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	assert.True(t, root.IsCA)
	assert.Equal(t, ca.RootCert().Raw, root.Raw)
	assert.Zero(t, ca.Orders())
}

func TestStartRejectsBadPorts(t *testing.T) {
	for _, o := range []devacme.Options{{TLSPort: -1}, {HTTPPort: 70000}} {
		_, err := devacme.Start(o)
		assert.ErrorContains(t, err, "is not a port")
	}
}
