package upload

import (
	"fmt"
	"math"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// The homomorphic-encryption noise of the encrypted statistics (NOISE.md),
// which sets the key-switch flooding. The differential-privacy noise the
// owners add is dpnoise.go.

// noiseModel holds the parameter-dependent variances of NOISE.md section 2.
type noiseModel struct {
	params rlwe.Parameters
	// errVar is σ_e², the variance of one fresh error polynomial.
	errVar float64
	// freshVar is the fresh noise of a reconstructed upload: e_up + e_ev,
	// each centred binomial with variance ceil(2σ_e²)/2.
	freshVar float64
	// secretVar is the variance of one coefficient of one party's secret.
	secretVar float64
	// parties is the number of key holders: the Galois and public keys
	// carry one error and one secret per key holder.
	parties float64
	// sessions is how many evaluated sessions may be summed (one per
	// uploading owner); each brings its own trace and re-randomization.
	sessions float64
}

func newNoiseModel(params rlwe.Parameters, cfg PlanConfig) (noiseModel, error) {
	nm := noiseModel{params: params, parties: float64(max(cfg.KeyHolders, cfg.Parties)), sessions: float64(max(cfg.Parties-1, 1))}
	switch xe := params.Xe().(type) {
	case ring.DiscreteGaussian:
		nm.errVar = xe.Sigma * xe.Sigma
	default:
		return nm, fmt.Errorf("%w: error distribution %T is not a discrete Gaussian", ErrInvalidConfig, xe)
	}
	switch xs := params.Xs().(type) {
	case ring.Ternary:
		if xs.H != 0 {
			nm.secretVar = float64(xs.H) / float64(params.N())
		} else {
			nm.secretVar = xs.P
		}
	case ring.DiscreteGaussian:
		nm.secretVar = xs.Sigma * xs.Sigma
	default:
		return nm, fmt.Errorf("%w: secret distribution %T not supported", ErrInvalidConfig, xs)
	}
	// Both sides' upload errors come from the centred binomial sampler.
	nm.freshVar = 2 * float64(cbdEta(math.Sqrt(nm.errVar))) / 2
	return nm, nil
}

// errorSigma is the standard deviation of the parameters' error
// distribution (validated to be a discrete Gaussian by NewPlan).
func errorSigma(params rlwe.Parameters) float64 {
	if xe, ok := params.Xe().(ring.DiscreteGaussian); ok {
		return xe.Sigma
	}
	return 0
}

// keySwitchStd is the standard deviation of the noise one hybrid key switch
// (RNS gadget decomposition into digits of len(P) primes, centred digits,
// collective Galois key whose error is the sum of every party's error, then
// division by P) adds to each coefficient of a ciphertext at the level.
func (nm noiseModel) keySwitchStd(level int) float64 {
	q, pm := nm.params.Q(), nm.params.P()
	n := float64(nm.params.N())
	logP := 0.0
	for _, v := range pm {
		logP += math.Log2(float64(v))
	}
	gkVar := nm.parties * nm.errVar
	var sum float64
	for start := 0; start <= level; start += len(pm) {
		logD := 0.0
		for k := start; k < start+len(pm) && k <= level; k++ {
			logD += math.Log2(float64(q[k]))
		}
		// digit in [-D/2, D/2): variance D²/12; divided by P.
		sum += math.Exp2(2*(logD-logP)) / 12 * n * gkVar
	}
	// rounding of the division by P: r0 + r1·s with r uniform in [-1/2, 1/2].
	sum += (1 + n*nm.parties*nm.secretVar) / 12
	return math.Sqrt(sum)
}

// traceStd bounds the standard deviation of the key-switch noise the full
// Trace leaves in the constant coefficient: the switch of step i is doubled
// by each of the logN-1-i steps after it, Σ_i 4^i = (4^logN − 1)/3. Other
// coefficients get less (they are not fixed by the automorphisms).
func (nm noiseModel) traceStd(level int) float64 {
	logN := float64(nm.params.LogN())
	return nm.keySwitchStd(level) * math.Sqrt((math.Exp2(2*logN)-1)/3)
}

// rerandStd bounds the noise of a fresh public-key encryption of zero under
// the collective key, u·e_cpk + e_0 + e_1·s, ignoring the division by P that
// Lattigo applies (so it is an upper bound).
func (nm noiseModel) rerandStd() float64 {
	n := float64(nm.params.N())
	return math.Sqrt(n*nm.secretVar*nm.parties*nm.errVar + nm.errVar + n*nm.errVar*nm.parties*nm.secretVar)
}

// fixStd is σ_fix: the data-independent noise of a final ciphertext, the
// sum of up to `sessions` evaluated sessions.
func (nm noiseModel) fixStd(level int) float64 {
	t, r := nm.traceStd(level), nm.rerandStd()
	return math.Sqrt(nm.sessions * (t*t + r*r))
}
