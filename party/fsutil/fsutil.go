package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrLocked is returned by Lock when another process holds the lock.
var ErrLocked = errors.New("fsutil: file is locked by another process")

// SyncDir fsyncs a directory, so that files created or renamed in it
// survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// WriteFile replaces path with data atomically: data goes to a temporary
// file in path's directory with permissions perm (umask does not apply),
// is fsynced, renamed over path, and the directory is fsynced. A crash
// leaves either the old content or the new, never a mix, and a completed
// WriteFile survives it.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, os.Rename)
}

// CreateFile is WriteFile for a file that must not exist yet: it links
// the temporary file to path instead of renaming it, and link, unlike
// rename, fails (errors.Is(err, fs.ErrExist)) when path exists, so two
// processes creating one file can never replace each other's.
func CreateFile(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, os.Link)
}

// write puts a complete, fsynced temporary copy of data in place with
// place and makes the new name durable.
func write(path string, data []byte, perm fs.FileMode, place func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after rename, a no-op; after link, the extra name
	err = fill(tmp, data, perm)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", tmp.Name(), cerr)
	}
	if err != nil {
		return err
	}
	if err := place(tmp.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

func fill(f *os.File, data []byte, perm fs.FileMode) error {
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("chmod %s: %w", f.Name(), err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	return nil
}
