package aggregate

import (
	"errors"
	"math"
	"testing"

	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/crypto/upload"
)

func TestSessionPadding(t *testing.T) {
	sigma, margin, err := SessionPadding(1, 1e-6, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	rho, _ := dp.ZCDPRho(1, 1e-6)
	if got := dp.GaussianRho(1, sigma); math.Abs(got-rho*SizeRhoShare)/(rho*SizeRhoShare) > 1e-6 {
		t.Errorf("σ %v costs ρ %v, want %v", sigma, got, rho*SizeRhoShare)
	}
	if margin != int(math.Ceil(sizeTailSigmas*sigma)) || sigma < 10 || sigma > 100 {
		t.Errorf("σ %v, margin %d", sigma, margin)
	}
	// Three pooled sessions: sensitivity √3 (a retailer-only customer is
	// in every union).
	s3, _, err := SessionPadding(1, 1e-6, false, 3)
	if err != nil || math.Abs(s3/sigma-math.Sqrt(3)) > 1e-9 {
		t.Errorf("3 sessions: σ %v (%v), want √3 × %v", s3, err, sigma)
	}
	if s, m, err := SessionPadding(0, 0, true, 1); s != 0 || m != 0 || err != nil {
		t.Errorf("exact: %v %v %v", s, m, err)
	}
	if _, _, err := SessionPadding(1, 1e-6, false, 0); !errors.Is(err, ErrInvalidQuery) {
		t.Errorf("0 sessions: %v", err)
	}
	for _, tc := range []struct {
		union, margin int
		z             int64
		want          int
	}{
		{1000, 300, 0, 1300}, {1000, 300, -299, 1001}, {1000, 300, -5000, 1000}, {1000, 300, 5000, 1600}, {0, 0, 0, 0},
	} {
		if got := PaddedSize(tc.union, tc.margin, tc.z); got != tc.want {
			t.Errorf("PaddedSize(%d, %d, %d) = %d, want %d", tc.union, tc.margin, tc.z, got, tc.want)
		}
		if err := CheckPadded(tc.union, tc.want, tc.margin); err != nil {
			t.Error(err)
		}
	}
	for _, padded := range []int{999, 1601} {
		if err := CheckPadded(1000, padded, 300); !errors.Is(err, upload.ErrInvalidLayout) {
			t.Errorf("CheckPadded(1000, %d, 300): %v", padded, err)
		}
	}
}

// TestPaddedSizeNoise: the padded sizes of one union, drawn as the
// evaluator draws them, spread with the calibrated σ around union+margin.
func TestPaddedSizeNoise(t *testing.T) {
	sigma, margin, err := SessionPadding(1, 1e-6, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := dp.Sigma2(sigma)
	if err != nil {
		t.Fatal(err)
	}
	sampler := dp.NewSampler(nil)
	const draws, union = 4000, 5000
	var sum, sq float64
	for range draws {
		z, err := sampler.DiscreteGaussian(s2)
		if err != nil {
			t.Fatal(err)
		}
		v := float64(PaddedSize(union, margin, z) - union - margin)
		sum, sq = sum+v, sq+v*v
	}
	mean := sum / draws
	sd := math.Sqrt(sq/draws - mean*mean)
	// SE of the mean σ/63, of the SD about σ/89: 5 SE bounds.
	if math.Abs(mean) > 5*sigma/63 || math.Abs(sd/sigma-1) > 5.0/89 {
		t.Errorf("padding noise mean %.2f SD %.2f, want 0 and σ %.2f", mean, sd, sigma)
	}
}
