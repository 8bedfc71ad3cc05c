package upload

import (
	"math/rand"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
)

func TestNTTMatchesLattigo(t *testing.T) {
	for _, preset := range []string{crypto.PresetTest, crypto.PresetCoef13} {
		params := crypto.MustParameters(preset)
		r := params.RingQ()
		rng := rand.New(rand.NewSource(3))
		for k, s := range r.SubRings {
			tab := newNTTTable(s)
			in := make([]uint64, params.N())
			for i := range in {
				in[i] = rng.Uint64() % s.Modulus
			}
			want := make([]uint64, len(in))
			s.NTT(in, want)
			lazy := append([]uint64(nil), in...)
			tab.forwardLazy(lazy)
			for i := range want {
				if lazy[i] >= 4*s.Modulus || lazy[i]%s.Modulus != want[i] {
					t.Fatalf("%s limb %d: lazy NTT differs at %d", preset, k, i)
				}
			}
			mont := append([]uint64(nil), in...)
			tab.forwardMont(mont)
			s.MForm(want, want)
			for i := range want {
				if mont[i] != want[i] {
					t.Fatalf("%s limb %d: Montgomery NTT differs at %d", preset, k, i)
				}
			}
		}
	}
}

func BenchmarkNTT(b *testing.B) {
	params := crypto.MustParameters(crypto.PresetCoef13)
	s := params.RingQ().SubRings[0]
	tab := newNTTTable(s)
	p := make([]uint64, params.N())
	b.Run("lattigo", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s.NTT(p, p)
		}
	})
	b.Run("harvey", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			tab.forwardLazy(p)
		}
	})
}
