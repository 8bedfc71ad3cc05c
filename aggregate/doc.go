// Package aggregate turns queries into encrypted circuits and the decrypted
// sufficient statistics back into results: the compact column upload
// (coefficient encoding, seeded share-to-encryption, lossy compression),
// plaintext × ciphertext evaluation with a Trace per statistic, and the
// plaintext post-processing (means, correlations, rates, regressions) the
// querier runs after decryption.
//
// It is a pure library over the crypto package: it never opens a network
// connection and never logs.
package aggregate
