// Package pki is the federation's public-key infrastructure: a federation
// certificate authority (`jointly ca init`), leaf certificates for nodes and
// queriers (`jointly ca issue`), mutual-TLS configurations for the gRPC
// server and client, and the authorization of a peer by the identity in its
// verified certificate.
//
// An identity is a name and a role. The name is the certificate's
// CommonName; the role travels in a URI subject alternative name
// jointly://ROLE/NAME (ROLE is node or querier), so a querier certificate can
// never pass as a node even if the names collide. Every key is Ed25519;
// the node's TLS key also signs its audit log (party/audit), so the node
// certificate is what a customer uses to verify that log.
//
// Files in a PKI directory:
//
//	ca.crt, ca.key       the federation CA (ca.key stays with whoever runs jointly ca)
//	NAME.crt, NAME.key   a node's or querier's certificate and private key
//
// Private keys are written 0600, atomically (temporary file, fsync, link
// into place), and never overwrite an existing file.
//
// Servers use LoadServerTLS and an Authorizer's interceptors; handlers read
// the caller with IdentityFromContext. CheckLoopback guards the plaintext
// development mode.
package pki
