package localkms

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
)

// A file that decrypts but holds keys other than AES-256-GCM, which only
// someone with the passphrase could write, is still refused.
func TestDecodeRefusesOtherKeyTypes(t *testing.T) {
	passphrase := []byte("0123456789abcdef")
	limits := kdfParams{time: maxTime, memory: maxMemory, threads: 255}
	tests := []struct {
		name     string
		template func() *tinkpb.KeyTemplate
		want     string
	}{
		{"aes-128-gcm", func() *tinkpb.KeyTemplate { return aead.AES128GCMKeyTemplate() }, "not 256-bit"},
		{"xchacha20-poly1305", func() *tinkpb.KeyTemplate { return aead.XChaCha20Poly1305KeyTemplate() }, "not AES-GCM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := newFile(passphrase, kdfParams{time: 1, memory: 64, threads: 1})
			require.NoError(t, err)
			f.handle, err = keyset.NewHandle(tt.template())
			require.NoError(t, err)
			data, err := f.encode()
			require.NoError(t, err)
			_, err = decode(data, passphrase, limits)
			require.ErrorIs(t, err, ErrCorrupt)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
