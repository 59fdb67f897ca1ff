package localkms

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// open reads and decodes the keyset file at path.
func (c *Client) open(path string) (*keysetFile, error) {
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	if err != nil {
		return nil, fmt.Errorf("localkms: open %s: %w", path, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("localkms: open %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s: not a regular file", ErrCorrupt, path)
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("localkms: read %s: %w", path, err)
	}
	f, err := decode(data, c.passphrase, c.limits)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return f, nil
}

// create makes the keyset file at path, or, when another client created
// it first, opens that one.
func (c *Client) create(path string) (*keysetFile, error) {
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%w: directory %s does not exist", ErrNotFound, dir)
	}
	f, err := newFile(c.passphrase, kdfParams{time: c.opts.Time, memory: c.opts.Memory, threads: c.opts.Threads})
	if err != nil {
		return nil, fmt.Errorf("localkms: create %s: %w", path, err)
	}
	data, err := f.encode()
	if err != nil {
		return nil, fmt.Errorf("localkms: create %s: %w", path, err)
	}
	err = writeNew(path, data)
	if errors.Is(err, fs.ErrExist) {
		return c.open(path) // lost a race: use the winner's keyset
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// writeTemp writes data to a new 0600 file in dir and syncs it.
func writeTemp(dir string, data []byte) (string, error) {
	tmp, err := os.CreateTemp(dir, ".localkms-*.tmp")
	if err != nil {
		return "", fmt.Errorf("localkms: write %s: %w", dir, err)
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(name)
		return "", fmt.Errorf("localkms: write %s: %w", name, err)
	}
	return name, nil
}

// writeNew creates path holding data atomically, and never replaces an
// existing file: the hard link fails with fs.ErrExist when path exists.
func writeNew(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := writeTemp(dir, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("localkms: create %s: %w", path, err)
	}
	return syncDir(dir)
}

// replaceFile replaces path with data atomically.
func replaceFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := writeTemp(dir, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("localkms: replace %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("localkms: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("localkms: sync %s: %w", dir, err)
	}
	return nil
}
