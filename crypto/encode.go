package crypto

import (
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// ErrEncode is returned when values do not fit the plaintext space.
var ErrEncode = errors.New("crypto: value does not fit the plaintext")

// AggregateLogScale is log2 of Δ, the scale at which EncodeInts places
// integer aggregates in the coefficients of a level-1 plaintext of the
// coef13 moduli (Q ≈ 2^120). It leaves 2^58 for the magnitude of a sum of
// values and 2^60 / 2^(λ + noise bits) of headroom for the flooding noise, so
// integers decrypt exactly after rounding.
const AggregateLogScale = 60

// EncodeInts returns a plaintext whose i-th coefficient is values[i]·2^logScale
// (coefficient encoding, centered mod Q), at the parameters' maximum level.
func EncodeInts(params rlwe.Parameters, values []int64, logScale int) (*rlwe.Plaintext, error) {
	if len(values) > params.N() {
		return nil, fmt.Errorf("%w: %d values for %d coefficients", ErrEncode, len(values), params.N())
	}
	level := params.MaxLevel()
	rQ := params.RingQ().AtLevel(level)
	q := rQ.ModulusAtLevel[level]
	limit := new(big.Int).Rsh(q, 2) // |v·Δ| < Q/4 leaves room for sums of a few parties and the noise
	pt := rlwe.NewPlaintext(params, level)
	pt.IsNTT = false
	coeffs := make([]*big.Int, params.N())
	for i := range coeffs {
		coeffs[i] = new(big.Int)
	}
	for i, v := range values {
		c := new(big.Int).Lsh(big.NewInt(v), uint(logScale))
		if new(big.Int).Abs(c).Cmp(limit) >= 0 {
			return nil, fmt.Errorf("%w: coefficient %d exceeds 2^%d at scale 2^%d", ErrEncode, i, q.BitLen()-2-logScale, logScale)
		}
		if c.Sign() < 0 {
			c.Add(c, q)
		}
		coeffs[i] = c
	}
	rQ.SetCoefficientsBigint(coeffs, pt.Value)
	if params.NTTFlag() {
		rQ.NTT(pt.Value, pt.Value)
		pt.IsNTT = true
	}
	return pt, nil
}

// DecodeInts reads the first n coefficients of a decrypted plaintext,
// centered mod Q and divided by 2^logScale, rounding to the nearest integer.
// The second result is the largest distance of a coefficient from its
// rounded value, in units of the value (a measure of the noise left).
func DecodeInts(params rlwe.Parameters, pt *rlwe.Plaintext, n, logScale int) ([]int64, float64, error) {
	if n > params.N() {
		return nil, 0, fmt.Errorf("%w: %d values for %d coefficients", ErrEncode, n, params.N())
	}
	rQ := params.RingQ().AtLevel(pt.Level())
	p := rQ.NewPoly()
	if pt.IsNTT {
		rQ.INTT(pt.Value, p)
	} else {
		p.CopyLvl(pt.Level(), pt.Value)
	}
	coeffs := make([]*big.Int, params.N())
	for i := range coeffs {
		coeffs[i] = new(big.Int)
	}
	rQ.PolyToBigintCentered(p, 1, coeffs)
	out := make([]int64, n)
	var worst float64
	scale := new(big.Float).SetMantExp(big.NewFloat(1), logScale)
	for i := 0; i < n; i++ {
		f := new(big.Float).SetInt(coeffs[i])
		f.Quo(f, scale)
		v, _ := f.Float64()
		r := math.Round(v)
		if math.Abs(r) > math.MaxInt64/2 {
			return nil, 0, fmt.Errorf("%w: decoded coefficient %d is out of range", ErrEncode, i)
		}
		if d := math.Abs(v - r); d > worst {
			worst = d
		}
		out[i] = int64(r)
	}
	return out, worst, nil
}
