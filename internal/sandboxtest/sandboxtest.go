// Package sandboxtest helps tests run fixtures inside the stdio sandbox,
// whose user cannot read what `go test` builds in its 0700 work directory.
package sandboxtest

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// User is the sandbox user tests configure. Starting commands as another
// user needs root, which CI has; elsewhere the sandbox refuses to start.
func User() string { return "nobody" }

// fixtureParent holds fixtures outside /tmp, /var/tmp and /dev/shm, which
// sandboxed commands see as private, empty directories of their own.
func fixtureParent() string {
	if os.Geteuid() == 0 {
		return "/var/lib"
	}
	return os.TempDir()
}

// ReadableDir returns a new directory that the sandbox user can enter and
// read (t.TempDir's parents are 0700, and /tmp is private to each
// sandboxed command), removed when the test ends.
func ReadableDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp(fixtureParent(), "tether-fixture-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// CopyExecutable copies the running test binary to where the sandbox user
// can execute it; TestMain calls it once and removes the copy at the end.
func CopyExecutable() (path string, remove func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp(fixtureParent(), "tether-fixture-*")
	if err != nil {
		return "", nil, err
	}
	remove = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, filepath.Base(self))
	if err = os.Chmod(dir, 0o755); err == nil {
		err = copyFile(self, path, 0o755)
	}
	if err != nil {
		remove()
		return "", nil, err
	}
	return path, remove, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Processes counts the host's processes whose command line contains
// marker, this process excluded.
func Processes(marker string) int {
	entries, _ := os.ReadDir("/proc")
	self := strconv.Itoa(os.Getpid())
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil || e.Name() == self {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if bytes.Contains(bytes.ReplaceAll(b, []byte{0}, []byte{' '}), []byte(marker)) {
			n++
		}
	}
	return n
}

// ReadableTree returns dir itself when the sandbox user can read it (every
// ancestor searchable by others, dir readable), else a copy of it in a
// ReadableDir: a checkout under /root is not, and the sandbox must not be
// loosened for tests.
func ReadableTree(t testing.TB, dir string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if worldReadable(abs) && !underPrivateScratch(abs) {
		return abs
	}
	dst := filepath.Join(ReadableDir(t), filepath.Base(abs))
	if out, err := exec.Command("cp", "-a", abs, dst).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v: %s", abs, err, out)
	}
	if out, err := exec.Command("chmod", "-R", "o+rX", dst).CombinedOutput(); err != nil {
		t.Fatalf("chmod %s: %v: %s", dst, err, out)
	}
	return dst
}

// underPrivateScratch reports whether path is somewhere a sandboxed
// command sees an empty directory of its own instead.
func underPrivateScratch(path string) bool {
	for _, d := range []string{"/tmp", "/var/tmp", "/dev/shm"} {
		if path == d || strings.HasPrefix(path, d+"/") {
			return true
		}
	}
	return false
}

func worldReadable(dir string) bool {
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm()&0o005 != 0o005 {
		return false
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if p == filepath.Dir(p) {
			return true
		}
	}
}
