package memstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/saaskit/saaskit/versioning"
	"github.com/saaskit/saaskit/versioning/memstore"
)

// Pin a tenant to a version; a tenant without a pin gets ErrNoPin.
func Example() {
	ctx := context.Background()
	pins := memstore.NewPins()
	_ = pins.SetPin(ctx, "acme", "2024-06-01")
	v, _ := pins.Pin(ctx, "acme")
	fmt.Println(v)
	_, err := pins.Pin(ctx, "globex")
	fmt.Println(errors.Is(err, versioning.ErrNoPin))
	// Output:
	// 2024-06-01
	// true
}
