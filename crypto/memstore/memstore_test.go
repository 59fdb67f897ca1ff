package memstore_test

import (
	"testing"

	skcrypto "github.com/saaskit/saaskit/crypto"
	"github.com/saaskit/saaskit/crypto/cryptotest"
	"github.com/saaskit/saaskit/crypto/memstore"
)

func TestConformance(t *testing.T) {
	cryptotest.RunStoreTests(t, func(t *testing.T) (skcrypto.KeyStore, skcrypto.Tombstones) {
		s := memstore.New()
		return s, s
	})
}
