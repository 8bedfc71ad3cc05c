package upload

import (
	"bytes"
	"errors"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// testSeed is a session seed of the right size.
var testSeed = []byte("upload test session seed 0000001")

func TestCRPFreshPerColumnBlockAndSeed(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	r := params.RingQ()
	src, err := newCRPSource(testSeed)
	if err != nil {
		t.Fatal(err)
	}
	other := bytes.Clone(testSeed)
	other[0] ^= 1
	src2, err := newCRPSource(other)
	if err != nil {
		t.Fatal(err)
	}
	read := func(s crpSource, col, blk int) ring.Poly {
		a := r.NewPoly()
		if err := s.read(params.Q(), col, blk, a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	// Every (column, block) pair, including pairs whose naive
	// concatenation would collide, gets its own polynomial.
	seen := map[uint64][2]int{}
	for col := 0; col < 4; col++ {
		for blk := 0; blk < 40; blk++ {
			a, again := read(src, col, blk), read(src, col, blk)
			if !a.Equal(&again) {
				t.Fatalf("a(%d,%d) is not deterministic", col, blk)
			}
			// Fingerprint by the first coefficient of each limb.
			fp := a.Coeffs[0][0] ^ a.Coeffs[1][0]<<1
			if prev, ok := seen[fp]; ok {
				t.Fatalf("a(%d,%d) repeats a%v", col, blk, prev)
			}
			seen[fp] = [2]int{col, blk}
			b := read(src2, col, blk)
			if a.Equal(&b) {
				t.Fatalf("a(%d,%d) does not depend on the seed", col, blk)
			}
		}
	}
	if len(seen) != 160 {
		t.Fatalf("%d distinct polynomials, want 160", len(seen))
	}
}

func TestCRPRejectsBadSeeds(t *testing.T) {
	for _, seed := range [][]byte{nil, make([]byte, 31), make([]byte, 33), make([]byte, SeedSize)} {
		if _, err := newCRPSource(seed); !errors.Is(err, ErrInvalidSeed) {
			t.Errorf("seed of %d bytes: error %v, want ErrInvalidSeed", len(seed), err)
		}
	}
}
