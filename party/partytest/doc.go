// Package partytest starts clusters of real Jointly nodes on loopback for
// tests: real gRPC servers on 127.0.0.1 with mutual TLS from a throwaway
// federation CA (or plaintext on request), real data directories, and a
// recorder of every message each node sends, for transcript assertions.
// It wraps party/cluster for testing.TB: failures end the test, and the
// nodes and clients are closed by t.Cleanup.
//
//	c := partytest.Start(t, 2, partytest.Options{Datasets: ds})
//	res, err := c.Dial(t, 0).Joint(ctx, party.JointRequest{...})
package partytest
