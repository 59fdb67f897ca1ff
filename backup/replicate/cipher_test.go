package replicate_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"os"

	"github.com/tink-crypto/tink-go/v2/streamingaead/subtle"

	"github.com/saaskit/saaskit/backup"
)

// fileCipher is a backup.Cipher with a key kept in a file, so that the
// crash test's child processes and the test share it: AES-256-GCM-HKDF
// streaming, 1 MiB segments, as KeyringCipher uses.
func fileCipher(path string) (backup.Cipher, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		err = os.WriteFile(path, key, 0o600)
	}
	if err != nil {
		return nil, err
	}
	aead, err := subtle.NewAESGCMHKDF(key, "SHA256", 32, 1<<20, 0)
	if err != nil {
		return nil, err
	}
	return streamCipher{aead}, nil
}

type streamCipher struct{ aead *subtle.AESGCMHKDF }

func (streamCipher) KeyID() string { return "test-file-key" }

func (c streamCipher) EncryptStream(_ context.Context, w io.Writer, ad []byte) (io.WriteCloser, error) {
	return c.aead.NewEncryptingWriter(w, ad)
}

func (c streamCipher) DecryptStream(_ context.Context, r io.Reader, ad []byte) (io.Reader, error) {
	return c.aead.NewDecryptingReader(r, ad)
}

// quiet is a logger for Litestream's routine messages in tests.
var quiet = slog.New(slog.DiscardHandler)
