// Package ledger is a node's per-querier privacy-budget ledger: every
// (ε, δ) a querier spends on this node's data is charged here before the
// node releases its decryption share, so the charge survives any crash that
// happens after the release.
//
// The ledger is a journal (party/journal): a locked, append-only file of
// JSON lines, one per charge, each carrying the SHA-256 of the previous
// line so edits are detected on Open. Charge writes and fsyncs its line
// (and the directory when it created the file) before it returns; a crash
// can therefore only tear the last line of a charge that never returned,
// and Open drops exactly such a partial line (reported through the logger
// and TornBytes) without ever refunding a complete one.
//
// A query id is charged once, ever, and each line records the digest of
// the query it admitted: one charge buys one release. A second charge of
// the same id is refused (ErrQueryIDUsed for the same query,
// ErrQueryIDReused for another), so replaying an id never buys another
// release, and a retry after a failure is a new query that pays again.
//
// Removing whole lines from the end of the file (deleting it, truncating
// it, putting back an older copy) leaves a valid chain, so the ledger alone
// cannot detect it. The node therefore records the ledger's head (Head)
// with every charge in its signed audit log and opens the ledger
// WithAnchor the last head recorded there: a ledger behind its audit log
// is refused with ErrRolledBack.
//
// Budgets come from the node's configuration and are passed to Open; they
// are not stored in the file, so raising a querier's budget is a config
// change, and its past spending stays on record. Amounts are accounted in
// integer units of 1e-9 ε and 1e-15 δ, charges rounded up and budgets down,
// so concurrent charges add up exactly and rounding never favours the
// querier.
//
// Composition is basic (ε and δ add up), which is always valid; see
// docs/privacy.md.
package ledger
