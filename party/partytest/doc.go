// Package partytest starts clusters of real Jointly nodes on loopback for
// tests: real gRPC servers on 127.0.0.1:0 with mutual TLS from a throwaway
// federation CA (or plaintext on request), real data directories, and a
// recorder of every message each node sends, for transcript assertions.
//
//	c := partytest.Start(t, 2, partytest.Options{Datasets: ds})
//	res, err := c.Dial(t, 0).LocalSums(ctx, party.LocalSumsRequest{...})
package partytest
