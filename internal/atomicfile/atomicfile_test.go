package atomicfile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/saaskit/saaskit/internal/atomicfile"
)

func write(s string) func(*os.File) error {
	return func(f *os.File) error {
		_, err := f.WriteString(s)
		return err
	}
}

func TestCreateAndReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	require.NoError(t, atomicfile.Create(path, write("one")))
	assert.ErrorIs(t, atomicfile.Create(path, write("two")), fs.ErrExist, "Create replaced a file")
	got, _ := os.ReadFile(path)
	assert.Equal(t, "one", string(got))

	require.NoError(t, atomicfile.Replace(path, write("three")))
	got, _ = os.ReadFile(path)
	assert.Equal(t, "three", string(got))

	boom := errors.New("boom")
	assert.ErrorIs(t, atomicfile.Replace(path, func(f *os.File) error {
		_, _ = f.WriteString("half")
		return boom
	}), boom)
	got, _ = os.ReadFile(path)
	assert.Equal(t, "three", string(got), "a failed write changed the file")
	assert.ErrorIs(t, atomicfile.Create(filepath.Join(dir, "g"), func(*os.File) error { return boom }), boom)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"f"}, names, "scratch files were left behind")
}
