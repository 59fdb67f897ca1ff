// Package proctest runs the example programs in their tests as their
// users run them: built with go build, started with flags, read line by
// line from their standard output, and stopped with SIGTERM.
package proctest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// builds are the binaries Build made in this test process, by package
// directory, kept in one temporary directory until RemoveBuilds.
var builds struct {
	sync.Mutex
	dir  string
	bins map[string]string
}

// Build builds the main package pkg (a path such as "." or "../saas")
// once per test process and returns the binary's path; later calls for
// the same package return the same binary. A package's TestMain calls
// RemoveBuilds when its tests are done.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	abs, err := filepath.Abs(pkg)
	require.NoError(t, err)
	builds.Lock()
	defer builds.Unlock()
	if bin, ok := builds.bins[abs]; ok {
		return bin
	}
	if builds.dir == "" {
		builds.dir, err = os.MkdirTemp("", "proctest-")
		require.NoError(t, err)
		builds.bins = map[string]string{}
	}
	bin := filepath.Join(builds.dir, filepath.Base(abs))
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, out)
	builds.bins[abs] = bin
	return bin
}

// RemoveBuilds deletes the binaries Build made. Call it from TestMain
// after m.Run.
func RemoveBuilds() {
	builds.Lock()
	defer builds.Unlock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
		builds.dir, builds.bins = "", nil
	}
}

// Proc is a running program whose standard output the test reads.
type Proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  []string
	done chan error
}

// Start runs bin with args and waits for a line of its standard output
// that matches ready, then returns the line's first submatch ("" when
// ready has no group). The program is killed when the test ends, if it
// still runs; a program that exits before it is ready fails the test
// with what it printed.
func Start(t testing.TB, bin string, ready *regexp.Regexp, args ...string) (*Proc, string) {
	t.Helper()
	p := &Proc{cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	p.cmd.Stderr = os.Stderr
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.out = append(p.out, sc.Text())
			p.mu.Unlock()
			if m := ready.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- append(m, "")[1]:
				default:
				}
			}
		}
		p.done <- p.cmd.Wait()
	}()
	select {
	case m := <-found:
		return p, m
	case err := <-p.done:
		t.Fatalf("%s exited before it was ready: %v\n%s", bin, err, strings.Join(p.Lines(), "\n"))
	}
	return nil, ""
}

// Lines returns every line the program has printed so far.
func (p *Proc) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.out...)
}

// Stop sends SIGTERM and fails the test unless the program exits
// cleanly.
func (p *Proc) Stop(t testing.TB) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, <-p.done, "%s did not exit cleanly", p.cmd.Path)
}
