package stats

import (
	"fmt"
	"math"
)

// Z95 is the standard normal quantile for a two-sided 95 % interval.
const Z95 = 1.959963984540054

// Scale names the scale on which an interval was built and on which the
// standard errors of an Estimate are expressed.
type Scale int

const (
	// Linear: Lo, Hi = Value ∓ Z95·SE.
	Linear Scale = iota
	// Log: Lo, Hi = Value·exp(∓Z95·SE); SE is the standard error of log(Value).
	Log
	// FisherZ: Lo, Hi = tanh(atanh(Value) ∓ Z95·SE); SE is the standard
	// error of atanh(Value).
	FisherZ
)

// String returns the scale's name as used in reports.
func (s Scale) String() string {
	switch s {
	case Linear:
		return "linear"
	case Log:
		return "log"
	case FisherZ:
		return "fisher-z"
	}
	return fmt.Sprintf("Scale(%d)", int(s))
}

// Estimate is a point estimate with its 95 % confidence interval and the
// split of its standard error into the sampling part and the part due to
// the DP noise, so a report can say how much of the width privacy costs.
// SE = sqrt(SamplingSE² + NoiseSE²), all three on Scale.
type Estimate struct {
	Value      float64
	Lo, Hi     float64
	SE         float64
	SamplingSE float64
	NoiseSE    float64
	Scale      Scale
}

// newEstimate builds the interval for value from the two variance parts on
// the given scale.
func newEstimate(value, samplingVar, noiseVar float64, sc Scale) Estimate {
	e := Estimate{
		Value:      value,
		SamplingSE: math.Sqrt(samplingVar),
		NoiseSE:    math.Sqrt(noiseVar),
		SE:         math.Sqrt(samplingVar + noiseVar),
		Scale:      sc,
	}
	half := Z95 * e.SE
	switch sc {
	case Log:
		e.Lo, e.Hi = value*math.Exp(-half), value*math.Exp(half)
	case FisherZ:
		z := math.Atanh(value)
		e.Lo, e.Hi = math.Tanh(z-half), math.Tanh(z+half)
	default:
		e.Lo, e.Hi = value-half, value+half
	}
	return e
}

// finite reports an error naming the first argument that is NaN or ±Inf.
// names[i] names vals[i]; a shorter names reuses its last entry, so one name
// can cover a whole row of a matrix.
func finite(names []string, vals ...float64) error {
	for i, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s: %w", nameAt(names, i), ErrNotFinite)
		}
	}
	return nil
}

func nameAt(names []string, i int) string {
	if i < len(names) {
		return names[i]
	}
	return names[len(names)-1]
}

// noiseOK checks that noise standard deviations are finite and non-negative.
func noiseOK(names []string, sigmas ...float64) error {
	if err := finite(names, sigmas...); err != nil {
		return fmt.Errorf("noise %w", err)
	}
	for i, s := range sigmas {
		if s < 0 {
			return fmt.Errorf("noise %s: %w", nameAt(names, i), ErrNegativeNoise)
		}
	}
	return nil
}
