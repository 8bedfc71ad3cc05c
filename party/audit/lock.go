package audit

import (
	"errors"
	"fmt"
	"os"

	"github.com/jointly-dev/jointly/party/fsutil"
)

// lockFile takes an exclusive advisory lock so two node processes can never
// interleave writes to one file; the lock dies with the process.
func lockFile(f *os.File) error {
	if err := fsutil.Lock(f); err != nil {
		if errors.Is(err, fsutil.ErrLocked) {
			return ErrLocked
		}
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	if err := fsutil.SyncDir(dir); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}
