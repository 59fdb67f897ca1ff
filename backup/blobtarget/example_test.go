package blobtarget_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/saaskit/saaskit/backup"
	"github.com/saaskit/saaskit/backup/blobtarget"
)

// Open a bucket by URL; mem:// needs no cloud account.
func ExampleOpen() {
	ctx := context.Background()
	t, err := blobtarget.Open(ctx, "mem://")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer t.Close()
	_ = t.Put(ctx, "manifests/demo.json", strings.NewReader("{}"))
	names, _ := t.List(ctx, "manifests/")
	fmt.Println(names)
	// Output: [manifests/demo.json]
}

// The writer role opens its bucket immutable: it writes and reads
// backups but refuses to delete them, so a Prune through it fails
// instead of pretending. The prune job opens the same bucket without
// Immutable, with credentials of its own.
func ExampleOpenWith_immutable() {
	ctx := context.Background()
	t, err := blobtarget.OpenWith(ctx, "mem://", blobtarget.Options{Immutable: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer t.Close()
	_ = t.Put(ctx, "manifests/demo.json", strings.NewReader("{}"))
	err = t.Delete(ctx, "manifests/demo.json")
	fmt.Println(errors.Is(err, backup.ErrImmutable), err)
	err = t.Put(ctx, "manifests/demo.json", strings.NewReader("{}"))
	fmt.Println(errors.Is(err, backup.ErrExists))
	names, _ := t.List(ctx, "manifests/")
	fmt.Println(names)
	// Output:
	// true manifests/demo.json: backup: target is immutable
	// true
	// [manifests/demo.json]
}
