//go:build !unix

package fsutil

import "os"

// Lock is a no-op where flock is unavailable; run one node per file.
func Lock(*os.File) error { return nil }
