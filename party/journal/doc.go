// Package journal is the append-only file a node's audit log
// (party/audit) and budget ledger (party/ledger) are written to. It owns
// the file mechanics both need, and nothing of their content:
//
//   - the file is created with 0600 permissions, opened O_APPEND and held
//     under an exclusive lock (party/fsutil), so two node processes never
//     interleave writes to it; creating it fsyncs its directory;
//   - a line is one JSON object carrying its sequence number ("seq", 1 for
//     the first line) and the hex SHA-256 of the previous line's bytes
//     ("prev", 64 zeros for the first), so editing, deleting, inserting or
//     reordering a complete line breaks the chain at a line Open names;
//   - Append writes a whole line with one write and fsyncs it before it
//     returns, so the caller may then act on what the line records; after a
//     failed write or fsync the journal refuses further appends
//     (ErrFailed), since the file's end is unknown;
//   - a crash can therefore only tear the last line of an Append that never
//     returned, and Open drops exactly such a partial line (reported
//     through the logger and TornBytes), never a complete one.
//
// Open replays the file and passes every complete line that chains to a
// check function, where the owner verifies its own format (the audit log's
// signature, the ledger's amounts) and rebuilds its state; check's errors
// are returned unchanged. Replay does the same over a reader for
// verification without opening the file, and Walk reads lines without
// checking the chain.
//
// Removing whole lines from the end leaves a valid chain: the journal
// alone cannot detect it. Its owners compare against a Head recorded
// elsewhere (the ledger against its audit log, the audit log against an
// anchor a verifier kept).
package journal
