// Package proto holds the jointly.v1 gRPC API (jointly/v1/jointly.proto) and
// the Go code generated from it. Regenerate with `make proto`.
package proto
