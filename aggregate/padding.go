package aggregate

import (
	"fmt"
	"math"

	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/crypto/upload"
)

// Session sizes under differential privacy. The union of the evaluator's
// and an uploader's records is known to both of them (it is what private
// matching gives each), but not to the querier. The querier must compile
// the same plan as the owners, and the plan is sized by an upper bound on
// the records; the upload's size and the evaluation's work also follow the
// number of rows. So every session of a DP query is laid out over a padded
// size
//
//	padded = clamp(union + margin + Z, union, union + 2·margin),  Z ~ N_Z(0, σ²)
//
// with the rows past the union all zero (no member, no value), and the
// querier learns only the sum of the padded sizes. Z is a discrete Gaussian
// drawn by the evaluator with σ calibrated to SizeRhoShare of the query's
// zCDP budget ρ at L2 sensitivity √sessions (one retailer-only customer is
// in every pooled session's union). The clamp changes the mechanism's
// output only when |Z| > margin = ⌈8σ⌉, an event of probability below
// 10^-14, which adds that much to δ. Statistics are compiled with the rest
// of ρ (Compiled.Rho), so the query as a whole is (ε, δ)-DP.

// SizeRhoShare is the share of a DP query's ρ spent on its padded session
// sizes. At ε = 1, δ = 10^-6 and one session it gives σ ≈ 32 records, and
// costs the statistics 1 % more noise.
const SizeRhoShare = 0.02

// sizeTailSigmas is the margin of a padded size in units of its noise σ.
const sizeTailSigmas = 8

// SessionPadding returns the noise σ of each session's padded size and the
// margin for a query at (eps, delta) with the given number of sessions
// (pooled y owners). Exact queries are not padded: (0, 0).
func SessionPadding(eps, delta float64, exact bool, sessions int) (sigma float64, margin int, err error) {
	if exact {
		return 0, 0, nil
	}
	if sessions < 1 || sessions > maxOwners {
		return 0, 0, fmt.Errorf("%w: %d sessions", ErrInvalidQuery, sessions)
	}
	rho, err := dp.ZCDPRho(eps, delta)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: privacy cost: %w", ErrInvalidQuery, err)
	}
	sigma = dp.SigmaForRho(math.Sqrt(float64(sessions)), rho*SizeRhoShare)
	m := math.Ceil(sizeTailSigmas * sigma)
	if math.IsNaN(m) || m > 1<<30 {
		return 0, 0, fmt.Errorf("%w: ε %g is too small to pad the session sizes (σ %.3g records)", ErrInvalidQuery, eps, sigma)
	}
	return sigma, int(m), nil
}

// PaddedSize is the padded size of a session of union records with noise
// z drawn at the margin of SessionPadding.
func PaddedSize(union, margin int, z int64) int {
	p := int64(union) + int64(margin) + z
	return int(min(max(p, int64(union)), int64(union)+2*int64(margin)))
}

// CheckPadded reports whether padded is a size SessionPadding's mechanism
// can give a session of union records with that margin.
func CheckPadded(union, padded, margin int) error {
	if padded < union || padded > union+2*margin {
		return fmt.Errorf("%w: session padded to %d rows, its union has %d and the margin is %d", upload.ErrInvalidLayout, padded, union, margin)
	}
	return nil
}
