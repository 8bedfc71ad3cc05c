package upload

import (
	"fmt"
	"math"
	"math/big"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// DecodeProduct returns the value of product i from the plaintext the
// querier decrypted: the constant coefficient, lifted to (−Q/2, Q/2] and
// divided by Δ. It is the sum Σ x_i·m_i of the product's multiplier digit
// times its column, plus the homomorphic and flooding error.
func (p *Plan) DecodeProduct(i int, pt *rlwe.Plaintext) (float64, error) {
	return p.DecodeProductAt(i, pt, 0)
}

// DecodeProductAt is DecodeProduct for a product in coefficient coeff of a
// pack (Packed.Coefficient).
func (p *Plan) DecodeProductAt(i int, pt *rlwe.Plaintext, coeff int) (float64, error) {
	x, logDelta, err := p.lift(i, pt, coeff)
	if err != nil {
		return 0, err
	}
	f := new(big.Float).SetInt(x)
	f.SetMantExp(f, -logDelta)
	out, _ := f.Float64()
	return out, nil
}

// DecodeProductExactAt returns product i, in coefficient coeff of pt, as
// the exact integer Σ x_i·m_i of its multiplier digit times its column: the
// lifted coefficient divided by Δ and rounded to the nearest integer, which
// an exact plan (PlanConfig.Exact) makes the true sum. A remainder beyond
// 3/8 of Δ, which an exact plan cannot produce (it keeps the error below
// Δ/4), is refused with ErrInexact, as is a plan that is not exact.
func (p *Plan) DecodeProductExactAt(i int, pt *rlwe.Plaintext, coeff int) (*big.Int, error) {
	if !p.cfg.Exact {
		return nil, fmt.Errorf("%w: the plan was not made for exact sums", ErrInexact)
	}
	x, logDelta, err := p.lift(i, pt, coeff)
	if err != nil {
		return nil, err
	}
	// k = ⌊(x + Δ/2)/Δ⌋; Rsh of a negative Int rounds towards −∞.
	half := new(big.Int).Lsh(big.NewInt(1), uint(logDelta-1))
	k := new(big.Int).Add(x, half)
	k.Rsh(k, uint(logDelta))
	rem := new(big.Int).Lsh(k, uint(logDelta))
	rem.Sub(x, rem).Abs(rem)
	if limit := new(big.Int).Lsh(big.NewInt(3), uint(logDelta-3)); rem.Cmp(limit) > 0 {
		return nil, fmt.Errorf("%w: product %d: the decrypted error exceeds the plan's bound", ErrInexact, i)
	}
	return k, nil
}

// lift returns the constant coefficient coeff of product i's plaintext,
// lifted to (−Q/2, Q/2], and the product's log2 Δ.
func (p *Plan) lift(i int, pt *rlwe.Plaintext, coeff int) (*big.Int, int, error) {
	if coeff < 0 || coeff >= p.params.N() {
		return nil, 0, fmt.Errorf("%w: coefficient %d", ErrInvalidCircuit, coeff)
	}
	if i < 0 || i >= len(p.products) {
		return nil, 0, fmt.Errorf("%w: product %d of %d", ErrInvalidCircuit, i, len(p.products))
	}
	cp := p.cols[p.products[i].Column]
	if pt == nil || pt.Level() < cp.Level || pt.Value.N() != p.params.N() {
		return nil, 0, fmt.Errorf("%w: plaintext of product %d does not match the plan", ErrInvalidCircuit, i)
	}
	r := p.params.RingQ().AtLevel(cp.Level)
	v := atLevel(pt.Value, cp.Level)
	if pt.IsNTT {
		tmp := r.NewPoly()
		r.INTT(v, tmp)
		v = tmp
	}
	// CRT of the constant coefficient: x = Σ r_k·(Q/q_k)·((Q/q_k)^-1 mod q_k) mod Q.
	q := big.NewInt(1)
	for k := 0; k <= cp.Level; k++ {
		q.Mul(q, new(big.Int).SetUint64(r.SubRings[k].Modulus))
	}
	x := new(big.Int)
	for k := 0; k <= cp.Level; k++ {
		qk := new(big.Int).SetUint64(r.SubRings[k].Modulus)
		mk := new(big.Int).Quo(q, qk)
		inv := new(big.Int).ModInverse(new(big.Int).Mod(mk, qk), qk)
		t := new(big.Int).SetUint64(v.Coeffs[k][coeff])
		t.Mul(t, inv).Mod(t, qk).Mul(t, mk)
		x.Add(x, t)
	}
	x.Mod(x, q)
	if x.Cmp(new(big.Int).Rsh(q, 1)) > 0 {
		x.Sub(x, q)
	}
	return x, cp.LogDelta, nil
}

// Decode returns the statistics, in Circuit.Stats order, from the querier's
// decrypted plaintexts of all products (in Plan.Products order). Split
// multipliers are recombined, Σ x·m = Σ_d 2^(d·S)·Σ x_d·m, and so are the
// digit columns of a statistic (Stat.Digits), each product at its weight
// 2^Shift. The values are in
// fixed-point integer units; counts are exact after rounding. Remove a
// FixedPoint shift with UnshiftSum and UnshiftProduct.
func (p *Plan) Decode(pts []*rlwe.Plaintext) ([]float64, error) {
	if len(pts) != len(p.products) {
		return nil, fmt.Errorf("%w: %d plaintexts for %d products", ErrInvalidCircuit, len(pts), len(p.products))
	}
	out := make([]float64, len(p.circuit.Stats))
	for i, pr := range p.products {
		v, err := p.DecodeProduct(i, pts[i])
		if err != nil {
			return nil, err
		}
		out[pr.Stat] += math.Ldexp(v, pr.Shift)
	}
	return out, nil
}

// DecodeExact is Decode for an exact plan: every product is rounded to its
// exact integer (DecodeProductExactAt) and the digits, of the multiplier
// and of the columns, are recombined exactly at their weights 2^Shift, so
// each statistic is the exact integer the plaintext gives on the encoded
// values.
func (p *Plan) DecodeExact(pts []*rlwe.Plaintext) ([]*big.Int, error) {
	if len(pts) != len(p.products) {
		return nil, fmt.Errorf("%w: %d plaintexts for %d products", ErrInvalidCircuit, len(pts), len(p.products))
	}
	out := p.zeroStats()
	for i := range p.products {
		if err := p.addExact(out, i, pts[i], 0); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// zeroStats returns one zero per statistic.
func (p *Plan) zeroStats() []*big.Int {
	out := make([]*big.Int, len(p.circuit.Stats))
	for s := range out {
		out[s] = new(big.Int)
	}
	return out
}

// addExact adds product i, decoded exactly from coefficient coeff of pt,
// at its digit's weight to its statistic.
func (p *Plan) addExact(out []*big.Int, i int, pt *rlwe.Plaintext, coeff int) error {
	v, err := p.DecodeProductExactAt(i, pt, coeff)
	if err != nil {
		return err
	}
	pr := p.products[i]
	out[pr.Stat].Add(out[pr.Stat], v.Lsh(v, uint(pr.Shift)))
	return nil
}
