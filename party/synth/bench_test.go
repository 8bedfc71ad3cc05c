package synth

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkGen measures jointly gen. The two sides are written
// concurrently; customers/s/side is records per second on each side.
//
//	go test ./party/synth -run '^$' -bench Gen -benchtime 3x
func BenchmarkGen(b *testing.B) {
	const n = 200_000
	for _, format := range []string{FormatCSV, FormatParquet, FormatSQLite} {
		for _, tx := range []bool{false, true} {
			if tx && format != FormatCSV {
				continue
			}
			b.Run(fmt.Sprintf("format=%s/transactions=%v/customers=%d", format, tx, n), func(b *testing.B) {
				dir := b.TempDir()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := Generate(context.Background(), Options{Dir: dir, Customers: n, Overlap: 0.5, Seed: uint64(i), Format: format, Transactions: tx}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "customers/s/side")
			})
		}
	}
}
