package dp

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/bits"
)

var (
	// ErrInvalidParameter reports a noise scale that is not a positive finite number.
	ErrInvalidParameter = errors.New("dp: invalid parameter")
	// ErrRandomness reports a failure of the Sampler's random source.
	ErrRandomness = errors.New("dp: reading randomness")
	// ErrOverflow reports a sample that does not fit an int64; it can only
	// happen with absurd scales (beyond 2^60), never on a sane release path.
	ErrOverflow = errors.New("dp: sample out of int64 range")
	// ErrNoConvergence reports a calibration whose search found no answer
	// within its iteration cap.
	ErrNoConvergence = errors.New("dp: calibration did not converge")
)

// maxTries caps every loop of the Sampler. Each try of a rejection loop
// ends it with probability above 1/3 whatever the scale (the discrete
// Gaussian's acceptance is 0.46 to 0.76 from σ² = 2^-40 to 2^80), and
// bernoulliExp1 reaches try k with probability below 1/(k−1)!, so a random
// source reaches the cap with probability below 2^-500. A broken source
// (constant bytes, say) reaches it and gets ErrRandomness where it would
// otherwise spin forever.
const maxTries = 1024

// errTries is what a loop that reached maxTries returns.
var errTries = fmt.Errorf("%w: no sample after %d tries; the source is not random", ErrRandomness, maxTries)

// sigmaDenominatorBits fixes the grid on which Sigma2 rounds σ upwards: the
// finer the grid the larger the integers in the sampler, and 2^-20 relative
// to a noise scale of order one is far below anything that matters.
const sigmaDenominatorBits = 20

// Sampler draws exact discrete noise using only uniform integers read from
// its source. It is not safe for concurrent use.
type Sampler struct {
	r   *bufio.Reader
	buf [8]byte

	one, two *big.Int
}

// NewSampler returns a Sampler reading from r; a nil r means crypto/rand,
// which is what every release path must use. Tests pass a keyed
// deterministic reader to get reproducible samples.
func NewSampler(r io.Reader) *Sampler {
	if r == nil {
		r = rand.Reader
	}
	return &Sampler{r: bufio.NewReaderSize(r, 4096), one: big.NewInt(1), two: big.NewInt(2)}
}

// Sigma2 returns an exact rational σ'² with σ' ≥ sigma the smallest multiple
// of 2^-20 not below sigma, so rounding never weakens the calibrated noise.
func Sigma2(sigma float64) (*big.Rat, error) {
	if math.IsNaN(sigma) || math.IsInf(sigma, 0) || sigma <= 0 || sigma > 1<<40 {
		return nil, fmt.Errorf("%w: sigma %v", ErrInvalidParameter, sigma)
	}
	num := new(big.Float).SetFloat64(sigma)
	num.SetMantExp(num, sigmaDenominatorBits)
	n, acc := num.Int(nil)
	if acc == big.Below {
		n.Add(n, big.NewInt(1))
	}
	den := new(big.Int).Lsh(big.NewInt(1), sigmaDenominatorBits)
	r := new(big.Rat).SetFrac(n, den)
	return r.Mul(r, r), nil
}

// DiscreteLaplace returns a sample of the discrete Laplace distribution with
// the given scale b: P[X = x] ∝ exp(−|x|/b) over the integers. Adding it to
// an integer aggregate of sensitivity Δ gives (Δ/b)-DP.
func (s *Sampler) DiscreteLaplace(scale *big.Rat) (int64, error) {
	if scale == nil || scale.Sign() <= 0 {
		return 0, fmt.Errorf("%w: laplace scale must be positive", ErrInvalidParameter)
	}
	// scale = t/s, so the geometric parameter is exp(-s/t).
	z, err := s.discreteLaplace(scale.Denom(), scale.Num())
	if err != nil {
		return 0, err
	}
	return toInt64(z)
}

// DiscreteGaussian returns a sample of the discrete Gaussian N_Z(0, σ²):
// P[X = x] ∝ exp(−x²/(2σ²)) over the integers, for a rational σ² > 0
// (Algorithm 3 of CKS20). Adding it to an integer aggregate of sensitivity Δ
// gives Δ²/(2σ²)-zCDP.
func (s *Sampler) DiscreteGaussian(sigma2 *big.Rat) (int64, error) {
	if sigma2 == nil || sigma2.Sign() <= 0 {
		return 0, fmt.Errorf("%w: sigma² must be positive", ErrInvalidParameter)
	}
	p, q := sigma2.Num(), sigma2.Denom() // σ² = p/q
	// t = ⌊σ⌋ + 1, and ⌊√(p/q)⌋ = ⌊√⌊p/q⌋⌋.
	t := new(big.Int).Quo(p, q)
	t.Sqrt(t)
	t.Add(t, s.one)

	// The rejection step needs exp(−(|y| − σ²/t)²/(2σ²)); with σ² = p/q that
	// is exp(−(|y|·q·t − p)² / (2·p·q·t²)), a ratio of integers.
	den := new(big.Int).Mul(t, t)
	den.Mul(den, p)
	den.Mul(den, q)
	den.Lsh(den, 1)
	qt := new(big.Int).Mul(q, t)
	num := new(big.Int)
	for range maxTries {
		y, err := s.discreteLaplace(s.one, t)
		if err != nil {
			return 0, err
		}
		num.Abs(y)
		num.Mul(num, qt)
		num.Sub(num, p)
		num.Mul(num, num)
		ok, err := s.bernoulliExp(num, den)
		if err != nil {
			return 0, err
		}
		if ok {
			return toInt64(y)
		}
	}
	return 0, errTries
}

// discreteLaplace samples P[Z = z] ∝ exp(−|z|·sn/td) (Algorithm 2 of CKS20
// in the form of its reference implementation: a sign and a geometric
// magnitude, rejecting the negative zero so that 0 is not counted twice).
func (s *Sampler) discreteLaplace(sn, td *big.Int) (*big.Int, error) {
	for range maxTries {
		neg, err := s.bernoulli(s.one, s.two)
		if err != nil {
			return nil, err
		}
		mag, err := s.geometricExp(sn, td)
		if err != nil {
			return nil, err
		}
		if neg && mag.Sign() == 0 {
			continue
		}
		if neg {
			mag.Neg(mag)
		}
		return mag, nil
	}
	return nil, errTries
}

// geometricExp samples a geometric variable with P[G = k] ∝ exp(−k·sn/td):
// U uniform in [0, td) accepted with probability exp(−U/td) and V geometric
// with parameter exp(−1) make V·td + U geometric with parameter exp(−1/td),
// and dividing by sn gives parameter exp(−sn/td).
func (s *Sampler) geometricExp(sn, td *big.Int) (*big.Int, error) {
	var u *big.Int
	for tries := 0; ; tries++ {
		if tries == maxTries {
			return nil, errTries
		}
		var err error
		if u, err = s.uniform(td); err != nil {
			return nil, err
		}
		ok, err := s.bernoulliExp(u, td)
		if err != nil {
			return nil, err
		}
		if ok {
			break
		}
	}
	v := new(big.Int)
	for tries := 0; ; tries++ {
		if tries == maxTries {
			return nil, errTries
		}
		ok, err := s.bernoulliExp1(s.one, s.one)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		v.Add(v, s.one)
	}
	v.Mul(v, td)
	v.Add(v, u)
	return v.Quo(v, sn), nil
}

// bernoulliExp returns true with probability exp(−num/den) for num/den ≥ 0
// (Algorithm 1 of CKS20): exp(−γ) = exp(−1)^⌊γ⌋ · exp(−(γ − ⌊γ⌋)).
func (s *Sampler) bernoulliExp(num, den *big.Int) (bool, error) {
	whole, frac := new(big.Int).QuoRem(num, den, new(big.Int))
	for tries := 0; whole.Sign() > 0; tries++ {
		if tries == maxTries {
			return false, errTries
		}
		ok, err := s.bernoulliExp1(s.one, s.one)
		if err != nil || !ok {
			return false, err
		}
		whole.Sub(whole, s.one)
	}
	return s.bernoulliExp1(frac, den)
}

// bernoulliExp1 returns true with probability exp(−γ), γ = num/den ∈ [0, 1]:
// draw Bernoulli(γ/k) for k = 1, 2, … until one fails; the index of the
// failure is odd with probability exactly exp(−γ).
func (s *Sampler) bernoulliExp1(num, den *big.Int) (bool, error) {
	dk := new(big.Int)
	for k := int64(1); k <= maxTries; k++ {
		dk.Mul(den, big.NewInt(k))
		ok, err := s.bernoulli(num, dk)
		if err != nil {
			return false, err
		}
		if !ok {
			return k%2 == 1, nil
		}
	}
	return false, errTries
}

// bernoulli returns true with probability num/den, 0 ≤ num ≤ den, den > 0.
func (s *Sampler) bernoulli(num, den *big.Int) (bool, error) {
	if num.Sign() == 0 {
		return false, nil
	}
	if den.IsUint64() {
		u, err := s.uniform64(den.Uint64())
		if err != nil {
			return false, err
		}
		return !num.IsUint64() || u < num.Uint64(), nil
	}
	u, err := s.uniform(den)
	if err != nil {
		return false, err
	}
	return u.Cmp(num) < 0, nil
}

// uniform returns a uniform integer in [0, n) for n > 0, by rejection from
// the smallest enclosing power of two (fewer than two draws on average).
func (s *Sampler) uniform(n *big.Int) (*big.Int, error) {
	if n.IsUint64() {
		u, err := s.uniform64(n.Uint64())
		if err != nil {
			return nil, err
		}
		return new(big.Int).SetUint64(u), nil
	}
	nbits := new(big.Int).Sub(n, s.one).BitLen()
	buf := make([]byte, (nbits+7)/8)
	top := byte(0xff >> (8*len(buf) - nbits))
	u := new(big.Int)
	for range maxTries {
		if _, err := io.ReadFull(s.r, buf); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRandomness, err)
		}
		buf[0] &= top
		u.SetBytes(buf)
		if u.Cmp(n) < 0 {
			return u, nil
		}
	}
	return nil, errTries
}

func (s *Sampler) uniform64(n uint64) (uint64, error) {
	if n <= 1 {
		return 0, nil
	}
	mask := uint64(math.MaxUint64) >> bits.LeadingZeros64(n-1)
	for range maxTries {
		if _, err := io.ReadFull(s.r, s.buf[:]); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrRandomness, err)
		}
		u := (uint64(s.buf[0]) | uint64(s.buf[1])<<8 | uint64(s.buf[2])<<16 | uint64(s.buf[3])<<24 |
			uint64(s.buf[4])<<32 | uint64(s.buf[5])<<40 | uint64(s.buf[6])<<48 | uint64(s.buf[7])<<56) & mask
		if u < n {
			return u, nil
		}
	}
	return 0, errTries
}

func toInt64(z *big.Int) (int64, error) {
	if !z.IsInt64() {
		return 0, ErrOverflow
	}
	return z.Int64(), nil
}
