package crypto

import (
	"errors"
	"testing"
)

func TestPresets(t *testing.T) {
	for _, name := range PresetNames() {
		t.Run(name, func(t *testing.T) {
			p, err := LookupPreset(name)
			if err != nil {
				t.Fatal(err)
			}
			params, err := p.Parameters()
			if err != nil {
				t.Fatal(err)
			}
			if !p.Insecure {
				// HE standard, ternary secret, 128-bit classical: max logQP per logN.
				maxLogQP := map[int]float64{12: 109, 13: 218, 14: 438, 15: 881}[params.LogN()]
				if maxLogQP == 0 || params.LogQP() > maxLogQP {
					t.Fatalf("preset %s: logQP=%.1f exceeds the 128-bit bound %.0f at logN=%d", name, params.LogQP(), maxLogQP, params.LogN())
				}
				if p.SecurityBits < 128 {
					t.Fatalf("preset %s states %d-bit security", name, p.SecurityBits)
				}
			}
			if params.MaxLevel() != 1 {
				t.Fatalf("preset %s: want 2 Q primes, got %d", name, params.MaxLevel()+1)
			}
		})
	}
	if _, err := LookupPreset("nope"); !errors.Is(err, ErrUnknownPreset) {
		t.Fatalf("unknown preset: got %v", err)
	}
}
