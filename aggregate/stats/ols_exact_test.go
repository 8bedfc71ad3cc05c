package stats

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"testing"

	"github.com/jointly-dev/jointly/aggregate/stats/lstest"
)

// longley is the Longley (1967) data as NIST StRD distributes it: y is
// total derived employment, then GNP deflator ×10 (so every value is an
// integer here), GNP, unemployed, armed forces, population and year.
var longley = [][7]float64{
	{60323, 830, 234289, 2356, 1590, 107608, 1947}, {61122, 885, 259426, 2325, 1456, 108632, 1948},
	{60171, 882, 258054, 3682, 1616, 109773, 1949}, {61187, 895, 284599, 3351, 1650, 110929, 1950},
	{63221, 962, 328975, 2099, 3099, 112075, 1951}, {63639, 981, 346999, 1932, 3594, 113270, 1952},
	{64989, 990, 365385, 1870, 3547, 115094, 1953}, {63761, 1000, 363112, 3578, 3350, 116219, 1954},
	{66019, 1012, 397469, 2904, 3048, 117388, 1955}, {67857, 1046, 419180, 2822, 2857, 118734, 1956},
	{68169, 1084, 442769, 2936, 2798, 120445, 1957}, {66513, 1108, 444546, 4681, 2637, 121950, 1958},
	{68655, 1126, 482704, 3813, 2552, 123366, 1959}, {69564, 1142, 502601, 3931, 2514, 125368, 1960},
	{69331, 1157, 518173, 4806, 2572, 127852, 1961}, {70551, 1169, 554894, 4007, 2827, 130081, 1962},
}

// exactLS is the rational reference fit of y on x (with an intercept when
// the first column is all ones).
func exactLS(t *testing.T, x [][]float64, y []float64) (beta, se []float64, r2 float64) {
	t.Helper()
	rat := func(v float64) *big.Rat { return new(big.Rat).SetFloat64(v) }
	xr, yr := make([][]*big.Rat, len(x)), make([]*big.Rat, len(y))
	intercept := true
	for r := range x {
		for _, v := range x[r] {
			xr[r] = append(xr[r], rat(v))
		}
		yr[r] = rat(y[r])
		intercept = intercept && x[r][0] == 1
	}
	f, err := lstest.Exact(xr, yr, intercept)
	if err != nil {
		t.Fatal(err)
	}
	return f.Beta, f.SE, f.R2
}

// digits returns the number of significant digits got shares with want,
// −log10(|got − want|/|want|), capped at 16 (and 16 for two zeros).
func digits(got, want float64) float64 {
	if got == want {
		return 16
	}
	if want == 0 {
		return math.Min(16, -math.Log10(math.Abs(got)))
	}
	return math.Min(16, -math.Log10(math.Abs(got-want)/math.Abs(want)))
}

// TestOLSLongleyFullPrecision fits the Longley data, whose predictors are
// nearly collinear and far from zero (the uncentred scaled condition number
// is about 2·10⁹), from its exact sums, and asks every coefficient, standard
// error and R² to match the rational least-squares solution to 14
// significant digits; shifting every column by a large offset first (as a
// fixed-point encoding with other bounds would) changes nothing.
func TestOLSLongleyFullPrecision(t *testing.T) {
	for _, shift := range []float64{0, -1e6, 3e5} {
		t.Run(fmt.Sprintf("shift=%g", shift), func(t *testing.T) {
			var x [][]float64
			var y []float64
			for _, row := range longley {
				r := []float64{1}
				for j := 1; j < 7; j++ {
					r = append(r, row[j]+shift)
				}
				x = append(x, r)
				y = append(y, row[0])
			}
			beta, se, r2 := exactLS(t, x, y)
			res, err := OLS(normalEquations(x, y, true), OLSNoise{})
			if err != nil {
				t.Fatal(err)
			}
			for j := range beta {
				if d := digits(res.Coef[j].Value, beta[j]); d < 14 {
					t.Errorf("β%d = %.15g, want %.15g: %.1f digits", j, res.Coef[j].Value, beta[j], d)
				}
				if d := digits(res.Coef[j].SE, se[j]); d < 14 {
					t.Errorf("SE β%d = %.15g, want %.15g: %.1f digits", j, res.Coef[j].SE, se[j], d)
				}
			}
			if d := digits(res.R2, r2); d < 14 {
				t.Errorf("R² = %.15g, want %.15g: %.1f digits", res.R2, r2, d)
			}
			if !(res.Cond > 1e3 && res.Cond < WarnCondition) {
				t.Errorf("centred condition number %g, want about 2·10⁴", res.Cond)
			}
		})
	}
}

// The variance of the fitted value at the origin, by its offset −x̄ from
// the means, is the intercept's, sampling and DP parts alike.
func TestOLSPredictionVariance(t *testing.T) {
	x, y := design(newRand(31), 300, []float64{2, -0.3, 0.7}, 1.5)
	in := normalEquations(x, y, true)
	p := len(in.Xty)
	nz := OLSNoise{XtX: make([][]float64, p), Xty: make([]float64, p)}
	for i := range nz.XtX {
		nz.XtX[i] = make([]float64, p)
		for j := range nz.XtX[i] {
			nz.XtX[i][j] = 3 + float64(i+j)
		}
		nz.Xty[i] = 5
	}
	res, err := OLS(in, nz)
	if err != nil {
		t.Fatal(err)
	}
	d := []float64{-in.XtX[0][1] / in.XtX[0][0], -in.XtX[0][2] / in.XtX[0][0]}
	samp, dp, err := res.PredictionVariance(d)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "sampling variance", samp, sq(res.Coef[0].SamplingSE), 1e-12)
	near(t, "DP variance", dp, sq(res.Coef[0].NoiseSE), 1e-9)
	if _, _, err := res.PredictionVariance([]float64{1}); err == nil {
		t.Error("a prediction at the wrong number of coordinates was accepted")
	}
}

// Far from zero, with a spread a millionth of the mean, the centred sums
// keep r and the variance to many digits where the textbook n·Σx² − (Σx)²
// in float64 loses them.
func TestCentredSumsFarFromZero(t *testing.T) {
	x, y := bivariate(newRand(5), 100, 0, 0, 1, 1, 0.6)
	for i := range x {
		// Quarter units: every sum below is exact in float64.
		x[i] = 1e6 + math.Round(x[i]*4)/4
		y[i] = -2e6 + math.Round(y[i]*4)/4
	}
	s := sumsOf(x, y)
	naive := (s.N*s.SumXY - s.SumX*s.SumY) / math.Sqrt((s.N*s.SumXX-s.SumX*s.SumX)*(s.N*s.SumYY-s.SumY*s.SumY))
	_, vx, r := twoPass(x, y)
	if d := digits(naive, r); d > 8 {
		t.Fatalf("the textbook formula keeps %.1f digits: the test data are too easy", d)
	}
	got, err := PearsonCI(s, Noise{})
	if err != nil {
		t.Fatal(err)
	}
	if d := digits(got.Value, r); d < 14 {
		t.Errorf("r = %.15g, want %.15g: %.1f digits", got.Value, r, d)
	}
	v, err := Variance(s.X(), MomentNoise{})
	if err != nil {
		t.Fatal(err)
	}
	if d := digits(v.Value, vx); d < 14 {
		t.Errorf("variance = %.15g, want %.15g: %.1f digits", v.Value, vx, d)
	}
}

// The exact-input functions agree with the float64 ones on sums float64
// holds exactly, and keep their digits on sums it cannot: values near 2^30
// whose squares sum beyond 2^60.
func TestExactInputs(t *testing.T) {
	x, y := bivariate(newRand(7), 500, 0, 0, 1, 1, -0.4)
	for i := range x {
		x[i], y[i] = math.Round(x[i]*64), math.Round(y[i]*64)
	}
	exact := func(x, y []float64, off int64) ExactSums {
		s := ExactSums{N: big.NewInt(int64(len(x))), SumX: new(big.Int), SumY: new(big.Int), SumXX: new(big.Int), SumYY: new(big.Int), SumXY: new(big.Int)}
		t := new(big.Int)
		for i := range x {
			a, b := big.NewInt(int64(x[i])+off), big.NewInt(int64(y[i])+off)
			s.SumX.Add(s.SumX, a)
			s.SumY.Add(s.SumY, b)
			s.SumXX.Add(s.SumXX, t.Mul(a, a))
			s.SumYY.Add(s.SumYY, t.Mul(b, b))
			s.SumXY.Add(s.SumXY, t.Mul(a, b))
		}
		return s
	}
	_, vx, r := twoPass(x, y)
	for _, off := range []int64{0, 1 << 30} {
		s := exact(x, y, off)
		pe, err := PearsonExact(s)
		if err != nil {
			t.Fatal(err)
		}
		if d := digits(pe.Value, r); d < 14 {
			t.Errorf("offset %d: r = %.15g, want %.15g", off, pe.Value, r)
		}
		ve, err := VarianceExact(s.X())
		if err != nil {
			t.Fatal(err)
		}
		if d := digits(ve.Value, vx); d < 14 {
			t.Errorf("offset %d: variance = %.15g, want %.15g", off, ve.Value, vx)
		}
		me, err := MeanExact(s.X())
		if err != nil {
			t.Fatal(err)
		}
		if off == 0 {
			// The same sums in float64: the same estimates.
			f := sumsOf(x, y)
			pf, _ := PearsonCI(f, Noise{})
			vf, _ := Variance(f.X(), MomentNoise{})
			mf, _ := Mean(f.X(), MomentNoise{})
			for _, p := range [][2]Estimate{{pe, pf}, {ve, vf}, {me, mf}} {
				if digits(p[0].Value, p[1].Value) < 15 || digits(p[0].Lo, p[1].Lo) < 14 || digits(p[0].Hi, p[1].Hi) < 14 {
					t.Errorf("exact %+v, float64 %+v", p[0], p[1])
				}
			}
		}
	}
	// Perfectly correlated integers: r = 1 with no interval to speak of.
	s := exact([]float64{1, 2, 3, 4, 5}, []float64{3, 5, 7, 9, 11}, 0)
	if e, err := PearsonExact(s); err != nil || e.Value != 1 || e.Lo != 1 || e.Hi != 1 {
		t.Errorf("r of a line: %+v, %v", e, err)
	}
	if _, err := PearsonExact(ExactSums{N: big.NewInt(3)}); !errors.Is(err, ErrDimension) {
		t.Errorf("missing sums: %v", err)
	}
}

// OLSExact on Longley's exact sums is OLS on the same sums in float64.
func TestOLSExactLongley(t *testing.T) {
	var x [][]float64
	var y []float64
	in := OLSExactInput{XtX: make([][]*big.Rat, 7), Xty: make([]*big.Rat, 7), Yty: new(big.Rat), Intercept: true}
	for i := range in.XtX {
		in.XtX[i] = make([]*big.Rat, 7)
		for j := range in.XtX[i] {
			in.XtX[i][j] = new(big.Rat)
		}
		in.Xty[i] = new(big.Rat)
	}
	t2 := new(big.Rat)
	for _, row := range longley {
		r := []float64{1}
		r = append(r, row[1:]...)
		x, y = append(x, r), append(y, row[0])
		for i := range r {
			for j := range r {
				in.XtX[i][j].Add(in.XtX[i][j], t2.Mul(ratOf(r[i]), ratOf(r[j])))
			}
			in.Xty[i].Add(in.Xty[i], t2.Mul(ratOf(r[i]), ratOf(row[0])))
		}
		in.Yty.Add(in.Yty, t2.Mul(ratOf(row[0]), ratOf(row[0])))
	}
	got, err := OLSExact(in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := OLS(normalEquations(x, y, true), OLSNoise{})
	if err != nil {
		t.Fatal(err)
	}
	for j := range want.Coef {
		if got.Coef[j] != want.Coef[j] {
			t.Errorf("β%d: exact %+v, float64 %+v", j, got.Coef[j], want.Coef[j])
		}
	}
	if got.R2 != want.R2 || got.Cond != want.Cond {
		t.Errorf("R² %v vs %v, condition %v vs %v", got.R2, want.R2, got.Cond, want.Cond)
	}
	in.XtX[1][2] = big.NewRat(1, 1)
	if _, err := OLSExact(in); !errors.Is(err, ErrDimension) {
		t.Errorf("asymmetric XᵀX: %v", err)
	}
}
