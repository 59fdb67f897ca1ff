package blobtarget_test

import (
	"context"
	"fmt"
	"strings"

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
