package party

import (
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/jointly-dev/jointly/party/fsutil"
)

// store is a node's directory of keys and state. Every file is written
// atomically (temporary file, fsync, rename, directory fsync) with 0600
// permissions, so a crash leaves either the old or the new content and
// secret key shares are readable by the node's user only.
type store struct {
	dir string
}

func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("party: data dir: %w", err)
	}
	return &store{dir: dir}, nil
}

func (s *store) path(name string) string { return filepath.Join(s.dir, filepath.FromSlash(name)) }

// write stores data under name atomically with 0600 permissions.
func (s *store) write(name string, data []byte) error {
	p := s.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("party: store %s: %w", name, err)
	}
	if err := fsutil.WriteFile(p, data, 0o600); err != nil {
		return fmt.Errorf("party: store %s: %w", name, err)
	}
	return nil
}

// read returns the content stored under name; errors.Is(err, fs.ErrNotExist)
// when there is none.
func (s *store) read(name string) ([]byte, error) {
	b, err := os.ReadFile(s.path(name))
	if err != nil {
		return nil, fmt.Errorf("party: load %s: %w", name, err)
	}
	return b, nil
}

func (s *store) exists(name string) bool {
	_, err := os.Stat(s.path(name))
	return err == nil
}

func (s *store) writeBinary(name string, v encoding.BinaryMarshaler) error {
	b, err := v.MarshalBinary()
	if err != nil {
		return fmt.Errorf("party: encode %s: %w", name, err)
	}
	return s.write(name, b)
}

func (s *store) readBinary(name string, v encoding.BinaryUnmarshaler) error {
	b, err := s.read(name)
	if err != nil {
		return err
	}
	if err := v.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("party: %s is corrupt: %w", name, err)
	}
	return nil
}

func (s *store) writeJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("party: encode %s: %w", name, err)
	}
	return s.write(name, append(b, '\n'))
}

// readJSON decodes name into v; it reports found=false when the file does not exist.
func (s *store) readJSON(name string, v any) (found bool, err error) {
	b, err := s.read(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return true, fmt.Errorf("party: %s is corrupt: %w", name, err)
	}
	return true, nil
}

func digest(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// remove deletes name; a missing file is not an error.
func (s *store) remove(name string) error {
	if err := os.Remove(s.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("party: remove %s: %w", name, err)
	}
	return nil
}
