package textfield

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheck(t *testing.T) {
	assert.NoError(t, Check("name", "Ada", 10, true))
	assert.NoError(t, Check("note", "", 10, false))
	assert.ErrorContains(t, Check("name", "", 10, true), "name: must not be empty")
	assert.ErrorContains(t, Check("name", "abcdefghijk", 10, true), "at most 10 bytes, is 11")
	assert.ErrorContains(t, Check("name", "\xff", 10, true), "valid UTF-8")
	assert.ErrorContains(t, Check("name", "a\x00b", 10, true), "NUL")
}

func TestStorable(t *testing.T) {
	assert.True(t, Storable())
	assert.True(t, Storable("acme", "", "żółw", "emoji 🦫"))
	assert.False(t, Storable("acme", "a\x00b"))
	assert.False(t, Storable("\xff"))
	assert.False(t, Storable("ok", "bad \xc3\x28"))
}

func TestStorableValue(t *testing.T) {
	type inner struct {
		Notes map[string]string
		Tags  []string
		Raw   []byte
	}
	type outer struct {
		ID    string
		Inner *inner
		Any   any
		note  string
	}
	assert.True(t, StorableValue(outer{ID: "ok", Inner: &inner{Notes: map[string]string{"a": "b"}, Raw: []byte{0xff, 0}}, note: "\xff"}))
	assert.False(t, StorableValue(outer{ID: "a\x00"}))
	assert.False(t, StorableValue(&outer{Inner: &inner{Tags: []string{"ok", "\xff"}}}))
	assert.False(t, StorableValue(outer{Inner: &inner{Notes: map[string]string{"\xff": "b"}}}))
	assert.False(t, StorableValue(outer{Any: map[string]any{"k": []any{"\xc3\x28"}}}))
}
