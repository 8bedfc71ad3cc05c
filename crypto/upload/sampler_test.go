package upload

import (
	"math"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
)

func TestCBDSampler(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	r := params.RingQ()
	q := params.Q()
	s, err := newCBDSampler(3.2)
	if err != nil {
		t.Fatal(err)
	}
	if s.eta != 21 {
		t.Fatalf("eta = %d, want 21 for σ = 3.2", s.eta)
	}
	var sum, sum2 float64
	var count int
	for rep := 0; rep < 16; rep++ {
		p := r.NewPoly()
		s.readAndAdd(q, p)
		for i := range p.Coeffs[0] {
			// Centred value from limb 0; every limb must agree.
			v := int64(p.Coeffs[0][i])
			if p.Coeffs[0][i] > q[0]/2 {
				v -= int64(q[0])
			}
			if v < -21 || v > 21 {
				t.Fatalf("error %d outside [-21, 21]", v)
			}
			want1 := uint64(v)
			if v < 0 {
				want1 = q[1] - uint64(-v)
			}
			if p.Coeffs[1][i] != want1 {
				t.Fatalf("limbs disagree at %d", i)
			}
			sum += float64(v)
			sum2 += float64(v * v)
			count++
		}
	}
	mean, variance := sum/float64(count), sum2/float64(count)
	if math.Abs(mean) > 0.1 || math.Abs(variance-10.5) > 0.5 {
		t.Errorf("mean %.3f variance %.3f, want 0 and 10.5", mean, variance)
	}
	// Adding to reduced values near the modulus keeps them reduced.
	p := r.NewPoly()
	for l := range p.Coeffs {
		for i := range p.Coeffs[l] {
			p.Coeffs[l][i] = q[l] - 1 - uint64(i%3)
		}
	}
	s.readAndAdd(q, p)
	for l := range p.Coeffs {
		for _, c := range p.Coeffs[l] {
			if c >= q[l] {
				t.Fatalf("coefficient %d not reduced mod q_%d", c, l)
			}
		}
	}
}

func TestUniformSampler(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	q := params.Q()
	ks, err := newKeystream(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	a := params.RingQ().NewPoly()
	ks.readUniform(q, a)
	for l := range a.Coeffs {
		var hi int
		for _, c := range a.Coeffs[l] {
			if c >= q[l] {
				t.Fatalf("coefficient not below q_%d", l)
			}
			if c >= q[l]/2 {
				hi++
			}
		}
		// Half of the coefficients in the upper half, within 6σ.
		n := float64(len(a.Coeffs[l]))
		if math.Abs(float64(hi)-n/2) > 6*math.Sqrt(n/4) {
			t.Errorf("limb %d: %d of %.0f in the upper half", l, hi, n)
		}
	}
}
