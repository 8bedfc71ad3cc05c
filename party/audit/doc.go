// Package audit is a node's tamper-evident audit log: one signed JSON line
// per event (federation setup, matching, every query received, every policy
// decision, every release, the bounds the node estimated from its data),
// appended and fsynced before the action it
// records takes effect, so the log can never be behind what the node did.
//
// The log is a journal (party/journal): a locked, append-only file in
// which each line carries its sequence number and the hex SHA-256 of the
// previous line's bytes ("prev"; 64 zeros for the first line). An audit
// line adds an Ed25519 signature ("sig") by the node's key over the line
// without its sig field.
// The signed bytes are exactly the line up to the sig field followed by
// "}", so verification never depends on re-encoding JSON the same way.
// Verify names the first line that was modified, deleted, inserted or
// reordered. Deleting lines at the end cannot be seen from the file alone;
// a verifier who saw an earlier head (sequence number and hash, printed by
// `jointly audit verify` and in the transparency report) passes it as an
// anchor to VerifyHead, which then detects the truncation.
//
// The signing key is the node's TLS key from party/pki, so the public key a
// customer verifies with is the node's certificate (`jointly audit verify
// --cert retailer.crt --ca ca.crt`), which in turn chains to the federation
// CA. Open also writes the public key beside the log as LOG.pub (PEM,
// PKIX) for offline checks; that file is a convenience only, since whoever
// can rewrite the log can rewrite a file next to it.
//
// Summarize reads a log into a Transparency report for the owner's
// data-protection officer and its customers: every query, by whom, for
// what purpose, over which of the owner's columns, at what privacy cost
// and when, what happened to it (refusal and abort reasons in plain
// words), and each requester's budget spent and, given the budgets
// (ReportOptions), left. WriteHTML renders it as a self-contained page,
// WriteJSON as the same content for programs; Report is both steps for
// HTML without budgets.
package audit
