package upload_test

import (
	"context"
	"testing"
	"time"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/internal/cputime"
	"github.com/jointly-dev/jointly/crypto/upload"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
)

// benchRecords is the union size of the benchmarks.
const benchRecords = 1_000_000

type benchSession struct {
	k           *uploadtest.Keys
	plan        *upload.Plan
	mults, cols [][]int64
}

func newBenchSession(b *testing.B) benchSession {
	b.Helper()
	k := uploadtest.KeysFor(b, crypto.PresetCoef13)
	plan := bivariatePlan(b, k, 1<<20) // the default configuration: λ = 40, Lmax = 2^20
	mults, cols := bivariateData(42, benchRecords, overlapRandom, 2000, 50, false)
	return benchSession{k: k, plan: plan, mults: mults, cols: cols}
}

// BenchmarkUpload measures the uploader on one goroutine: Mrec/s counts
// record-columns per second of wall time (each record of each column is one
// unit), Mrec/cpu-s the same per second of process CPU time (robust on a
// shared machine), and B/record/column the wire bytes, headers included.
func BenchmarkUpload(b *testing.B) {
	b.Run("logN=13/records=1M/cols=3/lambda=40", func(b *testing.B) {
		s := newBenchSession(b)
		n := s.k.Params.N()
		nb := s.plan.Blocks(benchRecords)
		var blk upload.Block
		var wire int
		b.ResetTimer()
		cpu0 := cputime.Process()
		for it := 0; it < b.N; it++ {
			// A fresh session per iteration: each (column, block) is
			// encrypted once per seed.
			up := uploadtest.NewUploader(b, s.k, s.plan)
			wire = 0
			for c, col := range s.cols {
				for j := 0; j < nb; j++ {
					if err := up.EncryptBlock(c, j, col[j*n:min((j+1)*n, len(col))], &blk); err != nil {
						b.Fatal(err)
					}
					wire += blk.BinarySize()
				}
			}
		}
		cpu := cputime.Process() - cpu0
		units := float64(benchRecords * len(s.cols))
		b.ReportMetric(float64(wire)/units, "B/record/column")
		b.ReportMetric(units*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mrec/s")
		if cpu > 0 {
			b.ReportMetric(units*float64(b.N)/cpu.Seconds()/1e6, "Mrec/cpu-s")
		}
	})
}

// BenchmarkEvaluate measures the evaluator on one accumulator (one
// goroutine): decoding and completing the 3 uploaded columns and the 7
// products of the 6 bivariate statistics, in block-major order. Mrec/s
// counts union records per second of wall time, Mrec/cpu-s per second of
// process CPU time. Finalize is measured separately.
func BenchmarkEvaluate(b *testing.B) {
	b.Run("logN=13/records=1M/cols=3/stats=6/lambda=40", func(b *testing.B) {
		s := newBenchSession(b)
		blocks := benchBlocks(b, s)
		var cpu time.Duration
		b.ResetTimer()
		for it := 0; it < b.N; it++ {
			b.StopTimer()
			ev := uploadtest.NewEvaluator(b, s.k, s.plan, s.mults)
			acc, err := ev.NewAccumulator()
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			cpu0 := cputime.Process()
			for j := range blocks[0] {
				for c := range blocks {
					if err := acc.Add(blocks[c][j]); err != nil {
						b.Fatal(err)
					}
				}
			}
			cpu += cputime.Process() - cpu0
		}
		b.ReportMetric(float64(benchRecords)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mrec/s")
		if cpu > 0 {
			b.ReportMetric(float64(benchRecords)*float64(b.N)/cpu.Seconds()/1e6, "Mrec/cpu-s")
		}
	})
}

// benchBlocks uploads the session's columns once, per column in block order.
func benchBlocks(b *testing.B, s benchSession) [][]*upload.Block {
	b.Helper()
	up := uploadtest.NewUploader(b, s.k, s.plan)
	nb := s.plan.Blocks(benchRecords)
	out := make([][]*upload.Block, len(s.cols))
	for c := range s.cols {
		out[c] = make([]*upload.Block, nb)
		err := up.Upload(context.Background(), c, s.cols[c], 0, func(blk *upload.Block) error {
			out[c][blk.Index] = blk
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return out
}
