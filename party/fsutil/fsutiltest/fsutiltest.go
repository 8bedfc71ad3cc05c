// Package fsutiltest helps tests of files: what the file system forbids,
// and what a command wrote. It is imported by tests only.
package fsutiltest

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// nobody is the user and group the test runs as: Debian's nobody and
// nogroup.
const nobody = "65534"

// RerunAsNobody runs a test of what permission bits forbid as a user
// they apply to, on a machine whose tests run as root (a CI container),
// where they forbid nothing. A test calls it first:
//
//	if fsutiltest.RerunAsNobody(t) {
//		return // it ran as user nobody, and passed
//	}
//
// It reports false for a process that is not root: the caller goes on
// and runs the test itself. As root it runs the test again in a copy of
// the test binary as user nobody (with setpriv, from util-linux), in the
// same directory, fails the test with the child's output if the child
// fails, and reports true. Without setpriv the test is skipped, except
// where CI is set, where it fails.
func RerunAsNobody(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return false
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("running as root without setpriv: this test needs another user (install util-linux)")
		}
		t.Skip("running as root without setpriv to run this test as another user")
	}
	// The go tool builds test binaries in directories only root may
	// enter: copy the binary where nobody may run it.
	dir, err := os.MkdirTemp("", "unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, filepath.Base(os.Args[0]))
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid="+nobody, "--regid="+nobody, "--clear-groups", "--",
		bin, "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "HOME="+dir, "TMPDIR="+os.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s as user nobody: %v\n%s", t.Name(), err, out)
	}
	t.Logf("ran as user nobody:\n%s", out)
	return true
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ReadOnlyDir makes the directory ro in parent with mode 0500 and gives
// the test's cleanup back the permission to remove it.
func ReadOnlyDir(t *testing.T, parent string) string {
	t.Helper()
	ro := filepath.Join(parent, "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(ro, 0o700) })
	return ro
}

// SameFiles fails t for every file of names that differs between the
// directories a and b (two runs that must write the same bytes).
func SameFiles(t testing.TB, a, b string, names ...string) {
	t.Helper()
	for _, n := range names {
		x, err := os.ReadFile(filepath.Join(a, n))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between %s and %s, written by two runs with the same seed", n, a, b)
		}
	}
}
