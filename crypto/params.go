package crypto

import (
	"errors"
	"fmt"
	"sort"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// ErrUnknownPreset is returned for a parameter preset name that does not exist.
var ErrUnknownPreset = errors.New("crypto: unknown parameter preset")

// Preset is a named, fixed set of RLWE parameters that every node of a
// federation must agree on. Its name travels in the setup handshake so that
// nodes on different presets refuse to run key generation together.
type Preset struct {
	// Name identifies the preset in configuration files and on the wire.
	Name string
	// Literal is the Lattigo parameter literal the preset instantiates.
	Literal rlwe.ParametersLiteral
	// SecurityBits is the classical security level by the HE standard
	// bound for a ternary secret (0 for presets that are insecure on purpose).
	SecurityBits int
	// Insecure marks presets that exist only to make unit tests fast.
	Insecure bool
	// Note says what the preset is for.
	Note string
}

// PresetCoef13 is the production preset (docs/architecture.md): coefficient
// encoding in the standard ring of degree N = 2^13, Q = two 60-bit primes,
// P = one 61-bit prime. log2(QP) = 181 is below the 218 bits the
// HomomorphicEncryption.org standard allows at N = 8192 for 128-bit
// classical security with a ternary secret and σ = 3.2.
const PresetCoef13 = "coef13"

// PresetTest is an insecure preset (N = 2^10, same moduli as coef13) used only
// by unit tests; nodes refuse it unless their configuration explicitly allows
// insecure parameters.
const PresetTest = "insecure-test"

var presets = map[string]Preset{
	PresetCoef13: {
		Name: PresetCoef13,
		Literal: rlwe.ParametersLiteral{
			LogN:     13,
			LogQ:     []int{60, 60},
			LogP:     []int{61},
			RingType: ring.Standard,
			NTTFlag:  true,
		},
		SecurityBits: 128,
		Note:         "coefficient encoding, logN=13, Q=2x60 bits, P=61 bits (logQP=181 <= 218: 128-bit)",
	},
	PresetTest: {
		Name: PresetTest,
		Literal: rlwe.ParametersLiteral{
			LogN:     10,
			LogQ:     []int{60, 60},
			LogP:     []int{61},
			RingType: ring.Standard,
			NTTFlag:  true,
		},
		Insecure: true,
		Note:     "INSECURE: logN=10 with the coef13 moduli, for unit tests only",
	},
}

// LookupPreset returns the preset with the given name.
func LookupPreset(name string) (Preset, error) {
	p, ok := presets[name]
	if !ok {
		return Preset{}, fmt.Errorf("%w %q (known: %v)", ErrUnknownPreset, name, PresetNames())
	}
	return p, nil
}

// PresetNames lists the known preset names in sorted order.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Parameters instantiates the preset.
func (p Preset) Parameters() (rlwe.Parameters, error) {
	params, err := rlwe.NewParametersFromLiteral(p.Literal)
	if err != nil {
		return rlwe.Parameters{}, fmt.Errorf("crypto: preset %s: %w", p.Name, err)
	}
	return params, nil
}

// MustParameters is Parameters for presets known to be valid at compile time;
// it is used by tests and benchmarks only.
func MustParameters(name string) rlwe.Parameters {
	p, err := LookupPreset(name)
	if err != nil {
		panic(err)
	}
	params, err := p.Parameters()
	if err != nil {
		panic(err)
	}
	return params
}
