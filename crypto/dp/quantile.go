package dp

import (
	"fmt"
	"math"
	"math/big"
	"sort"
)

// A differentially private quantile over a public, finite set of
// candidates: the quality of a candidate c for the q-quantile of n values
// is
//
//	score(c) = −|#{x < c} − q·n|
//
// (the construction of Smith, "Privacy-preserving statistical estimation
// with optimal convergence rates", STOC 2011, over the finite candidate set
// of OpenDP's make_quantile_score_candidates), and one of the candidates
// is selected with permute-and-flip (McKenna and Sheldon, "Permute-and-Flip:
// A new mechanism for differentially private selection", NeurIPS 2020):
// visit the candidates in a uniformly random order and stop at the first c
// for which a coin with P[heads] = exp(ε·(score(c) − max score)/(2Δ))
// comes up heads. It is ε-DP like the exponential mechanism on the same
// scores, never less accurate in expectation, and, unlike the exponential
// mechanism, needs no normalizing sum: each coin is a Bernoulli(exp(−γ))
// with γ an exact rational, which the Sampler draws exactly (bernoulliExp,
// CKS20 Algorithm 1). No floating-point number touches the selection.
//
// Sensitivity Δ = 1. Replacing one value changes #{x < c} by at most 1
// and leaves n alone; adding or removing one changes #{x < c} by 0 or 1
// and q·n by q, so the score moves by at most max(q, 1 − q) < 1. One Δ
// covers both neighbouring relations.

// MaxQuantileCandidates bounds the candidates of one selection, and so its
// loops.
const MaxQuantileCandidates = 1 << 16

// QuantileCandidates returns k candidates evenly spaced in asinh over
// [a, b], a and b included, in increasing order: a logarithmic grid where
// |x| ≫ 1 (consecutive candidates a constant ratio apart, about
// 1 + (asinh b − asinh a)/(k − 1)), a linear one near 0, and defined for
// negative values too. The grid must not depend on the data; a and b are
// the public range the data is known to lie in, and may be generous: a
// decade more costs about 2.3/(asinh b − asinh a) of the candidates.
// Candidates that rounding makes equal are dropped, so a very narrow range
// may give fewer than k.
func QuantileCandidates(a, b float64, k int) ([]float64, error) {
	if math.IsNaN(a) || math.IsNaN(b) || math.IsInf(a, 0) || math.IsInf(b, 0) || !(a < b) {
		return nil, fmt.Errorf("%w: candidate range [%v, %v] must be finite with a < b", ErrInvalidParameter, a, b)
	}
	if k < 2 || k > MaxQuantileCandidates {
		return nil, fmt.Errorf("%w: %d candidates; want 2 to %d", ErrInvalidParameter, k, MaxQuantileCandidates)
	}
	ua, ub := math.Asinh(a), math.Asinh(b)
	out := make([]float64, 0, k)
	for i := range k {
		c := math.Sinh(ua + (ub-ua)*float64(i)/float64(k-1))
		switch {
		case i == 0:
			c = a
		case i == k-1:
			c = b
		}
		c = min(max(c, a), b)
		if len(out) > 0 && c <= out[len(out)-1] {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// Quantile returns one of the candidates, close to the q-quantile of
// values (a candidate c with about q·n of the values below it), and is
// ε-differentially private with respect to values under adding, removing
// or replacing one value. candidates must be public (independent of the
// values), finite and strictly increasing, such as QuantileCandidates
// gives. With probability at least 1 − β the selected candidate's score
// is within QuantileSlack(eps, len(candidates), β) of the best one's.
//
// Candidates that no value separates have the same score: every
// candidate above the largest value scores −(1 − q)·n. So q must leave
// room above (and 1 − q below) the target, (1 − q)·n larger than the
// slack, or the selection may land beyond the data.
func (s *Sampler) Quantile(values []float64, q, eps float64, candidates []float64) (float64, error) {
	if err := checkEpsilon(eps); err != nil {
		return 0, err
	}
	if !(q > 0 && q < 1) {
		return 0, fmt.Errorf("%w: quantile %v is not in (0, 1)", ErrInvalidParameter, q)
	}
	k := len(candidates)
	if k == 0 || k > MaxQuantileCandidates {
		return 0, fmt.Errorf("%w: %d candidates; want 1 to %d", ErrInvalidParameter, k, MaxQuantileCandidates)
	}
	for i, c := range candidates {
		if math.IsNaN(c) || math.IsInf(c, 0) || (i > 0 && !(c > candidates[i-1])) {
			return 0, fmt.Errorf("%w: candidates must be finite and strictly increasing", ErrInvalidParameter)
		}
	}
	// below[i] = #{x < candidates[i]}: each value counts in the bin of the
	// first candidate above it, and a prefix sum gives the ranks.
	below := make([]int64, k)
	for _, x := range values {
		if math.IsNaN(x) {
			return 0, fmt.Errorf("%w: a value is NaN", ErrInvalidParameter)
		}
		if j := sort.Search(k, func(i int) bool { return candidates[i] > x }); j < k {
			below[j]++
		}
	}
	for i := 1; i < k; i++ {
		below[i] += below[i-1]
	}

	// With q = qn/qd and ε = en/ed exactly (float64s are dyadic
	// rationals), qd·|score(c)| = |qd·#{x < c} − qn·n| =: d(c), an
	// integer, and the coin of c is Bernoulli(exp(−γ)) with
	// γ = ε·(d(c) − min d)/(2·Δ·qd) = en·(d(c) − min d) / (2·ed·qd).
	qr := new(big.Rat).SetFloat64(q)
	er := new(big.Rat).SetFloat64(eps)
	target := new(big.Int).Mul(qr.Num(), big.NewInt(int64(len(values))))
	d := make([]*big.Int, k)
	var best *big.Int
	for i := range candidates {
		d[i] = new(big.Int).Mul(qr.Denom(), big.NewInt(below[i]))
		d[i].Sub(d[i], target).Abs(d[i])
		if best == nil || d[i].Cmp(best) < 0 {
			best = d[i]
		}
	}
	den := new(big.Int).Mul(er.Denom(), qr.Denom())
	den.Lsh(den, 1)
	num := new(big.Int)

	// Permute and flip, drawing the random order one position at a time
	// (Fisher–Yates): most selections stop long before the last candidate.
	order := make([]int, k)
	for i := range order {
		order[i] = i
	}
	for i := range k {
		j, err := s.uniform64(uint64(k - i))
		if err != nil {
			return 0, err
		}
		order[i], order[i+int(j)] = order[i+int(j)], order[i]
		c := order[i]
		num.Sub(d[c], best)
		num.Mul(num, er.Num())
		ok, err := s.bernoulliExp(num, den)
		if err != nil {
			return 0, err
		}
		if ok {
			return candidates[c], nil
		}
	}
	// The best candidate's coin has γ = 0 and always comes up heads.
	return 0, fmt.Errorf("%w: no candidate selected", ErrRandomness)
}

// QuantileSlack is the rank error t that Quantile over k candidates at
// eps exceeds with probability at most beta: t = (2/ε)·ln(k/β). A
// candidate whose score is more than t below the best one's has a coin of
// probability below exp(−ε·t/2) = β/k, and there are fewer than k of
// them. It is a worst case: a selection usually lands much closer, as
// only the candidates near the target have a real chance.
func QuantileSlack(eps float64, k int, beta float64) float64 {
	return 2 / eps * math.Log(float64(k)/beta)
}
