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
