package upload

import (
	"fmt"
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
	if coeff < 0 || coeff >= p.params.N() {
		return 0, fmt.Errorf("%w: coefficient %d", ErrInvalidCircuit, coeff)
	}
	if i < 0 || i >= len(p.products) {
		return 0, fmt.Errorf("%w: product %d of %d", ErrInvalidCircuit, i, len(p.products))
	}
	cp := p.cols[p.products[i].Column]
	if pt == nil || pt.Level() < cp.Level || pt.Value.N() != p.params.N() {
		return 0, fmt.Errorf("%w: plaintext of product %d does not match the plan", ErrInvalidCircuit, i)
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
	f := new(big.Float).SetInt(x)
	f.SetMantExp(f, -cp.LogDelta)
	out, _ := f.Float64()
	return out, nil
}

// Decode returns the statistics, in Circuit.Stats order, from the querier's
// decrypted plaintexts of all products (in Plan.Products order). Split
// multipliers are recombined: Σ x·m = Σ_d 2^(d·S)·Σ x_d·m. The values are in
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
		out[pr.Stat] += v * float64(uint64(1)<<pr.Shift)
	}
	return out, nil
}
