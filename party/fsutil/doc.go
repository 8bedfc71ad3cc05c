// Package fsutil holds the file-system primitives a node's files share:
// an exclusive advisory lock, so two node processes can never interleave
// writes to one file (party/journal, under the budget ledger and the audit
// log); the directory fsync that makes a newly created file's name
// durable; and the atomic write of a whole file (WriteFile, CreateFile)
// that keys, certificates and node state are stored with, so a crash
// leaves either the old content or the new.
package fsutil
