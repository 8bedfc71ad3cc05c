// Package benchmarks holds Jointly's end-to-end benchmark harness: the
// workloads that exercise several nodes over real loopback gRPC and report
// per-phase wall times and bytes on the wire. Run them with `make bench`;
// the figures they print are the only source for performance claims in the
// documentation.
package benchmarks
