// Package atomicfile writes a file so that readers, and a crash, see
// either none of it or all of it: the content goes to a scratch file
// beside the target, which is synced, closed, then linked or renamed to
// the target's name, and the directory is synced so the new name lasts.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Create writes a new file at path with what write puts in it; the file
// must not exist (errors.Is(err, fs.ErrExist) when it does, even if it
// appeared while write ran: two writers cannot both win). A failed
// write leaves nothing behind.
func Create(path string, write func(*os.File) error) error {
	return put(path, write, false)
}

// Replace writes the file at path with what write puts in it,
// replacing any file there at once. A failed write leaves the old file
// as it was.
func Replace(path string, write func(*os.File) error) error {
	return put(path, write, true)
}

func put(path string, write func(*os.File) error, replace bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".partial-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed; the scratch name once linked
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if replace {
		err = os.Rename(tmp.Name(), path)
	} else {
		err = os.Link(tmp.Name(), path) // refuses an existing name
	}
	if err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the directory's entries (a new or renamed file) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
