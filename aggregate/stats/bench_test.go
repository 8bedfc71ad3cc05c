package stats

import (
	"fmt"
	"testing"
)

// Post-processing runs once per released cell; these benchmarks show it is
// negligible next to the encrypted phases even for wide regressions.
func BenchmarkPostProcess(b *testing.B) {
	x, y := bivariate(newRand(1), 1000, 10, 5, 3, 2, 0.5)
	s := sumsOf(x, y)
	nz := Noise{N: 1, SumX: 10, SumY: 10, SumXX: 100, SumYY: 60, SumXY: 120}
	b.Run("Pearson", func(b *testing.B) {
		for b.Loop() {
			if _, _, _, err := Pearson(s, nz); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, p := range []int{3, 10, 30} {
		beta := make([]float64, p)
		for j := range beta {
			beta[j] = float64(j%3) - 1
		}
		rows, yy := design(newRand(uint64(p)), 2000, beta, 1)
		in := normalEquations(rows, yy, true)
		onz := OLSNoise{XtX: make([][]float64, p), Xty: make([]float64, p)}
		for i := range onz.XtX {
			onz.XtX[i] = make([]float64, p)
			for j := range onz.XtX[i] {
				onz.XtX[i][j] = 10
			}
			onz.Xty[i] = 10
		}
		b.Run(fmt.Sprintf("OLS/p=%d", p), func(b *testing.B) {
			for b.Loop() {
				if _, err := OLS(in, onz); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	table := make([][]float64, 10)
	for i := range table {
		table[i] = make([]float64, 10)
		for j := range table[i] {
			table[i][j] = float64(50 + 7*i + 3*j)
		}
	}
	b.Run("ChiSquare/10x10", func(b *testing.B) {
		for b.Loop() {
			if _, err := ChiSquare(table, 5); err != nil {
				b.Fatal(err)
			}
		}
	})
}
