package stats

import (
	"fmt"
	"math"
	"math/big"
)

// A symmetric positive definite system a·x = b whose matrix is known
// exactly (rational entries, from the released sums, kept to workPrec
// bits), solved in float64 with iterative refinement (Wilkinson; Higham,
// Accuracy and Stability of Numerical Algorithms, 2nd ed., ch. 12):
//
//  1. a is scaled to unit diagonal, â = D·a·D with D = diag(1/√a_jj), so
//     the Cholesky factor and the condition number reflect how nearly
//     dependent the columns are, not their units;
//  2. â = L·Lᵀ in float64;
//  3. x₀ = 0; repeatedly r = b − a·x_k is computed in workPrec-bit
//     arithmetic (x_k is a float64 vector: every product is exact, and the
//     sum is good to far more bits than any cancellation can take) and
//     rounded once, and x_{k+1} = x_k + D·(LLᵀ)⁻¹·D·r, until no component
//     of x changes.
//
// Because the residual is that accurate, each step divides the error by about
// κ(â)·2⁻⁵³, and x converges to within a unit or so in the last place of
// the exact solution as long as κ(â) stays well below 2⁵³ (MaxCondition
// keeps it below 10¹²). Quadratic forms bᵀa⁻¹b are evaluated as
// 2bᵀx − xᵀa·x at the refined x, in workPrec bits: that expression is
// maximal at the exact solution, so the error of x enters only to second
// order.

// workPrec is the precision of the residuals and quadratic forms: 53 bits
// of float64 plus log2 of the largest condition number accepted plus
// margin for the sums, many times over.
const workPrec = 256

// maxRefine bounds the refinement steps; at κ ≤ MaxCondition three or four
// suffice.
const maxRefine = 12

// spd is a refined solver for one exact SPD matrix.
type spd struct {
	a [][]*big.Float
	// d is the diagonal scaling 1/√a_jj.
	d []float64
	// l is the Cholesky factor of D·a·D.
	l [][]float64
	// inv is (D·a·D)⁻¹ from l, for the condition number and the
	// first-order noise propagation.
	inv [][]float64
	// cond is the 1-norm condition number of D·a·D.
	cond float64
}

// newSPD factors a (read in full; it must be symmetric).
func newSPD(ar [][]*big.Rat) (*spd, error) {
	p := len(ar)
	a := make([][]*big.Float, p)
	for i := range a {
		a[i] = make([]*big.Float, p)
		for j := range a[i] {
			a[i][j] = newWork().SetRat(ar[i][j])
		}
	}
	s := &spd{a: a, d: make([]float64, p)}
	for j := range a {
		ajj, _ := a[j][j].Float64()
		if !(ajj > 0) || math.IsInf(ajj, 0) {
			return nil, fmt.Errorf("column %d: %w", j, ErrSingular)
		}
		s.d[j] = 1 / math.Sqrt(ajj)
	}
	as := make([][]float64, p)
	for i := range as {
		as[i] = make([]float64, p)
		for j := range as[i] {
			if i == j {
				as[i][j] = 1
				continue
			}
			// a_ij·d_i·d_j rounded once: the scaling of an exact rational.
			v := newWork().Mul(a[i][j], big.NewFloat(s.d[i]*s.d[j]))
			as[i][j], _ = v.Float64()
		}
	}
	if err := finite([]string{"XᵀX"}, flatten(as)...); err != nil {
		return nil, err
	}
	l, err := cholesky(as)
	if err != nil {
		return nil, err
	}
	s.l = l
	s.inv = choleskyInverse(l)
	s.cond = norm1(as) * norm1(s.inv)
	return s, nil
}

// solve returns the refined float64 solution of a·x = b.
func (s *spd) solve(b []*big.Float) ([]float64, error) {
	p := len(b)
	x := make([]float64, p)
	r := make([]*big.Float, p)
	for i := range r {
		r[i] = newWork().Set(b[i])
	}
	rf := make([]float64, p)
	for range maxRefine {
		for i := range r {
			f, _ := r[i].Float64()
			rf[i] = f * s.d[i]
		}
		dz := cholSolve(s.l, rf)
		changed := false
		for i := range x {
			nx := x[i] + s.d[i]*dz[i]
			if math.IsNaN(nx) || math.IsInf(nx, 0) {
				return nil, fmt.Errorf("solution: %w", ErrNotFinite)
			}
			if nx != x[i] {
				changed = true
			}
			x[i] = nx
		}
		if !changed {
			break
		}
		s.residual(b, x, r)
	}
	return x, nil
}

// residual sets r = b − a·x.
func (s *spd) residual(b []*big.Float, x []float64, r []*big.Float) {
	xr := make([]*big.Float, len(x))
	for j := range x {
		xr[j] = big.NewFloat(x[j])
	}
	t := newWork()
	for i := range r {
		r[i].Set(b[i])
		for j := range x {
			r[i].Sub(r[i], t.Mul(s.a[i][j], xr[j]))
		}
	}
}

// quad returns bᵀa⁻¹b as 2bᵀx − xᵀa·x at the refined solution x of
// a·x = b: the error of x enters squared.
func (s *spd) quad(b []*big.Float) (*big.Float, error) {
	x, err := s.solve(b)
	if err != nil {
		return nil, err
	}
	return quadAt(s.a, b, x), nil
}

// quadAt returns 2bᵀx − xᵀa·x.
func quadAt(a [][]*big.Float, b []*big.Float, x []float64) *big.Float {
	xr := make([]*big.Float, len(x))
	for j := range x {
		xr[j] = big.NewFloat(x[j])
	}
	out, t := newWork(), newWork()
	for i := range xr {
		out.Add(out, t.Mul(b[i], xr[i]))
	}
	out.Add(out, out)
	for i := range xr {
		ax := newWork()
		for j := range xr {
			ax.Add(ax, t.Mul(a[i][j], xr[j]))
		}
		out.Sub(out, ax.Mul(ax, xr[i]))
	}
	return out
}

// inverse returns a⁻¹ = D·(D·a·D)⁻¹·D in float64, unrefined: enough for
// the first-order propagation of noise.
func (s *spd) inverse() [][]float64 {
	p := len(s.d)
	out := make([][]float64, p)
	for i := range out {
		out[i] = make([]float64, p)
		for j := range out[i] {
			out[i][j] = s.inv[i][j] * s.d[i] * s.d[j]
		}
	}
	return out
}

// cholSolve solves L·Lᵀ·x = b.
func cholSolve(l [][]float64, b []float64) []float64 {
	p := len(b)
	w := make([]float64, p)
	for i := 0; i < p; i++ {
		t := b[i]
		for k := 0; k < i; k++ {
			t -= l[i][k] * w[k]
		}
		w[i] = t / l[i][i]
	}
	for i := p - 1; i >= 0; i-- {
		t := w[i]
		for k := i + 1; k < p; k++ {
			t -= l[k][i] * w[k]
		}
		w[i] = t / l[i][i]
	}
	return w
}

// singularPivot is the smallest pivot accepted in the Cholesky factorization
// of a unit-diagonal matrix: a smaller one means a column is, to rounding,
// a combination of the previous ones.
const singularPivot = 1e-14

// cholesky returns the lower-triangular L with a = L Lᵀ.
func cholesky(a [][]float64) ([][]float64, error) {
	p := len(a)
	l := make([][]float64, p)
	for i := range l {
		l[i] = make([]float64, p)
	}
	for j := 0; j < p; j++ {
		d := a[j][j]
		for k := 0; k < j; k++ {
			d -= l[j][k] * l[j][k]
		}
		if !(d > singularPivot) {
			return nil, fmt.Errorf("column %d: %w", j, ErrSingular)
		}
		l[j][j] = math.Sqrt(d)
		for i := j + 1; i < p; i++ {
			s := a[i][j]
			for k := 0; k < j; k++ {
				s -= l[i][k] * l[j][k]
			}
			l[i][j] = s / l[j][j]
		}
	}
	return l, nil
}

// choleskyInverse returns (L Lᵀ)⁻¹ = L⁻ᵀ L⁻¹.
func choleskyInverse(l [][]float64) [][]float64 {
	p := len(l)
	// w = L⁻¹ by forward substitution, column by column.
	w := make([][]float64, p)
	for i := range w {
		w[i] = make([]float64, p)
	}
	for c := 0; c < p; c++ {
		for i := c; i < p; i++ {
			s := 0.0
			if i == c {
				s = 1
			}
			for k := c; k < i; k++ {
				s -= l[i][k] * w[k][c]
			}
			w[i][c] = s / l[i][i]
		}
	}
	inv := make([][]float64, p)
	for i := range inv {
		inv[i] = make([]float64, p)
	}
	for i := 0; i < p; i++ {
		for j := 0; j <= i; j++ {
			var s float64
			for k := i; k < p; k++ {
				s += w[k][i] * w[k][j]
			}
			inv[i][j], inv[j][i] = s, s
		}
	}
	return inv
}

func norm1(a [][]float64) float64 {
	var m float64
	for j := range a {
		var s float64
		for i := range a {
			s += math.Abs(a[i][j])
		}
		m = math.Max(m, s)
	}
	return m
}

func flatten(a [][]float64) []float64 {
	var out []float64
	for _, row := range a {
		out = append(out, row...)
	}
	return out
}

// ratOf returns the finite float64 v as an exact rational.
func ratOf(v float64) *big.Rat { return new(big.Rat).SetFloat64(v) }

// ratFloat rounds r to the nearest float64 (±Inf beyond its range).
func ratFloat(r *big.Rat) float64 {
	f, _ := r.Float64()
	return f
}

// newWork returns a zero of workPrec bits.
func newWork() *big.Float { return new(big.Float).SetPrec(workPrec) }

// workOf returns r to workPrec bits.
func workOf(r *big.Rat) *big.Float { return newWork().SetRat(r) }

// workVec returns rs to workPrec bits.
func workVec(rs []*big.Rat) []*big.Float {
	out := make([]*big.Float, len(rs))
	for i, r := range rs {
		out[i] = workOf(r)
	}
	return out
}

// workFloat rounds w to the nearest float64 (±Inf beyond its range).
func workFloat(w *big.Float) float64 {
	f, _ := w.Float64()
	return f
}
