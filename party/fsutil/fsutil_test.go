package fsutil

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jointly-dev/jointly/party/fsutil/fsutiltest"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, tc := range []struct {
		data string
		perm fs.FileMode
	}{
		{"first", 0o600},
		{"second, longer content", 0o644},
		{"", 0o600},
	} {
		if err := WriteFile(path, []byte(tc.data), tc.perm); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != tc.data {
			t.Fatalf("read %q, %v; want %q", got, err, tc.data)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != tc.perm {
			t.Errorf("mode %v, want %v", st.Mode().Perm(), tc.perm)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil, 0o600); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}

func TestCreateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.key")
	// Racing creators: exactly one wins, and the file is that one's.
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = CreateFile(path, bytes.Repeat([]byte{byte('a' + i)}, 64), 0o600)
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won < 0:
			won = i
		case err == nil:
			t.Fatalf("creators %d and %d both succeeded", won, i)
		case !errors.Is(err, fs.ErrExist):
			t.Errorf("creator %d: %v, want fs.ErrExist", i, err)
		}
	}
	got, _ := os.ReadFile(path)
	if won < 0 || !bytes.Equal(got, bytes.Repeat([]byte{byte('a' + won)}, 64)) {
		t.Fatalf("winner %d, file %q", won, got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// TestWritable: a directory this process made is writable; a missing one,
// or one without write permission, is not (as root, it runs as nobody).
func TestWritable(t *testing.T) {
	if fsutiltest.RerunAsNobody(t) {
		return // root writes in read-only directories: it ran as nobody
	}
	dir := t.TempDir()
	if !Writable(dir) {
		t.Fatalf("%s is not writable", dir)
	}
	if Writable(filepath.Join(dir, "missing")) {
		t.Fatal("a missing directory is writable")
	}
	if Writable(fsutiltest.ReadOnlyDir(t, dir)) {
		t.Fatal("a read-only directory is writable")
	}
}
