//go:build unix

package match

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time the process has used; on a machine
// shared with other jobs it measures the work, where wall time also counts
// the waiting.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
