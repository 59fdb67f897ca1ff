package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/saaskit/saaskit/internal/atomicfile"
)

// Target stores backup objects: the encrypted data of each backup and
// its manifest. Objects are written once and never overwritten.
type Target interface {
	// Name identifies the target in manifests and reports.
	Name() string
	// Put stores the object name with r's content; ErrExists if it is
	// there already. A failed Put leaves no object behind.
	Put(ctx context.Context, name string, r io.Reader) error
	// Get opens an object; ErrNotFound when absent.
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	// List returns the names under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Delete removes an object; no error when absent. A target that
	// never deletes backups returns an error wrapping ErrImmutable,
	// except for Bookkeeping objects.
	Delete(ctx context.Context, name string) error
}

// Errors of targets.
var (
	ErrExists   = errors.New("backup: object exists")
	ErrNotFound = errors.New("backup: not found")
	// ErrImmutable is what an immutable target's Delete wraps: its
	// backups are removed only through another target on the same store
	// (a pruning role) or by the store's own retention. Prune, Forget and
	// Repository.Prune fail with it, naming the target.
	ErrImmutable = errors.New("backup: target is immutable")
)

// Bookkeeping reports whether the object name is one this package
// deletes or replaces in its normal work, not only when pruning: the
// record of a backup's last verification and the locks of a Repository.
// Neither holds backup data. An immutable target still deletes these;
// if it refused, Verify would fail to record its outcome and every
// snapshot would leave its lock behind.
func Bookkeeping(name string) bool {
	return strings.HasPrefix(name, "verified/") || strings.HasPrefix(name, lockPrefix)
}

// MemoryTarget keeps objects in memory, for tests.
type MemoryTarget struct {
	name string
	mu   sync.Mutex
	objs map[string][]byte
}

// NewMemoryTarget returns an empty MemoryTarget.
func NewMemoryTarget(name string) *MemoryTarget {
	return &MemoryTarget{name: name, objs: map[string][]byte{}}
}

// Name implements Target.
func (m *MemoryTarget) Name() string { return m.name }

// Put implements Target.
func (m *MemoryTarget) Put(_ context.Context, name string, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[name]; ok {
		return fmt.Errorf("%s: %w", name, ErrExists)
	}
	m.objs[name] = data
	return nil
}

// Get implements Target.
func (m *MemoryTarget) Get(_ context.Context, name string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.objs[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// List implements Target.
func (m *MemoryTarget) List(_ context.Context, prefix string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.objs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Delete implements Target.
func (m *MemoryTarget) Delete(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, name)
	return nil
}

// Tamper gives tests the stored bytes of an object to modify in place.
func (m *MemoryTarget) Tamper(name string, fn func([]byte) []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[name] = fn(m.objs[name])
}

// DirTarget stores objects as files under a directory. Each Put writes
// a temporary file, syncs it and renames it into place, so a crash never
// leaves a partial object under its real name.
type DirTarget struct {
	dir string
}

// NewDirTarget returns a target under dir, creating it. The directory is
// resolved once to its absolute path with symbolic links followed, so a
// target has one Name however its path was spelled, and a root reached
// through a link is listed like any other.
func NewDirTarget(dir string) (*DirTarget, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup: target directory: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: target directory: %w", err)
	}
	return &DirTarget{dir: abs}, nil
}

// Name implements Target.
func (d *DirTarget) Name() string { return "dir:" + d.dir }

func (d *DirTarget) path(name string) (string, error) {
	if name == "" || strings.Contains(name, "..") || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") {
		return "", fmt.Errorf("backup: object name %q: relative, without '..'", name)
	}
	return filepath.Join(d.dir, filepath.FromSlash(name)), nil
}

// Put implements Target.
func (d *DirTarget) Put(_ context.Context, name string, r io.Reader) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if _, err := os.Stat(p); err == nil {
		return fmt.Errorf("%s: %w", name, ErrExists)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	err = atomicfile.Create(p, func(f *os.File) error {
		_, err := io.Copy(f, r)
		return err
	})
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w", name, ErrExists)
	}
	return err
}

// Get implements Target.
func (d *DirTarget) Get(_ context.Context, name string) (io.ReadCloser, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return f, err
}

// List implements Target. It follows symbolic links to directories,
// the root's included (a directory moved to another disk and linked
// back), so that what Get reads is what List lists; a link that leads
// nowhere, or back up the tree, is an error, never a silent gap in the
// catalog.
func (d *DirTarget) List(_ context.Context, prefix string) ([]string, error) {
	var out []string
	err := d.walk(d.dir, "", nil, func(rel string) {
		if strings.HasPrefix(rel, prefix) {
			out = append(out, rel)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("backup: list %s: %w", d.Name(), err)
	}
	slices.Sort(out)
	return out, nil
}

// walk calls found with the slash-separated name, relative to the
// target, of every object under dir (rel, relative), descending into
// directories and links to them. parents are the directories walked
// through to get here, to refuse a link back to one of them.
func (d *DirTarget) walk(dir, rel string, parents []os.FileInfo, found func(string)) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	for _, p := range parents {
		if os.SameFile(p, fi) {
			return fmt.Errorf("%s: a symbolic link loops back to %s", dir, p.Name())
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	parents = append(parents, fi)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".partial-") {
			continue
		}
		p, name := filepath.Join(dir, e.Name()), path.Join(rel, e.Name())
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 {
			target, err := os.Stat(p)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			isDir = target.IsDir()
		}
		if !isDir {
			found(name)
			continue
		}
		if err := d.walk(p, name, parents, found); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements Target.
func (d *DirTarget) Delete(_ context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
