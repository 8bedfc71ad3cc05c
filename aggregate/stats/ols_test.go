package stats

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/jointly-dev/jointly/aggregate/stats/lstest"
)

// design draws n rows of an intercept plus p−1 spend-like columns (positive
// means, correlated with each other) and y = X·beta + N(0, sigma²).
func design(rng *rand.Rand, n int, beta []float64, sigma float64) (x [][]float64, y []float64) {
	p := len(beta)
	x = make([][]float64, n)
	y = make([]float64, n)
	for i := range x {
		x[i] = make([]float64, p)
		x[i][0] = 1
		common := rng.NormFloat64()
		for j := 1; j < p; j++ {
			x[i][j] = 20*float64(j) + 8*(0.5*common+rng.NormFloat64())
		}
		for j := range beta {
			y[i] += beta[j] * x[i][j]
		}
		y[i] += sigma * rng.NormFloat64()
	}
	return x, y
}

func normalEquations(x [][]float64, y []float64, intercept bool) OLSInput {
	p := len(x[0])
	in := OLSInput{N: float64(len(x)), XtX: make([][]float64, p), Xty: make([]float64, p), Intercept: intercept}
	for j := range in.XtX {
		in.XtX[j] = make([]float64, p)
	}
	for i, row := range x {
		for j := range row {
			for k := range row {
				in.XtX[j][k] += row[j] * row[k]
			}
			in.Xty[j] += row[j] * y[i]
		}
		in.Yty += y[i] * y[i]
	}
	return in
}

// householderLS is the float64 QR reference fit: β and the diagonal of
// (XᵀX)⁻¹.
func householderLS(x [][]float64, y []float64) (beta, invDiag []float64) {
	f := lstest.Householder(x, y, false)
	return f.Beta, f.InvDiag
}

func TestOLSMatchesQR(t *testing.T) {
	for _, tc := range []struct {
		n     int
		beta  []float64
		sigma float64
	}{
		{n: 30, beta: []float64{1, 0.5}, sigma: 2},
		{n: 500, beta: []float64{-3, 0.2, 0.05, -0.1}, sigma: 1},
		{n: 5000, beta: []float64{10, 0.01, 0.02, 0.03, 0.04, -0.05, 0.06}, sigma: 0.3},
	} {
		t.Run(fmt.Sprintf("n=%d/p=%d", tc.n, len(tc.beta)), func(t *testing.T) {
			x, y := design(newRand(uint64(tc.n)), tc.n, tc.beta, tc.sigma)
			wantBeta, invDiag := householderLS(x, y)
			n, p := float64(tc.n), float64(len(tc.beta))
			var rss, my, tss float64
			for i := range y {
				my += y[i] / n
			}
			for i, row := range x {
				f := 0.0
				for j := range row {
					f += row[j] * wantBeta[j]
				}
				rss += sq(y[i] - f)
			}
			for i := range y {
				tss += sq(y[i] - my)
			}
			res, err := OLS(normalEquations(x, y, true), OLSNoise{})
			if err != nil {
				t.Fatal(err)
			}
			for j, c := range res.Coef {
				near(t, fmt.Sprintf("β%d", j), c.Value, wantBeta[j], 1e-9)
				near(t, fmt.Sprintf("SE β%d", j), c.SE, math.Sqrt(rss/(n-p)*invDiag[j]), 1e-8)
				if c.NoiseSE != 0 {
					t.Errorf("exact mode NoiseSE β%d = %g", j, c.NoiseSE)
				}
			}
			near(t, "σ̂²", res.Sigma2, rss/(n-p), 1e-8)
			near(t, "R²", res.R2, 1-rss/tss, 1e-9)
			near(t, "df", res.DF, n-p, 0)
			if !(res.Cond >= 1 && res.Cond < 1e4) {
				t.Errorf("condition number %g of a well-posed design", res.Cond)
			}
		})
	}
}

// Simple regression against the textbook formulas: β1 = Sxy/Sxx,
// SE(β1) = √(σ̂²/Sxx), R² = r².
func TestOLSSimpleRegression(t *testing.T) {
	x, y := bivariate(newRand(3), 400, 30, 7, 6, 2, 0.4)
	_, _, r := twoPass(x, y)
	var mx, my, sxx, sxy, syy float64
	for i := range x {
		mx += x[i] / 400
		my += y[i] / 400
	}
	for i := range x {
		sxx += sq(x[i] - mx)
		syy += sq(y[i] - my)
		sxy += (x[i] - mx) * (y[i] - my)
	}
	b1 := sxy / sxx
	s2 := (syy - b1*sxy) / 398
	rows := make([][]float64, len(x))
	for i := range x {
		rows[i] = []float64{1, x[i]}
	}
	res, err := OLS(normalEquations(rows, y, true), OLSNoise{})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "β1", res.Coef[1].Value, b1, 1e-9)
	near(t, "β0", res.Coef[0].Value, my-b1*mx, 1e-9)
	near(t, "SE β1", res.Coef[1].SE, math.Sqrt(s2/sxx), 1e-8)
	near(t, "R²", res.R2, r*r, 1e-9)

	// Through the origin: R² is the uncentred 1 − RSS/yᵀy.
	in := normalEquations(rows, y, false)
	in.XtX = [][]float64{{in.XtX[1][1]}}
	in.Xty = []float64{in.Xty[1]}
	res, err = OLS(in, OLSNoise{})
	if err != nil {
		t.Fatal(err)
	}
	b := in.Xty[0] / in.XtX[0][0]
	near(t, "β through origin", res.Coef[0].Value, b, 1e-12)
	near(t, "uncentred R²", res.R2, b*in.Xty[0]/in.Yty, 1e-9)
}

// Only the upper triangle of XᵀX is read, as documented.
func TestOLSReadsUpperTriangle(t *testing.T) {
	x, y := design(newRand(9), 100, []float64{1, 2, 3}, 1)
	in := normalEquations(x, y, true)
	want, err := OLS(in, OLSNoise{})
	if err != nil {
		t.Fatal(err)
	}
	in.XtX[1][0], in.XtX[2][0], in.XtX[2][1] = -1e9, math.NaN(), 42
	got, err := OLS(in, OLSNoise{})
	if err != nil {
		t.Fatal(err)
	}
	for j := range want.Coef {
		if got.Coef[j] != want.Coef[j] {
			t.Errorf("β%d changed with the lower triangle: %+v vs %+v", j, got.Coef[j], want.Coef[j])
		}
	}
}

// The DP term must equal |∂β_k/∂S|·σ for noise on a single released entry S,
// checked against a numerical derivative (a symmetric bump of XᵀX entries).
func TestOLSNoiseGradientNumerical(t *testing.T) {
	x, y := design(newRand(21), 200, []float64{2, -0.3, 0.7}, 1.5)
	in := normalEquations(x, y, true)
	p := len(in.Xty)
	fit := func(in OLSInput) []float64 {
		res, err := OLS(in, OLSNoise{})
		if err != nil {
			t.Fatal(err)
		}
		b := make([]float64, p)
		for j := range b {
			b[j] = res.Coef[j].Value
		}
		return b
	}
	clone := func() OLSInput {
		c := in
		c.XtX = make([][]float64, p)
		for i := range c.XtX {
			c.XtX[i] = append([]float64(nil), in.XtX[i]...)
		}
		c.Xty = append([]float64(nil), in.Xty...)
		return c
	}
	zeroNoise := func() OLSNoise {
		nz := OLSNoise{XtX: make([][]float64, p), Xty: make([]float64, p)}
		for i := range nz.XtX {
			nz.XtX[i] = make([]float64, p)
		}
		return nz
	}
	check := func(name string, bump func(OLSInput, float64), nz OLSNoise, h float64) {
		t.Run(name, func(t *testing.T) {
			up, dn := clone(), clone()
			bump(up, h)
			bump(dn, -h)
			bu, bd := fit(up), fit(dn)
			res, err := OLS(in, nz)
			if err != nil {
				t.Fatal(err)
			}
			for k := range bu {
				grad := math.Abs(bu[k]-bd[k]) / (2 * h)
				if math.Abs(res.Coef[k].NoiseSE-grad) > 1e-5*grad+1e-15 {
					t.Errorf("β%d: NoiseSE %.10g, numerical |∂β/∂S| %.10g", k, res.Coef[k].NoiseSE, grad)
				}
			}
		})
	}
	for i := 0; i < p; i++ {
		for j := i; j < p; j++ {
			i, j := i, j
			nz := zeroNoise()
			nz.XtX[i][j] = 1
			check(fmt.Sprintf("XtX[%d][%d]", i, j), func(c OLSInput, h float64) { c.XtX[i][j] += h }, nz, 1e-2)
		}
		i := i
		nz := zeroNoise()
		nz.Xty[i] = 1
		check(fmt.Sprintf("Xty[%d]", i), func(c OLSInput, h float64) { c.Xty[i] += h }, nz, 1e-2)
	}
}

// Coverage of the coefficient intervals with symmetric DP noise on XᵀX and
// noise on Xᵀy: about 95 % with the DP term, clearly less without it.
func TestOLSCoverage(t *testing.T) {
	const (
		reps = 2000
		n    = 300
	)
	beta := []float64{1, 0.5, -0.25}
	p := len(beta)
	nz := OLSNoise{XtX: make([][]float64, p), Xty: make([]float64, p)}
	// Noise scales in proportion to each entry's sensitivity, as the
	// release step calibrates them: n (entry 0,0) has sensitivity 1, Σx
	// the bound on x, Σx·x' the product of two bounds.
	for i := range nz.XtX {
		nz.XtX[i] = make([]float64, p)
		for j := i; j < p; j++ {
			switch {
			case i == 0 && j == 0:
				nz.XtX[i][j] = 1
			case i == 0:
				nz.XtX[i][j] = 10
			default:
				nz.XtX[i][j] = 500
			}
		}
		nz.Xty[i] = 10
		if i > 0 {
			nz.Xty[i] = 500
		}
	}
	rng := newRand(8)
	cover := make([]int, p)
	naive := make([]int, p)
	noiseSE := make([]float64, p)
	sampSE := make([]float64, p)
	for rep := 0; rep < reps; rep++ {
		x, y := design(rng, n, beta, 3)
		in := normalEquations(x, y, true)
		for i := 0; i < p; i++ {
			for j := i; j < p; j++ {
				in.XtX[i][j] += nz.XtX[i][j] * rng.NormFloat64()
				in.XtX[j][i] = in.XtX[i][j]
			}
			in.Xty[i] += nz.Xty[i] * rng.NormFloat64()
		}
		res, err := OLS(in, nz)
		if err != nil {
			t.Fatal(err)
		}
		res0, err := OLS(in, OLSNoise{})
		if err != nil {
			t.Fatal(err)
		}
		for j := range beta {
			if res.Coef[j].Lo <= beta[j] && beta[j] <= res.Coef[j].Hi {
				cover[j]++
			}
			noiseSE[j] += res.Coef[j].NoiseSE
			sampSE[j] += res.Coef[j].SamplingSE
			if res0.Coef[j].Lo <= beta[j] && beta[j] <= res0.Coef[j].Hi {
				naive[j]++
			}
		}
	}
	for j := range beta {
		cov, ncov := float64(cover[j])/reps, float64(naive[j])/reps
		t.Logf("β%d coverage with DP term %.3f, without %.3f, mean NoiseSE / mean SamplingSE %.2f", j, cov, ncov, noiseSE[j]/sampSE[j])
		if cov < 0.93 || cov > 0.97 {
			t.Errorf("β%d coverage %.3f, want about 0.95", j, cov)
		}
		if ncov > 0.85 {
			t.Errorf("β%d coverage without the DP term %.3f: the DP term should matter here", j, ncov)
		}
	}
}

func TestOLSErrors(t *testing.T) {
	x, y := design(newRand(4), 50, []float64{1, 2}, 1)
	good := normalEquations(x, y, true)
	dup := make([][]float64, len(x))
	near := make([][]float64, len(x))
	rng := newRand(6)
	for i := range x {
		dup[i] = []float64{1, x[i][1], x[i][1]}
		near[i] = []float64{1, x[i][1], x[i][1] + 1e-5*rng.NormFloat64()}
	}
	for _, tc := range []struct {
		name  string
		in    OLSInput
		noise OLSNoise
		want  error
	}{
		{"duplicate column", normalEquations(dup, y, true), OLSNoise{}, ErrSingular},
		{"nearly duplicate column", normalEquations(near, y, true), OLSNoise{}, ErrIllConditioned},
		{"zero column", OLSInput{N: 10, XtX: [][]float64{{10, 0}, {0, 0}}, Xty: []float64{1, 0}, Yty: 1}, OLSNoise{}, ErrSingular},
		{"no coefficients", OLSInput{N: 10}, OLSNoise{}, ErrDimension},
		{"XtX rows", OLSInput{N: 10, XtX: [][]float64{{1}}, Xty: []float64{1, 2}}, OLSNoise{}, ErrDimension},
		{"XtX ragged", OLSInput{N: 10, XtX: [][]float64{{1, 0}, {0}}, Xty: []float64{1, 2}}, OLSNoise{}, ErrDimension},
		{"noise shape", good, OLSNoise{Xty: []float64{1}}, ErrDimension},
		{"noise XtX shape", good, OLSNoise{XtX: [][]float64{{1, 1}}}, ErrDimension},
		{"negative noise", good, OLSNoise{XtX: [][]float64{{1, -1}, {0, 1}}}, ErrNegativeNoise},
		{"nan", OLSInput{N: 10, XtX: [][]float64{{1, math.NaN()}, {0, 1}}, Xty: []float64{1, 2}}, OLSNoise{}, ErrNotFinite},
		{"nan yty", OLSInput{N: 10, XtX: [][]float64{{1, 0}, {0, 1}}, Xty: []float64{1, 2}, Yty: math.Inf(-1)}, OLSNoise{}, ErrNotFinite},
		{"n <= p", OLSInput{N: 2, XtX: [][]float64{{2, 0}, {0, 1}}, Xty: []float64{1, 2}, Yty: 9}, OLSNoise{}, ErrTooFewObservations},
		{"noisy n negative", OLSInput{N: -3, XtX: [][]float64{{2, 0}, {0, 1}}, Xty: []float64{1, 2}, Yty: 9}, OLSNoise{}, ErrNonPositiveN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := OLS(tc.in, tc.noise); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
