// Package lstest fits linear least squares two reference ways, for tests
// to check the statistics against: exactly, in rational arithmetic, and in
// float64 by Householder QR, the careful plaintext route a statistics
// package takes (no normal equations). It is imported by tests only.
package lstest

import (
	"errors"
	"math"
	"math/big"
)

// Fit is a least-squares fit of y on the columns of x.
type Fit struct {
	Beta, SE []float64
	// InvDiag is the diagonal of (XᵀX)⁻¹.
	InvDiag []float64
	// R2 is about the mean of y with an intercept, about zero without.
	R2  float64
	RSD float64 // residual standard deviation
}

// ErrSingular is returned for a design without full column rank.
var ErrSingular = errors.New("lstest: singular design")

// Exact fits y on the columns of x in exact rational arithmetic: the
// normal equations, with (XᵀX)⁻¹, by Gauss–Jordan elimination. intercept
// says whether x has a column of ones (R² about the mean of y).
func Exact(x [][]*big.Rat, y []*big.Rat, intercept bool) (Fit, error) {
	n, p := len(x), len(x[0])
	m := make([][]*big.Rat, p) // [XᵀX | Xᵀy | I]
	for i := range m {
		m[i] = make([]*big.Rat, 2*p+1)
		for k := range m[i] {
			m[i][k] = new(big.Rat)
		}
		m[i][p+1+i].SetInt64(1)
	}
	tmp := new(big.Rat)
	for r := range x {
		for i := 0; i < p; i++ {
			for j := 0; j < p; j++ {
				m[i][j].Add(m[i][j], tmp.Mul(x[r][i], x[r][j]))
			}
			m[i][p].Add(m[i][p], tmp.Mul(x[r][i], y[r]))
		}
	}
	for c := 0; c < p; c++ {
		piv := c
		for piv < p && m[piv][c].Sign() == 0 {
			piv++
		}
		if piv == p {
			return Fit{}, ErrSingular
		}
		m[c], m[piv] = m[piv], m[c]
		d := new(big.Rat).Set(m[c][c])
		for k := range m[c] {
			m[c][k].Quo(m[c][k], d)
		}
		for r := 0; r < p; r++ {
			if r != c && m[r][c].Sign() != 0 {
				f := new(big.Rat).Set(m[r][c])
				for k := range m[r] {
					m[r][k].Sub(m[r][k], tmp.Mul(f, m[c][k]))
				}
			}
		}
	}
	rss, ybar, tss := new(big.Rat), new(big.Rat), new(big.Rat)
	if intercept {
		for _, v := range y {
			ybar.Add(ybar, v)
		}
		ybar.Quo(ybar, big.NewRat(int64(n), 1))
	}
	for r := range x {
		e := new(big.Rat).Set(y[r])
		for j := 0; j < p; j++ {
			e.Sub(e, tmp.Mul(m[j][p], x[r][j]))
		}
		rss.Add(rss, tmp.Mul(e, e))
		d := new(big.Rat).Sub(y[r], ybar)
		tss.Add(tss, tmp.Mul(d, d))
	}
	s2 := new(big.Rat).Quo(rss, big.NewRat(int64(n-p), 1))
	root := func(r *big.Rat) float64 {
		f := new(big.Float).SetPrec(200).SetRat(r)
		v, _ := f.Sqrt(f).Float64()
		return v
	}
	fit := Fit{RSD: root(s2)}
	for j := 0; j < p; j++ {
		b, _ := m[j][p].Float64()
		inv, _ := m[j][p+1+j].Float64()
		fit.Beta = append(fit.Beta, b)
		fit.InvDiag = append(fit.InvDiag, inv)
		fit.SE = append(fit.SE, root(new(big.Rat).Mul(s2, m[j][p+1+j])))
	}
	fit.R2, _ = new(big.Rat).Sub(big.NewRat(1, 1), new(big.Rat).Quo(rss, tss)).Float64()
	return fit, nil
}

// Householder fits y on the columns of x in float64 by Householder QR of x
// with its columns scaled to unit norm. intercept is as for Exact.
func Householder(x [][]float64, y []float64, intercept bool) Fit {
	n, p := len(x), len(x[0])
	a := make([][]float64, n)
	for i := range a {
		a[i] = append([]float64(nil), x[i]...)
	}
	b := append([]float64(nil), y...)
	scale := make([]float64, p)
	for j := 0; j < p; j++ {
		for i := 0; i < n; i++ {
			scale[j] += a[i][j] * a[i][j]
		}
		scale[j] = math.Sqrt(scale[j])
		for i := 0; i < n; i++ {
			a[i][j] /= scale[j]
		}
	}
	for k := 0; k < p; k++ {
		var norm float64
		for i := k; i < n; i++ {
			norm += a[i][k] * a[i][k]
		}
		norm = math.Sqrt(norm)
		if a[k][k] > 0 {
			norm = -norm
		}
		v := make([]float64, n)
		v[k] = a[k][k] - norm
		for i := k + 1; i < n; i++ {
			v[i] = a[i][k]
		}
		var vv float64
		for i := k; i < n; i++ {
			vv += v[i] * v[i]
		}
		reflect := func(get func(i int) *float64) {
			var d float64
			for i := k; i < n; i++ {
				d += v[i] * *get(i)
			}
			f := 2 * d / vv
			for i := k; i < n; i++ {
				*get(i) -= f * v[i]
			}
		}
		for j := k; j < p; j++ {
			reflect(func(i int) *float64 { return &a[i][j] })
		}
		reflect(func(i int) *float64 { return &b[i] })
	}
	beta := make([]float64, p)
	for i := p - 1; i >= 0; i-- {
		t := b[i]
		for j := i + 1; j < p; j++ {
			t -= a[i][j] * beta[j]
		}
		beta[i] = t / a[i][i]
	}
	var rss, ybar, tss float64
	for i := p; i < n; i++ {
		rss += b[i] * b[i]
	}
	if intercept {
		for _, v := range y {
			ybar += v / float64(n)
		}
	}
	for _, v := range y {
		tss += (v - ybar) * (v - ybar)
	}
	s2 := rss / float64(n-p)
	fit := Fit{R2: 1 - rss/tss, RSD: math.Sqrt(s2)}
	// (XᵀX)⁻¹_jj = Σ_c (R⁻¹)_jc², in the scaled columns.
	for j := 0; j < p; j++ {
		var inv float64
		for c := j; c < p; c++ {
			w := make([]float64, p) // R⁻¹ e_c by back substitution
			for i := c; i >= 0; i-- {
				t := 0.0
				if i == c {
					t = 1
				}
				for l := i + 1; l <= c; l++ {
					t -= a[i][l] * w[l]
				}
				w[i] = t / a[i][i]
			}
			inv += w[j] * w[j]
		}
		inv /= scale[j] * scale[j]
		fit.Beta = append(fit.Beta, beta[j]/scale[j])
		fit.InvDiag = append(fit.InvDiag, inv)
		fit.SE = append(fit.SE, math.Sqrt(s2*inv))
	}
	return fit
}
