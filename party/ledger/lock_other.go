//go:build !unix

package ledger

import "os"

// lockFile is a no-op where flock is unavailable; run one node per ledger.
func lockFile(*os.File) error { return nil }
