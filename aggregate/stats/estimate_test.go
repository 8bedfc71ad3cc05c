package stats

import (
	"math"
	"testing"
)

func TestNewEstimateScales(t *testing.T) {
	for _, tc := range []struct {
		sc             Scale
		name           string
		value          float64
		wantLo, wantHi float64
	}{
		{Linear, "linear", 2, 2 - Z95*0.5, 2 + Z95*0.5},
		{Log, "log", 2, 2 * math.Exp(-Z95*0.5), 2 * math.Exp(Z95*0.5)},
		{FisherZ, "fisher-z", 0.3, math.Tanh(math.Atanh(0.3) - Z95*0.5), math.Tanh(math.Atanh(0.3) + Z95*0.5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Variances 0.09 + 0.16 = 0.25: SE 0.5, split 0.3 / 0.4.
			e := newEstimate(tc.value, 0.09, 0.16, tc.sc)
			near(t, "SE", e.SE, 0.5, 1e-15)
			near(t, "SamplingSE", e.SamplingSE, 0.3, 1e-15)
			near(t, "NoiseSE", e.NoiseSE, 0.4, 1e-15)
			near(t, "lo", e.Lo, tc.wantLo, 1e-15)
			near(t, "hi", e.Hi, tc.wantHi, 1e-15)
			if e.Scale.String() != tc.name {
				t.Errorf("Scale.String() = %q, want %q", e.Scale.String(), tc.name)
			}
		})
	}
	if s := Scale(9).String(); s != "Scale(9)" {
		t.Errorf("unknown scale prints %q", s)
	}
}
