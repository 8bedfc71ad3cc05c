package stats

import (
	"fmt"
)

// Bucket holds the noisy totals of one bucket of a rate query (for example
// one spend quartile): the number of claims and the exposure they occurred
// over (person-months insured, or a head count), with the DP noise standard
// deviation of each.
type Bucket struct {
	Claims, Exposure           float64
	ClaimsNoise, ExposureNoise float64
}

// BucketRate is the rate of one bucket and its relative risk against the
// reference bucket.
type BucketRate struct {
	Rate Estimate
	RR   Estimate
}

var bucketNames = []string{"claims", "exposure"}

func (b Bucket) logVar() (rate, samp, dp float64, err error) {
	if err := finite(bucketNames, b.Claims, b.Exposure); err != nil {
		return 0, 0, 0, err
	}
	if err := noiseOK(bucketNames, b.ClaimsNoise, b.ExposureNoise); err != nil {
		return 0, 0, 0, err
	}
	if !(b.Claims > 0) || !(b.Exposure > 0) {
		return 0, 0, 0, ErrNonPositiveCount
	}
	samp = 1 / b.Claims
	dp = sq(b.ClaimsNoise/b.Claims) + sq(b.ExposureNoise/b.Exposure)
	return b.Claims / b.Exposure, samp, dp, nil
}

// Rate returns claims/exposure with a 95 % Wald interval on the log scale.
//
// Sampling variance of log(rate): 1/C, treating the claim count C as
// Poisson over a fixed exposure E (for a head-count denominator this is the
// Poisson approximation to the binomial and errs on the wide side). DP
// variance by the delta method on log C − log E:
//
//	Var_dp(log rate) = σ_C²/C² + σ_E²/E².
//
// A noisy claim count or exposure ≤ 0 returns ErrNonPositiveCount; such a
// bucket is too small to report and should be merged with a neighbour.
func Rate(b Bucket) (Estimate, error) {
	rate, samp, dp, err := b.logVar()
	if err != nil {
		return Estimate{}, fmt.Errorf("rate: %w", err)
	}
	return newEstimate(rate, samp, dp, Log), nil
}

// RelativeRisk returns rate(b)/rate(ref) with a 95 % interval on the log
// scale; the buckets are disjoint groups, so the variances of the two log
// rates (sampling and DP parts separately) add.
func RelativeRisk(b, ref Bucket) (Estimate, error) {
	rb, sb, db, err := b.logVar()
	if err != nil {
		return Estimate{}, fmt.Errorf("relative risk: bucket: %w", err)
	}
	rr, sr, dr, err := ref.logVar()
	if err != nil {
		return Estimate{}, fmt.Errorf("relative risk: reference: %w", err)
	}
	return newEstimate(rb/rr, sb+sr, db+dr, Log), nil
}

// Rates returns the rate of every bucket and its relative risk against
// buckets[ref]. The reference bucket's own relative risk is exactly 1 with a
// zero-width interval. Any degenerate bucket fails the call with an error
// naming its index; call Rate per bucket to report the others.
func Rates(buckets []Bucket, ref int) ([]BucketRate, error) {
	if ref < 0 || ref >= len(buckets) {
		return nil, fmt.Errorf("rates: %w", ErrBadReference)
	}
	out := make([]BucketRate, len(buckets))
	for i, b := range buckets {
		rate, err := Rate(b)
		if err != nil {
			return nil, fmt.Errorf("rates: bucket %d: %w", i, err)
		}
		out[i].Rate = rate
	}
	for i, b := range buckets {
		if i == ref {
			out[i].RR = Estimate{Value: 1, Lo: 1, Hi: 1, Scale: Log}
			continue
		}
		rr, err := RelativeRisk(b, buckets[ref])
		if err != nil {
			return nil, fmt.Errorf("rates: bucket %d: %w", i, err)
		}
		out[i].RR = rr
	}
	return out, nil
}
