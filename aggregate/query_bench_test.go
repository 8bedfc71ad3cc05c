package aggregate

import (
	"testing"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
)

// BenchmarkQuery measures the plaintext phases of a query at coef13 with
// the test request (2 × 3 columns, correlations, a rate over 3 age bands):
// compiling, laying out both owners' columns for a union of 100 000
// records, drawing one owner's DP noise with crypto/rand, and turning the
// decoded statistics into cells.
func BenchmarkQuery(b *testing.B) { benchQuery(b, testRequest(1<<20, false)) }

// BenchmarkQueryModels is BenchmarkQuery for the models request (two
// regressions, a 3×3 contingency table, a rate over 3 bands of an uploader
// column); it also reports the uploaded wire bytes per union record over
// all columns.
func BenchmarkQueryModels(b *testing.B) { benchQuery(b, modelsRequest(1<<20, false)) }

func benchQuery(b *testing.B, req Request) {
	params := crypto.MustParameters(crypto.PresetCoef13)
	b.Run("Compile/logN=13", func(b *testing.B) {
		for it := 0; it < b.N; it++ {
			if _, err := Compile(params, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	c := mustCompile(b, params, req)
	// Public sizes of the plan, no timing.
	b.Run("Upload/columns", func(b *testing.B) {
		var bytes float64
		for i := range c.circuit.Columns {
			bytes += float64(c.Plan().BlockBytes(i)) / float64(params.N())
		}
		b.ReportMetric(float64(len(c.circuit.Columns)), "columns")
		b.ReportMetric(bytes, "B/record")
	})
	const u = 100_000
	w := newWorld(1, u, false)
	b.Run("EvaluatorColumns/records=100k", func(b *testing.B) {
		for it := 0; it < b.N; it++ {
			if _, err := c.EvaluatorColumns(w.xVals, w.xRows, u); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UploaderColumns/records=100k", func(b *testing.B) {
		for it := 0; it < b.N; it++ {
			if _, err := c.UploaderColumns(w.yVals, w.yRows, u); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("NoisePlaintexts/logN=13", func(b *testing.B) {
		sampler := NoiseSampler(dp.NewSampler(nil))
		for it := 0; it < b.N; it++ {
			if _, err := c.NoisePlaintexts(sampler); err != nil {
				b.Fatal(err)
			}
		}
	})
	mults, cols := w.columns(b, c)
	st := make([]float64, len(c.circuit.Stats))
	for s, v := range uploadtest.ExactStats(c.circuit, mults, cols) {
		st[s] = float64(v)
	}
	b.Run("Results", func(b *testing.B) {
		for it := 0; it < b.N; it++ {
			if _, err := c.Results(st, 2, 10); err != nil {
				b.Fatal(err)
			}
		}
	})
}
