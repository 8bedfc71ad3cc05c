//go:build unix

package fsutil

import "syscall"

// Writable reports whether this process may create entries in the
// directory dir, as access(2) answers it: permission bits, ACLs and a
// read-only mount all count.
func Writable(dir string) bool {
	const wOK, xOK = 0x2, 0x1 // access(2)'s W_OK and X_OK
	return syscall.Access(dir, wOK|xOK) == nil
}
