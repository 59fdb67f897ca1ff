package backup_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/tink-crypto/tink-go/v2/testing/fakekms"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/retention"
	skcrypto "github.com/saaskit/saaskit/crypto"
	cryptomem "github.com/saaskit/saaskit/crypto/memstore"
)

// Take two snapshots of a growing ledger: the second stores only what
// changed. Then verify, restore, forget the older one and prune.
func ExampleRepository() {
	uri, _ := fakekms.NewKeyURI()
	root, _ := fakekms.NewAEAD(uri) // in production: a KMS or crypto/localkms
	st := cryptomem.New()
	keys, _ := skcrypto.NewKeyring(root, st, st, skcrypto.Options{})
	b, _ := backup.New(backup.KeyringCipher(keys, "acme"), []backup.Target{backup.NewMemoryTarget("local")}, backup.Options{TenantID: "acme"})

	ctx := context.Background()
	repo, err := b.Repository(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	ledger := strings.Repeat("2026-11-27 invoice paid\n", 100000) // 2.4 MB
	source := func(s string) backup.Source {
		return backup.ReaderSource("ledger", func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(s)), nil
		})
	}
	first, _ := repo.Snapshot(ctx, source(ledger))
	second, _ := repo.Snapshot(ctx, source(ledger+"2026-11-28 invoice 43 paid\n"))
	fmt.Println("second snapshot's parent is the first:", second.Parent == first.ID)
	fmt.Println("stored fewer chunks than it uses:", second.NewChunks < second.Chunks)

	check, err := repo.VerifySnapshots(ctx, 1) // read every pack
	fmt.Println("verify:", err, check.Snapshots, "snapshots")

	var out bytes.Buffer
	_ = repo.RestoreSnapshot(ctx, second.ID, &out)
	fmt.Println("restored:", strings.HasSuffix(out.String(), "invoice 43 paid\n"), out.Len(), "bytes")

	plan, _ := repo.Forget(ctx, retention.Policy{Last: 1}, retention.Options{})
	_, err = repo.Prune(ctx, backup.PruneOptions{})
	fmt.Println("forgot", len(plan.Forget()), "snapshot; prune:", err)
	// Output:
	// second snapshot's parent is the first: true
	// stored fewer chunks than it uses: true
	// verify: <nil> 2 snapshots
	// restored: true 2400027 bytes
	// forgot 1 snapshot; prune: <nil>
}
