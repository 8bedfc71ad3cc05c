package crypto

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// DefaultFloodingBits is λ, the statistical hiding parameter of the
// decryption-share noise flooding: each party's flooding noise is uniform on
// [-2^λ·B, 2^λ·B] for a public bound B on the ciphertext's own noise, so the
// statistical distance between a share and one computed on a noise-free
// ciphertext is at most 2^-λ (see crypto/README.md).
const DefaultFloodingBits = 40

// MaxFloodingBits bounds log2 of the flooding half-width: the noise must stay
// far below the modulus.
const MaxFloodingBits = 120

// ErrKeySwitch is returned when a key-switch share does not fit the
// ciphertext it is meant for.
var ErrKeySwitch = errors.New("crypto: invalid key-switch share")

// FloodingSigma returns 2^λ · noiseBound, the half-width of the uniform noise
// each party adds to its public-key-switch share (its standard deviation is
// that divided by √3).
func FloodingSigma(noiseBound float64, lambda int) float64 {
	return math.Ldexp(noiseBound, lambda)
}

// KeySwitch is the collective public-key switch (PCKS): it moves a ciphertext
// encrypted under the collective key to a querier's public key, one share
// per data owner, so that only the querier can decrypt and every data owner
// had to take part.
type KeySwitch struct {
	params rlwe.Parameters
	proto  mhe.PublicKeySwitchProtocol
	width  float64
	// widths, when set, gives each coefficient its own flooding width
	// (NewPackedKeySwitch); width is then the largest.
	widths []float64
}

// NewKeySwitch prepares the protocol with flooding noise uniform on
// [-width, width] (see FloodingSigma), drawn from crypto/rand.
//
// Lattigo's own flooding sampler is not used: its Gaussian sampler panics
// for standard deviations above about 2^61, and statistics need 2^80 and
// more. The share is made with Lattigo's ordinary error, and the flooding is
// added to it here. Uniform flooding gives the smudging bound directly:
// SD(U + e, U) ≤ |e| / width for U uniform on [-width, width].
func NewKeySwitch(params rlwe.Parameters, width float64) (*KeySwitch, error) {
	if !(width >= 1) || width > math.Ldexp(1, MaxFloodingBits) {
		return nil, fmt.Errorf("crypto: flooding width %g must be in [1, 2^%d]", width, MaxFloodingBits)
	}
	p, err := mhe.NewPublicKeySwitchProtocol(params, params.Xe())
	if err != nil {
		return nil, fmt.Errorf("crypto: key switch: %w", err)
	}
	return &KeySwitch{params: params, proto: p, width: width}, nil
}

// NewPackedKeySwitch is NewKeySwitch with one flooding width per
// coefficient (len(widths) = N), for a ciphertext packing values of
// different noise bounds: each coefficient is flooded at 2^λ times its own
// bound, so no value loses precision to another's wider bound.
func NewPackedKeySwitch(params rlwe.Parameters, widths []float64) (*KeySwitch, error) {
	if len(widths) != params.N() {
		return nil, fmt.Errorf("crypto: %d flooding widths for %d coefficients", len(widths), params.N())
	}
	var widest float64
	for _, w := range widths {
		if !(w >= 1) || w > math.Ldexp(1, MaxFloodingBits) {
			return nil, fmt.Errorf("crypto: flooding width %g must be in [1, 2^%d]", w, MaxFloodingBits)
		}
		widest = max(widest, w)
	}
	k, err := NewKeySwitch(params, widest)
	if err != nil {
		return nil, err
	}
	k.widths = widths
	return k, nil
}

// Sigma is the half-width of the uniform flooding each share carries (the
// largest, for a packed key switch).
func (k *KeySwitch) Sigma() float64 { return k.width }

// NoiseStd is the standard deviation of one share's flooding noise.
func (k *KeySwitch) NoiseStd() float64 { return k.width / math.Sqrt(3) }

// Share computes this party's share of switching ct to target.
func (k *KeySwitch) Share(sk *rlwe.SecretKey, target *rlwe.PublicKey, ct *rlwe.Ciphertext) (mhe.PublicKeySwitchShare, error) {
	sh := k.proto.AllocateShare(ct.Level())
	k.proto.GenShare(sk, target, ct, &sh)
	widths := k.widths
	if widths == nil {
		widths = []float64{k.width}
	}
	if err := addUniformNoise(k.params, ct.Level(), ct.IsNTT, widths, sh.Value[0]); err != nil {
		return sh, err
	}
	return sh, nil
}

// addUniformNoise adds to p an independent integer uniform on
// [-w_i, w_i] in every coefficient i, w_i = widths[i], or widths[0] for
// every coefficient when there is one width (p is in the NTT domain when
// isNTT). It works in 128-bit integers (width ≤ 2^MaxFloodingBits) with
// rejection sampling, so the distribution is exactly uniform.
func addUniformNoise(params rlwe.Parameters, level int, isNTT bool, widths []float64, p ring.Poly) error {
	rQ := params.RingQ().AtLevel(level)
	noise := rQ.NewPoly()
	byWidth := map[float64][]int{}
	if len(widths) == 1 {
		all := make([]int, params.N())
		for i := range all {
			all[i] = i
		}
		byWidth[widths[0]] = all
	} else {
		for i, w := range widths {
			byWidth[w] = append(byWidth[w], i)
		}
	}
	for w, idx := range byWidth {
		if err := sampleUniform(rQ, w, idx, noise); err != nil {
			return err
		}
	}
	if isNTT {
		rQ.NTT(noise, noise)
	}
	rQ.Add(p, noise, p)
	return nil
}

// sampleUniform sets coefficients idx of noise to independent integers
// uniform on [-width, width].
func sampleUniform(rQ *ring.Ring, width float64, idx []int, noise ring.Poly) error {
	w, _ := new(big.Float).SetFloat64(math.Floor(width)).Int(nil)
	// span = 2w+1 values, as a 128-bit (hi, lo) pair.
	span := new(big.Int).Add(new(big.Int).Lsh(w, 1), big.NewInt(1))
	wHi, wLo := split128(w)
	sHi, sLo := split128(span)
	bitsN := span.BitLen()
	var maskHi, maskLo uint64 = ^uint64(0), ^uint64(0)
	if bitsN <= 64 {
		maskHi, maskLo = 0, ^uint64(0)>>(64-bitsN)
	} else {
		maskHi = ^uint64(0) >> (128 - bitsN)
	}
	moduli := rQ.ModuliChain()[:rQ.Level()+1]
	buf := make([]byte, 16*len(idx))
	for i := 0; i < len(idx); {
		if _, err := rand.Read(buf); err != nil {
			return fmt.Errorf("crypto: flooding noise: %w", err)
		}
		for off := 0; off+16 <= len(buf) && i < len(idx); off += 16 {
			hi := binary.LittleEndian.Uint64(buf[off:]) & maskHi
			lo := binary.LittleEndian.Uint64(buf[off+8:]) & maskLo
			if hi > sHi || (hi == sHi && lo >= sLo) {
				continue // rejection keeps the distribution exactly uniform
			}
			// v = r − w: its magnitude and sign.
			neg := hi < wHi || (hi == wHi && lo < wLo)
			var mHi, mLo, borrow uint64
			if neg {
				mLo, borrow = bits.Sub64(wLo, lo, 0)
				mHi, _ = bits.Sub64(wHi, hi, borrow)
			} else {
				mLo, borrow = bits.Sub64(lo, wLo, 0)
				mHi, _ = bits.Sub64(hi, wHi, borrow)
			}
			for k, q := range moduli {
				r := bits.Rem64(mHi%q, mLo, q)
				if neg && r != 0 {
					r = q - r
				}
				noise.Coeffs[k][idx[i]] = r
			}
			i++
		}
	}
	return nil
}

// split128 returns the high and low 64-bit words of a non-negative x < 2^128.
func split128(x *big.Int) (hi, lo uint64) {
	lo = new(big.Int).And(x, new(big.Int).SetUint64(^uint64(0))).Uint64()
	hi = new(big.Int).Rsh(x, 64).Uint64()
	return hi, lo
}

// Switch combines every party's share and returns ct re-encrypted under the
// target key.
func (k *KeySwitch) Switch(ct *rlwe.Ciphertext, shares []mhe.PublicKeySwitchShare) (*rlwe.Ciphertext, error) {
	if len(shares) == 0 {
		return nil, fmt.Errorf("%w: no shares", ErrKeySwitch)
	}
	agg := k.proto.AllocateShare(ct.Level())
	for i, sh := range shares {
		if sh.Level() != ct.Level() || sh.BinarySize() != agg.BinarySize() {
			return nil, fmt.Errorf("%w: share %d has level %d, ciphertext level %d", ErrKeySwitch, i, sh.Level(), ct.Level())
		}
		if err := k.proto.AggregateShares(sh, agg, &agg); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKeySwitch, err)
		}
	}
	out := rlwe.NewCiphertext(k.params, 1, ct.Level())
	k.proto.KeySwitch(ct, agg, out)
	return out, nil
}

// Rerandomize adds a fresh encryption of zero to ct, made by enc under the
// collective public key. The evaluator does this before any key switch:
// otherwise c1 of an evaluated ciphertext is a public linear function of the
// plaintext multipliers it used. One encryptor serves any number of
// ciphertexts; it is not safe for concurrent use, so each goroutine takes
// its own enc.ShallowCopy().
func Rerandomize(params rlwe.Parameters, enc *rlwe.Encryptor, ct *rlwe.Ciphertext) error {
	z := rlwe.NewCiphertext(params, 1, ct.Level())
	z.IsNTT = ct.IsNTT
	if err := enc.EncryptZero(z); err != nil {
		return fmt.Errorf("crypto: re-randomize: %w", err)
	}
	rQ := params.RingQ().AtLevel(ct.Level())
	rQ.Add(ct.Value[0], z.Value[0], ct.Value[0])
	rQ.Add(ct.Value[1], z.Value[1], ct.Value[1])
	return nil
}

// FreshNoiseBound is a public bound on the absolute value of any coefficient
// of the noise of one fresh public-key encryption under a collective key of
// `parties` shares. Decryption leaves u·e_pk + e0 + e1·s, with u and each
// share of s ternary (variance 2/3 per coefficient), e_pk the sum of one
// Gaussian error per party and e0, e1 Gaussian. The coefficient variance is
// σ²(1 + (4/3)·n·parties); the bound is 8 standard deviations, exceeded with
// probability below 2^-46 per coefficient by the central limit theorem. It
// overestimates Lattigo's actual noise, which encrypts in QP and divides by P.
func FreshNoiseBound(params rlwe.Parameters, parties int) float64 {
	sigma := params.NoiseFreshSK()
	n := float64(params.N())
	v := sigma * sigma * (1 + 4.0/3.0*n*float64(parties))
	return 8 * math.Sqrt(v)
}
