package benchmarks

import (
	"context"
	"fmt"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
)

// BenchmarkSetup measures the federation setup (CKG, two-round RKG and the
// Trace's GKG) between N nodes over real loopback gRPC, and the bytes each
// node sends.
//
//	go test ./benchmarks -run '^$' -bench Setup -benchtime 3x
func BenchmarkSetup(b *testing.B) {
	for _, n := range []int{2, 3} {
		b.Run(fmt.Sprintf("preset=%s/N=%d", crypto.PresetCoef13, n), func(b *testing.B) {
			var sent int
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// The CA, the identities and the configurations are not
				// part of the setup being measured.
				b.StopTimer()
				c := partytest.Configure(b, n, partytest.Options{Preset: crypto.PresetCoef13})
				b.StartTimer()
				for j := range c.Configs {
					c.StartNode(b, j)
				}
				c.WaitSetup(b)
				b.StopTimer()
				for _, r := range c.Transcripts {
					sent += r.Bytes()
				}
				for j := range c.Nodes {
					c.StopNode(b, j)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(sent)/float64(b.N*n)/(1<<20), "MiB-sent/node")
		})
	}
}

// BenchmarkLocalSums measures one join-free query (encrypt, add, re-randomize,
// key-switch to the querier, decrypt) after setup.
//
//	go test ./benchmarks -run '^$' -bench LocalSums -benchtime 20x
func BenchmarkLocalSums(b *testing.B) {
	ds := []party.Dataset{party.MemoryDataset{"x": {1, 2, 3}}, party.MemoryDataset{"x": {4, 5}}}
	c := partytest.Start(b, 2, partytest.Options{Preset: crypto.PresetCoef13, Datasets: ds})
	client := c.Dial(b, 0) // as the cluster's querier, over mutual TLS
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := client.LocalSums(context.Background(), party.LocalSumsRequest{Column: "x", Purpose: "research", Exact: true})
		if err != nil {
			b.Fatal(err)
		}
		if res.Count != 5 || res.Sum != 15 {
			b.Fatalf("got %v, %v", res.Count, res.Sum)
		}
	}
}
