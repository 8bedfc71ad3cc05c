package benchmarks

import (
	"fmt"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
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
