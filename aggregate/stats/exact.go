package stats

import (
	"fmt"
	"math"
	"math/big"
)

// Exact mode releases the sufficient statistics as exact integers, which
// float64 would round above 2^53. The functions here take them as they are:
// every centred sum (n·Σx² − (Σx)², n·Σxy − ΣxΣy) is computed exactly in
// integers and rounded once, so the estimates are good to a few ulps
// whatever the size of the sums or the distance of the data from zero. There
// is no noise, and the intervals are the sampling intervals of the
// functions they mirror.

// ExactMoments are Moments known exactly.
type ExactMoments struct {
	N, Sum, SumSq *big.Int
}

// ExactSums are Sums known exactly.
type ExactSums struct {
	N, SumX, SumY, SumXX, SumYY, SumXY *big.Int
}

// X returns the moments of the first variable.
func (s ExactSums) X() ExactMoments { return ExactMoments{N: s.N, Sum: s.SumX, SumSq: s.SumXX} }

// Y returns the moments of the second variable.
func (s ExactSums) Y() ExactMoments { return ExactMoments{N: s.N, Sum: s.SumY, SumSq: s.SumYY} }

// OLSExactInput is OLSInput known exactly, as rationals (exact integers,
// or integer sums moved to another origin); XtX is read in full and must
// be symmetric. N is the count, read only without an intercept (with one
// it is XtX[0][0]).
type OLSExactInput struct {
	N         *big.Rat
	XtX       [][]*big.Rat
	Xty       []*big.Rat
	Yty       *big.Rat
	Intercept bool
}

// centred returns n·a − b·c exactly.
func centred(n, a, b, c *big.Int) *big.Int {
	out := new(big.Int).Mul(n, a)
	return out.Sub(out, new(big.Int).Mul(b, c))
}

// intFloat rounds x to the nearest float64.
func intFloat(x *big.Int) float64 {
	f, _ := new(big.Float).SetInt(x).Float64()
	return f
}

// quoFloat rounds a/b to the nearest float64.
func quoFloat(a, b *big.Int) float64 {
	f, _ := new(big.Rat).SetFrac(a, b).Float64()
	return f
}

func (m ExactMoments) validate(minN int64) error {
	if m.N == nil || m.Sum == nil || m.SumSq == nil {
		return fmt.Errorf("missing sum: %w", ErrDimension)
	}
	if m.N.Sign() <= 0 {
		return ErrNonPositiveN
	}
	if m.N.Cmp(big.NewInt(minN)) < 0 {
		return fmt.Errorf("need n >= %d: %w", minN, ErrTooFewObservations)
	}
	return nil
}

// variance returns (nΣx² − (Σx)²)/(n(n − 1)), exactly and then rounded.
func (m ExactMoments) variance() float64 {
	d := new(big.Int).Sub(m.N, big.NewInt(1))
	return quoFloat(centred(m.N, m.SumSq, m.Sum, m.Sum), d.Mul(d, m.N))
}

// MeanExact is Mean of exact sums: Σx/n rounded once, with the sampling
// interval.
func MeanExact(m ExactMoments) (Estimate, error) {
	if err := m.validate(2); err != nil {
		return Estimate{}, fmt.Errorf("mean: %w", err)
	}
	n := intFloat(m.N)
	return newEstimate(quoFloat(m.Sum, m.N), math.Max(m.variance(), 0)/n, 0, Linear), nil
}

// VarianceExact is Variance of exact sums.
func VarianceExact(m ExactMoments) (Estimate, error) {
	if err := m.validate(2); err != nil {
		return Estimate{}, fmt.Errorf("variance: %w", err)
	}
	v := m.variance()
	if !(v > 0) {
		return Estimate{}, fmt.Errorf("variance: %w", ErrZeroVariance)
	}
	return newEstimate(v, 2/(intFloat(m.N)-1), 0, Log), nil
}

// PearsonExact is PearsonCI of exact sums: r = A/√(BC) with A, B and C
// exact integers. A perfect correlation, |r| = 1, has the degenerate
// interval [r, r].
func PearsonExact(s ExactSums) (Estimate, error) {
	for _, v := range []*big.Int{s.N, s.SumX, s.SumY, s.SumXX, s.SumYY, s.SumXY} {
		if v == nil {
			return Estimate{}, fmt.Errorf("pearson: missing sum: %w", ErrDimension)
		}
	}
	if s.N.Sign() <= 0 {
		return Estimate{}, fmt.Errorf("pearson: %w", ErrNonPositiveN)
	}
	if s.N.Cmp(big.NewInt(4)) < 0 {
		return Estimate{}, fmt.Errorf("pearson: need n >= 4: %w", ErrTooFewObservations)
	}
	a := centred(s.N, s.SumXY, s.SumX, s.SumY)
	b := centred(s.N, s.SumXX, s.SumX, s.SumX)
	c := centred(s.N, s.SumYY, s.SumY, s.SumY)
	if b.Sign() <= 0 {
		return Estimate{}, fmt.Errorf("pearson: x: %w", ErrZeroVariance)
	}
	if c.Sign() <= 0 {
		return Estimate{}, fmt.Errorf("pearson: y: %w", ErrZeroVariance)
	}
	// r = A/√(BC) to 128 bits, then rounded once.
	const prec = 128
	bc := new(big.Float).SetPrec(prec).SetInt(new(big.Int).Mul(b, c))
	bc.Sqrt(bc)
	rf := new(big.Float).SetPrec(prec).SetInt(a)
	r, _ := rf.Quo(rf, bc).Float64()
	if math.Abs(r) >= 1 {
		r = math.Copysign(1, r)
		return Estimate{Value: r, Lo: r, Hi: r, Scale: Linear}, nil
	}
	return newEstimate(r, 1/(intFloat(s.N)-3), 0, FisherZ), nil
}

// OLSExact is OLS of exact sums, without noise.
func OLSExact(in OLSExactInput) (OLSResult, error) {
	p := len(in.Xty)
	if p == 0 {
		return OLSResult{}, fmt.Errorf("ols: no coefficients: %w", ErrDimension)
	}
	if len(in.XtX) != p || in.Yty == nil {
		return OLSResult{}, fmt.Errorf("ols: XtX has %d rows, Xty %d entries: %w", len(in.XtX), p, ErrDimension)
	}
	s := olsSums{xtx: make([][]*big.Rat, p), xty: make([]*big.Rat, p), yty: in.Yty, intercept: in.Intercept}
	for i, row := range in.XtX {
		if len(row) != p || in.Xty[i] == nil {
			return OLSResult{}, fmt.Errorf("ols: XtX row %d: %w", i, ErrDimension)
		}
		s.xtx[i] = make([]*big.Rat, p)
		for j, v := range row {
			if v == nil || v.Cmp(in.XtX[j][i]) != 0 {
				return OLSResult{}, fmt.Errorf("ols: XtX not symmetric at (%d, %d): %w", i, j, ErrDimension)
			}
			s.xtx[i][j] = v
		}
		s.xty[i] = in.Xty[i]
	}
	var n float64
	if in.Intercept {
		n = ratFloat(in.XtX[0][0])
	} else if in.N == nil {
		return OLSResult{}, fmt.Errorf("ols: the count of a model without intercept: %w", ErrDimension)
	} else {
		n = ratFloat(in.N)
	}
	if n <= 0 {
		return OLSResult{}, fmt.Errorf("ols: %w", ErrNonPositiveN)
	}
	if n <= float64(p) {
		return OLSResult{}, fmt.Errorf("ols: need n > %d coefficients: %w", p, ErrTooFewObservations)
	}
	res, err := s.fit(n, OLSNoise{})
	if err != nil {
		return OLSResult{}, fmt.Errorf("ols: %w", err)
	}
	return res, nil
}
