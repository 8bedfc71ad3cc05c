//go:build unix

// Package cputime measures the CPU time of the process, which the
// benchmarks report next to wall time: on a machine shared with other jobs
// it measures the work, where wall time also counts the waiting.
package cputime

import (
	"syscall"
	"time"
)

// Process returns the CPU time (user and system) the process has used, or
// 0 if it cannot be read.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
