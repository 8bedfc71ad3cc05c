package stats

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzPearson: whatever noisy sums arrive, Pearson never panics, and when it
// succeeds r is in [−1, 1] and inside its own interval.
func FuzzPearson(f *testing.F) {
	f.Add(100.0, 0.0, 0.0, 100.0, 100.0, 50.0, 1.0)
	f.Add(50.0, 3.0, -2.0, 50.0, 50.0, 52.0, 3.0)
	f.Add(4.0, 1e300, 1e300, 1e300, 1e300, 1e300, 0.0)
	f.Add(-1.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0)
	f.Fuzz(func(t *testing.T, n, sx, sy, sxx, syy, sxy, sigma float64) {
		s := Sums{N: n, SumX: sx, SumY: sy, SumXX: sxx, SumYY: syy, SumXY: sxy}
		nz := Noise{N: sigma, SumX: sigma, SumY: sigma, SumXX: sigma, SumYY: sigma, SumXY: sigma}
		r, lo, hi, err := Pearson(s, nz)
		if err != nil {
			return
		}
		if !(r >= -1 && r <= 1) {
			t.Fatalf("r = %g outside [-1, 1]", r)
		}
		if !(lo <= r && r <= hi) {
			t.Fatalf("r = %g outside its interval [%g, %g]", r, lo, hi)
		}
	})
}

// FuzzChiSquare: arbitrary tables (decoded from bytes as r, c and cells)
// never panic and, when accepted, give a p-value in [0, 1].
func FuzzChiSquare(f *testing.F) {
	f.Add([]byte{2, 2, 10, 20, 30, 40}, 0.0)
	f.Add([]byte{3, 2, 0, 0, 5, 0, 0, 9}, 2.5)
	f.Fuzz(func(t *testing.T, data []byte, sigma float64) {
		if len(data) < 2 {
			return
		}
		r, c := int(data[0]%8), int(data[1]%8)
		data = data[2:]
		table := make([][]float64, r)
		for i := range table {
			table[i] = make([]float64, c)
			for j := range table[i] {
				if len(data) >= 4 {
					table[i][j] = float64(int32(binary.LittleEndian.Uint32(data)))
					data = data[4:]
				}
			}
		}
		res, err := ChiSquare(table, sigma)
		if err != nil {
			return
		}
		if !(res.P >= 0 && res.P <= 1) || !(res.AdjustedP >= 0 && res.AdjustedP <= 1) {
			t.Fatalf("p-values %g, %g outside [0, 1] for %+v", res.P, res.AdjustedP, res)
		}
		if res.DF < 1 || res.Statistic < 0 {
			t.Fatalf("df %d, statistic %g", res.DF, res.Statistic)
		}
	})
}

// FuzzOLS: arbitrary 2-coefficient normal equations never panic and, when
// accepted, give finite coefficients inside their own intervals.
func FuzzOLS(f *testing.F) {
	f.Add(100.0, 100.0, 2000.0, 50000.0, 300.0, 7000.0, 4000.0, 1.0)
	f.Add(3.0, 3.0, 3.0, 3.0, 1.0, 1.0, 1.0, 0.0)
	f.Fuzz(func(t *testing.T, n, a00, a01, a11, b0, b1, yty, sigma float64) {
		in := OLSInput{N: n, XtX: [][]float64{{a00, a01}, {a01, a11}}, Xty: []float64{b0, b1}, Yty: yty, Intercept: true}
		nz := OLSNoise{XtX: [][]float64{{sigma, sigma}, {sigma, sigma}}, Xty: []float64{sigma, sigma}}
		res, err := OLS(in, nz)
		if err != nil {
			return
		}
		for j, c := range res.Coef {
			if math.IsNaN(c.Value) || math.IsInf(c.Value, 0) {
				t.Fatalf("β%d = %g", j, c.Value)
			}
			if !(c.Lo <= c.Value && c.Value <= c.Hi) {
				t.Fatalf("β%d = %g outside [%g, %g]", j, c.Value, c.Lo, c.Hi)
			}
		}
		if !(res.R2 >= 0 && res.R2 <= 1) {
			t.Fatalf("R² = %g", res.R2)
		}
	})
}
