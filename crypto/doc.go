// Package crypto holds Jointly's cryptographic building blocks: the named
// homomorphic-encryption parameter presets, the common reference string that
// all data owners derive from seeds they each contribute, and the multiparty
// key-generation and key-switching protocols (collective public key,
// relinearization key, Galois keys, public-key switch to a querier) built on
// Lattigo's mhe package.
//
// The package is a pure library: no networking and no logging. Every wire
// type has MarshalBinary/UnmarshalBinary; secret key shares have neither a
// wire form nor a log form and are only ever written to the owner's data
// directory with 0600 permissions.
//
// Subpackages: match implements the private matching protocol described
// in match/README.md.
package crypto
