package backup_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/backup"
	skcrypto "github.com/saaskit/saaskit/crypto"
	cryptomem "github.com/saaskit/saaskit/crypto/memstore"
)

// Back a stream up to two targets, verify it, and restore it.
func Example() {
	uri, _ := fakekms.NewKeyURI()
	root, _ := fakekms.NewAEAD(uri) // in production: a KMS or crypto/localkms
	st := cryptomem.New()
	keys, _ := skcrypto.NewKeyring(root, st, st, skcrypto.Options{})

	local, offsite := backup.NewMemoryTarget("local"), backup.NewMemoryTarget("offsite")
	b, err := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{local, offsite}, backup.Options{TenantID: "acme"})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	src := backup.ReaderSource("ledger", func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("2026-11-27 invoice 42 paid\n")), nil
	})
	m, err := b.Run(ctx, src)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Source, m.PlainSize, "bytes on", m.Targets)
	fmt.Println("verify:", b.Verify(ctx, m.ID, backup.CheckReadAll))
	var out bytes.Buffer
	_ = b.Restore(ctx, m.ID, &out)
	fmt.Print(out.String())
	// Output:
	// ledger 27 bytes on [local offsite]
	// verify: <nil>
	// 2026-11-27 invoice 42 paid
}
