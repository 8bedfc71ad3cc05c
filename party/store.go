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
	"github.com/jointly-dev/jointly/party/pki"
)

// store is a node's directory of keys and state. Every file is written
// atomically (temporary file, fsync, rename, directory fsync) with 0600
// permissions, so a crash leaves either the old or the new content and
// secret key shares are readable by the node's user only.
type store struct {
	dir string
}

// openStore creates the node's data_dir if it is missing and checks that
// the node can write there, before the node writes anything: a directory
// it cannot use is a configuration error naming data_dir, rather than the
// failure of whichever file the node happens to write first.
func openStore(cfg *Config) (*store, error) {
	if err := cfg.checkDataDir(true); err != nil {
		return nil, err
	}
	return &store{dir: cfg.DataDir}, nil
}

// CheckDirs checks, without creating anything, the directories the
// configuration names: tls_dir, if set, must be a directory, and data_dir
// a directory the node can write in, or one it can create. A node makes
// the same checks (creating data_dir) before it writes anything; `jointly
// validate` calls this. Validate does not: a configuration is checked
// there on its own, wherever its files are.
func (c *Config) CheckDirs() error {
	if err := c.checkTLSDir(); err != nil {
		return err
	}
	return c.checkDataDir(false)
}

// checkTLSDir reports a tls_dir that is not a directory, saying how to
// write one, rather than the first file of it the node fails to read.
func (c *Config) checkTLSDir() error {
	if c.TLSDir == "" {
		return nil
	}
	issue := fmt.Sprintf("jointly ca issue --ca CA_DIR --name %s --role node --out %s writes it", c.Name, c.TLSDir)
	fi, err := os.Stat(c.TLSDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c.errorf(c.body, "tls_dir", "%q does not exist (%s)", c.TLSDir, issue)
	case err != nil:
		return c.errorf(c.body, "tls_dir", "cannot read %q: %v", c.TLSDir, pathReason(err))
	case !fi.IsDir():
		return c.errorf(c.body, "tls_dir", "%q is not a directory (%s)", c.TLSDir, issue)
	}
	// An expired certificate or CA, or one that does not load, stops the
	// node before it writes anything.
	if _, err := pki.LoadServerTLS(c.TLSDir, c.Name); err != nil {
		return fmt.Errorf("party: tls_dir: %w", err)
	}
	return nil
}

// checkDataDir checks that the node can write in data_dir. If data_dir
// is missing, its nearest existing parent must be a directory the node
// can write in; with create, data_dir is then created. An existing
// data_dir is checked by creating and removing a file in it, which
// answers for every reason a write could fail (permissions, ACLs, a
// read-only mount).
func (c *Config) checkDataDir(create bool) error {
	dir := c.DataDir
	const fix = "give the node's user permission to write there, or set data_dir to another directory"
	fi, err := os.Stat(dir)
	if err == nil && !fi.IsDir() {
		return c.errorf(c.body, "data_dir", "%q is a file, not a directory: set data_dir to a directory", dir)
	}
	if err != nil {
		parent, pfi := nearestExisting(dir)
		switch {
		case pfi == nil:
			return c.errorf(c.body, "data_dir", "cannot create %q: %v: %s", dir, pathReason(err), fix)
		case !pfi.IsDir():
			return c.errorf(c.body, "data_dir", "cannot create %q: %q is a file, not a directory: set data_dir to a path without a file in the way", dir, parent)
		case !create:
			if !fsutil.Writable(parent) {
				return c.errorf(c.body, "data_dir", "cannot create %q: %q is not writable: %s", dir, parent, fix)
			}
			return nil
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return c.errorf(c.body, "data_dir", "cannot create %q: %v: %s", dir, err, fix)
		}
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return c.errorf(c.body, "data_dir", "cannot write in %q: %v: %s", dir, pathReason(err), fix)
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return c.errorf(c.body, "data_dir", "cannot write in %q: %v: %s", dir, pathReason(err), fix)
	}
	return nil
}

// nearestExisting returns the closest of dir's ancestors that exists, and
// its FileInfo; nil when none can be read.
func nearestExisting(dir string) (string, fs.FileInfo) {
	p := filepath.Clean(dir)
	for {
		parent := filepath.Dir(p)
		if parent == p {
			return "", nil
		}
		p = parent
		if fi, err := os.Stat(p); err == nil {
			return p, fi
		}
	}
}

// pathReason is the operating system's reason in a *fs.PathError, without
// the operation and path it repeats (the message names the path itself).
func pathReason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
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
