//go:build !unix

// Package cputime measures the CPU time of the process; on this platform
// it is not measured.
package cputime

import "time"

// Process returns 0: the CPU time is not measured on this platform.
func Process() time.Duration { return 0 }
