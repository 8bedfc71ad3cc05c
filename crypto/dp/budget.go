package dp

import (
	"errors"
	"fmt"
)

// The privacy cost (ε, δ) a query may declare. Every ε and δ that comes
// from a peer or a file is checked against these ranges (CheckBudget)
// before any calibration runs. Outside them a guarantee means nothing (a
// huge ε or δ) or asks for noise no data set could carry (a tiny ε), and
// the floating-point calibration was never meant for them: near ε = 1e-15,
// √(L+ε) − √L rounds to 0, which once sent ZCDPRho into an endless loop.
// docs/privacy.md explains the choice.
const (
	// MinEpsilon is the smallest ε of a noised query. Its noise is a
	// million times that of ε = 1, far beyond what any data set holds.
	MinEpsilon = 1e-6
	// MaxEpsilon is the largest ε of a query. At ε = 1000 the guarantee
	// bounds a likelihood ratio by e^1000, which is no guarantee at all;
	// anything larger is a noise-free query under another name.
	MaxEpsilon = 1e3
	// MinDelta is the smallest δ of a noised query. The zCDP conversion
	// needs δ > 0, and the budget ledger counts δ in units of 1e-15, so a
	// smaller δ could not be charged as declared.
	MinDelta = 1e-15
	// MaxDelta is the largest δ of a query. δ bounds the chance that the
	// guarantee fails outright (a mechanism with δ = 1/n may publish one
	// random person's record), so it belongs far below 1/n; 0.01 is
	// already generous.
	MaxDelta = 1e-2
)

// ErrBudgetRange reports a privacy cost outside the ranges above.
var ErrBudgetRange = errors.New("dp: privacy cost out of range")

// CheckBudget reports whether a noised query may declare the privacy cost
// (eps, delta): ε in [MinEpsilon, MaxEpsilon] and δ in [MinDelta,
// MaxDelta]. NaN and infinities are refused. The error wraps
// ErrBudgetRange and names the value and its range.
func CheckBudget(eps, delta float64) error {
	if err := checkEpsilon(eps); err != nil {
		return err
	}
	return checkRange("delta", delta, MinDelta, MaxDelta)
}

// CheckExactBudget is CheckBudget for a query released without noise. Such
// a query has no differential-privacy guarantee and so no privacy cost to
// charge (each owner gates it with its own policy instead): ε and δ must
// both be 0, so that nobody believes a declared ε protects it.
func CheckExactBudget(eps, delta float64) error {
	if eps != 0 || delta != 0 {
		return fmt.Errorf("%w: an exact query is released without noise and has no privacy cost; leave epsilon and delta out (epsilon %v, delta %v given)", ErrBudgetRange, eps, delta)
	}
	return nil
}

func checkEpsilon(eps float64) error { return checkRange("epsilon", eps, MinEpsilon, MaxEpsilon) }

func checkRange(name string, v, lo, hi float64) error {
	// Negated, so that NaN fails it too.
	if !(v >= lo && v <= hi) {
		return fmt.Errorf("%w: %s %g is outside [%g, %g]", ErrBudgetRange, name, v, lo, hi)
	}
	return nil
}
