package crypto

import (
	"errors"
	"fmt"
	"math"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// DefaultFloodingBits is λ, the statistical hiding parameter of the
// decryption-share noise flooding: each party's flooding noise has a standard
// deviation 2^λ times the public bound on the ciphertext's own noise, so the
// statistical distance between a share and one computed on a noise-free
// ciphertext is at most about 2^-λ (see crypto/README.md).
const DefaultFloodingBits = 40

// ErrKeySwitch is returned when a key-switch share does not fit the
// ciphertext it is meant for.
var ErrKeySwitch = errors.New("crypto: invalid key-switch share")

// FloodingSigma returns σ = 2^λ · noiseBound, the standard deviation of the
// noise each party adds to its public-key-switch share.
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
	sigma  float64
}

// NewKeySwitch prepares the protocol with flooding noise of standard
// deviation sigma (see FloodingSigma). The flooding sampler is seeded from
// crypto/rand.
func NewKeySwitch(params rlwe.Parameters, sigma float64) (*KeySwitch, error) {
	if !(sigma >= 1) || math.IsInf(sigma, 0) {
		return nil, fmt.Errorf("crypto: flooding sigma %g must be a finite number >= 1", sigma)
	}
	p, err := mhe.NewPublicKeySwitchProtocol(params, ring.DiscreteGaussian{Sigma: sigma, Bound: 6 * sigma})
	if err != nil {
		return nil, fmt.Errorf("crypto: key switch: %w", err)
	}
	return &KeySwitch{params: params, proto: p, sigma: sigma}, nil
}

// Sigma is the flooding standard deviation each share carries.
func (k *KeySwitch) Sigma() float64 { return k.sigma }

// Share computes this party's share of switching ct to target.
func (k *KeySwitch) Share(sk *rlwe.SecretKey, target *rlwe.PublicKey, ct *rlwe.Ciphertext) mhe.PublicKeySwitchShare {
	sh := k.proto.AllocateShare(ct.Level())
	k.proto.GenShare(sk, target, ct, &sh)
	return sh
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

// Rerandomize adds a fresh encryption of zero under pk to ct. The evaluator
// does this before any key switch: otherwise c1 of an evaluated ciphertext is
// a public linear function of the plaintext multipliers it used.
func Rerandomize(params rlwe.Parameters, pk *rlwe.PublicKey, ct *rlwe.Ciphertext) error {
	z := rlwe.NewCiphertext(params, 1, ct.Level())
	z.IsNTT = ct.IsNTT
	if err := rlwe.NewEncryptor(params, pk).EncryptZero(z); err != nil {
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
