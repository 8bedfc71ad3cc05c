package stats

import (
	"errors"
	"math"
	"testing"
)

func TestChiSquareKnownTables(t *testing.T) {
	for _, tc := range []struct {
		name     string
		table    [][]float64
		wantStat float64
		wantDF   int
		wantP    float64
		tol      float64
	}{
		{
			// E = 12, 18, 28, 42: χ² = 4/12 + 4/18 + 4/28 + 4/42.
			name:     "2x2 by hand",
			table:    [][]float64{{10, 20}, {30, 40}},
			wantStat: 4.0/12 + 4.0/18 + 4.0/28 + 4.0/42,
			wantDF:   1,
			wantP:    math.Erfc(math.Sqrt((4.0/12 + 4.0/18 + 4.0/28 + 4.0/42) / 2)),
			tol:      1e-12,
		},
		{
			// Agresti, An Introduction to Categorical Data Analysis (2007),
			// Table 2.5, gender × party identification: X² = 30.07, df = 2.
			name:     "Agresti gender x party",
			table:    [][]float64{{762, 327, 468}, {484, 239, 477}},
			wantStat: 30.07,
			wantDF:   2,
			wantP:    math.Exp(-30.07 / 2),
			tol:      5e-3,
		},
		{
			// Independent margins exactly: statistic 0, p 1.
			name:     "exact independence 3x3",
			table:    [][]float64{{2, 4, 6}, {4, 8, 12}, {6, 12, 18}},
			wantStat: 0,
			wantDF:   4,
			wantP:    1,
			tol:      1e-12,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := ChiSquare(tc.table, 0)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(res.Statistic-tc.wantStat) > tc.tol*math.Max(1, tc.wantStat) || res.DF != tc.wantDF {
				t.Errorf("χ² = %.6g on %d df, want %.6g on %d", res.Statistic, res.DF, tc.wantStat, tc.wantDF)
			}
			if math.Abs(res.P-tc.wantP) > tc.tol*math.Max(tc.wantP, 1e-3) {
				t.Errorf("p = %.6g, want %.6g", res.P, tc.wantP)
			}
			if res.NoiseFactor != 1 || res.AdjustedP != res.P {
				t.Errorf("exact mode: NoiseFactor %g, AdjustedP %g, P %g", res.NoiseFactor, res.AdjustedP, res.P)
			}
		})
	}
}

func TestChiSquareClampAndDrop(t *testing.T) {
	base, err := ChiSquare([][]float64{{30, 0, 12}, {25, 14, 40}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	clamped, err := ChiSquare([][]float64{{30, -4.2, 12}, {25, 14, 40}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if clamped.Statistic != base.Statistic || clamped.Clamped != 1 || base.Clamped != 0 {
		t.Errorf("clamped: %+v, base: %+v", clamped, base)
	}
	// A row and a column whose noisy cells are all ≤ 0 carry no information:
	// they are dropped and the degrees of freedom shrink with them.
	small, err := ChiSquare([][]float64{{30, 12}, {25, 40}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := ChiSquare([][]float64{{30, -1, 12}, {-2, -3, -0.5}, {25, -0.1, 40}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if dropped.DroppedRows != 1 || dropped.DroppedCols != 1 || dropped.DF != 1 ||
		math.Abs(dropped.Statistic-small.Statistic) > 1e-12 || dropped.Clamped != 5 {
		t.Errorf("dropped: %+v, want statistic %g on 1 df", dropped, small.Statistic)
	}
}

func TestChiSquareErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		table [][]float64
		noise float64
		want  error
	}{
		{"one row", [][]float64{{1, 2, 3}}, 0, ErrBadTable},
		{"one column", [][]float64{{1}, {2}}, 0, ErrBadTable},
		{"empty", nil, 0, ErrBadTable},
		{"ragged", [][]float64{{1, 2}, {3}}, 0, ErrBadTable},
		{"one non-empty row", [][]float64{{1, 2}, {-1, 0}}, 0, ErrBadTable},
		{"nan", [][]float64{{1, 2}, {math.NaN(), 3}}, 0, ErrNotFinite},
		{"negative noise", [][]float64{{1, 2}, {3, 4}}, -1, ErrNegativeNoise},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ChiSquare(tc.table, tc.noise); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// Under independence the noisy table must reject at about the nominal 5 %
// with the adjusted p-value, while the plain p-value rejects far too often.
func TestChiSquareNoiseCalibration(t *testing.T) {
	const (
		reps  = 2000
		n     = 1000
		sigma = 10.0
	)
	pr := []float64{0.4, 0.6}
	pc := []float64{0.2, 0.3, 0.5}
	rng := newRand(77)
	var plain, adjusted int
	for rep := 0; rep < reps; rep++ {
		table := [][]float64{make([]float64, 3), make([]float64, 3)}
		for k := 0; k < n; k++ {
			i, j := 0, 0
			if rng.Float64() >= pr[0] {
				i = 1
			}
			for u := rng.Float64(); j < len(pc)-1 && u >= pc[j]; j++ {
				u -= pc[j]
			}
			table[i][j]++
		}
		for i := range table {
			for j := range table[i] {
				table[i][j] += sigma * rng.NormFloat64()
			}
		}
		res, err := ChiSquare(table, sigma)
		if err != nil {
			t.Fatal(err)
		}
		if res.P < 0.05 {
			plain++
		}
		if res.AdjustedP < 0.05 {
			adjusted++
		}
	}
	pRate, aRate := float64(plain)/reps, float64(adjusted)/reps
	t.Logf("rejection rate at 5 %%: plain %.4f, adjusted %.4f", pRate, aRate)
	if aRate < 0.035 || aRate > 0.07 {
		t.Errorf("adjusted rejection rate %.4f, want about 0.05", aRate)
	}
	if pRate < 0.12 {
		t.Errorf("plain rejection rate %.4f: the noise should inflate it well above 0.05", pRate)
	}
}
