// Package ledger is a node's per-querier privacy-budget ledger: every
// (ε, δ) a querier spends on this node's data is charged here before the
// node releases its decryption share, so the charge survives any crash that
// happens after the release.
//
// The ledger is an append-only file of JSON lines, one per charge, each
// carrying the SHA-256 of the previous line so edits are detected on Open.
// Charge writes and fsyncs its line (and the directory when it created the
// file) before it returns; a crash can therefore only tear the last line of
// a charge that never returned, and Open drops exactly such a partial line
// (reported through the logger and TornBytes) without ever refunding a
// complete one. Charges are idempotent per (querier, query id), so a retried
// release does not pay twice.
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
