package flags_test

import (
	"fmt"
	"math"
	"strconv"
	"testing"

	"github.com/saaskit/saaskit/flags"
)

// TestFractionalRolloutIsSticky widens a fractional rollout step by step
// over 20,000 targeting keys: a key that is on stays on as the share
// grows (a rollout never flips users back and forth), and the share of
// keys on is within one percentage point of the rollout's.
func TestFractionalRolloutIsSticky(t *testing.T) {
	const keys = 20000
	var wasOn []bool
	for _, p := range []int{1, 5, 10, 25, 50, 100} {
		doc := fmt.Sprintf(`{"flags": {"rollout": {"state": "ENABLED", "defaultVariant": "off",
			"variants": {"on": true, "off": false},
			"targeting": {"fractional": [["on", %d], ["off", %d]]}}}}`, p, 100-p)
		set, err := flags.Parse([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		ev := flags.NewEvaluator(set, flags.Options{})
		on := make([]bool, keys)
		count := 0
		for i := range keys {
			v, d := ev.Bool("rollout", map[string]any{"targetingKey": "user-" + strconv.Itoa(i)}, false)
			if d.ErrorCode != 0 {
				t.Fatalf("p=%d: %v %s", p, d.ErrorCode, d.ErrorMessage)
			}
			on[i] = v
			if v {
				count++
			}
			if wasOn != nil && wasOn[i] && !v {
				t.Fatalf("user-%d was on at a smaller rollout and is off at %d%%", i, p)
			}
		}
		if share := 100 * float64(count) / keys; math.Abs(share-float64(p)) > 1 {
			t.Errorf("%d%% rollout: %.2f%% of keys are on", p, share)
		}
		wasOn = on
	}
}

// TestFractionalBucketsByCatAsCatPrintsIt: a cat bucketBy hashes the
// string cat gives, trimmed as flagd's engine trims it, so padding the
// key with spaces changes no bucket.
func TestFractionalBucketsByCatAsCatPrintsIt(t *testing.T) {
	const entries = `["a", 1], ["b", 1], ["c", 1], ["d", 1]`
	set, err := flags.Parse([]byte(`{"flags": {
		"plain": {"state": "ENABLED", "variants": {"a": "a", "b": "b", "c": "c", "d": "d"},
			"targeting": {"fractional": [{"var": "id"}, ` + entries + `]}},
		"padded": {"state": "ENABLED", "variants": {"a": "a", "b": "b", "c": "c", "d": "d"},
			"targeting": {"fractional": [{"cat": [" ", {"var": "id"}, " "]}, ` + entries + `]}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	ev := flags.NewEvaluator(set, flags.Options{})
	for i := range 200 {
		ctx := map[string]any{"id": "user-" + strconv.Itoa(i)}
		plain, _ := ev.String("plain", ctx, "")
		padded, _ := ev.String("padded", ctx, "")
		if plain == "" || plain != padded {
			t.Fatalf("user-%d: %q by the key, %q by the padded key", i, plain, padded)
		}
	}
}
