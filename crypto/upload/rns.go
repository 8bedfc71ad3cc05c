package upload

import (
	"math/big"
	"math/bits"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// rnsConsts are the per-limb constants of the coefficient-level code:
// scaling by Δ, and the mixed-radix split c = r_0 + q_0·t used by the
// compression (r_0 = c mod q_0 is rounded, t travels exactly).
type rnsConsts struct {
	q     []uint64
	mred  []uint64   // Montgomery constants
	bred  [][]uint64 // Barrett constants
	width []uint     // bit length of each q_k
	q0Inv []uint64   // q_0^-1 mod q_k, Montgomery form (k >= 1)
	q0Mod []uint64   // q_0 mod q_k, Montgomery form (k >= 1)
}

func newRNSConsts(params rlwe.Parameters) rnsConsts {
	q := params.Q()
	c := rnsConsts{q: q}
	for k, qk := range q {
		c.mred = append(c.mred, ring.MRedConstant(qk))
		c.bred = append(c.bred, ring.BRedConstant(qk))
		c.width = append(c.width, uint(bits.Len64(qk)))
		if k == 0 {
			c.q0Inv = append(c.q0Inv, 0)
			c.q0Mod = append(c.q0Mod, 0)
			continue
		}
		q0k := q[0] % qk
		inv := new(big.Int).ModInverse(new(big.Int).SetUint64(q0k), new(big.Int).SetUint64(qk)).Uint64()
		c.q0Inv = append(c.q0Inv, ring.MForm(inv, qk, c.bred[k]))
		c.q0Mod = append(c.q0Mod, ring.MForm(q0k, qk, c.bred[k]))
	}
	return c
}

// pow2Mont returns 2^e mod q_k in Montgomery form for every limb.
func (c rnsConsts) pow2Mont(e int) []uint64 {
	out := make([]uint64, len(c.q))
	for k, qk := range c.q {
		v := new(big.Int).Exp(big.NewInt(2), big.NewInt(int64(e)), new(big.Int).SetUint64(qk)).Uint64()
		out[k] = ring.MForm(v, qk, c.bred[k])
	}
	return out
}

// compressLow maps r in [0, q) to floor(r·2^b/q) in [0, 2^b).
func compressLow(r, q uint64, b uint) uint64 {
	hi, lo := bits.Mul64(r, uint64(1)<<b)
	quo, _ := bits.Div64(hi, lo, q)
	return quo
}

// decompressLow maps a code v to the middle of its interval,
// floor((2v+1)·q / 2^(b+1)), which is below q.
func decompressLow(v, q uint64, b uint) uint64 {
	hi, lo := bits.Mul64(2*v+1, q)
	s := b + 1
	return hi<<(64-s) | lo>>s
}

// atLevel returns a view of p restricted to limbs 0..level.
func atLevel(p ring.Poly, level int) ring.Poly {
	return ring.Poly{Coeffs: p.Coeffs[:level+1]}
}
