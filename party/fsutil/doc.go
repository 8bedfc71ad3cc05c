// Package fsutil holds the file-system primitives the node's append-only
// files share (the budget ledger and the audit log): an exclusive advisory
// lock, so two node processes can never interleave writes to one file, and
// the directory fsync that makes a newly created file's name durable.
package fsutil
