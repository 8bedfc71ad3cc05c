package aggregate

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
)

// codes extracts the per-coefficient low codes of a block (the only part
// of the payload that could carry the value's high bits).
func codes(t *testing.T, p *Plan, b *Block) []uint64 {
	t.Helper()
	rns := newRNSConsts(p.params)
	var r bitReader
	r.reset(b.Payload)
	out := make([]uint64, p.params.N())
	for i := range out {
		out[i] = r.read(uint(b.LowBits))
		for k := 1; k <= b.Level; k++ {
			r.read(rns.width[k])
		}
	}
	return out
}

// TestUploadHidesValues checks that the upload bytes carry no encoding of
// the values in the clear: the same values under two different secret
// shares give unrelated payloads, and a block of all-maximal values looks
// as uniform as a block of zeros.
func TestUploadHidesValues(t *testing.T) {
	k := keysFor(t, crypto.PresetTest)
	plan := testPlan(t, k)
	n := k.params.N()
	vals := make([]int64, n)
	for i := range vals {
		vals[i] = 50 // column 1 at its bound
	}
	encrypt := func(share int, v []int64) *Block {
		up, err := NewUploader(plan, k.shares[share], testSeed)
		if err != nil {
			t.Fatal(err)
		}
		var b Block
		if err := up.EncryptBlock(1, 0, v, &b); err != nil {
			t.Fatal(err)
		}
		return &b
	}
	a, b := codes(t, plan, encrypt(uploadShare, vals)), codes(t, plan, encrypt(evalShare, vals))
	same := 0
	for i := range a {
		if a[i] == b[i] {
			same++
		}
	}
	if same > n/100 {
		t.Errorf("%d of %d coefficients identical under different secret shares", same, n)
	}
	// Uniformity of the top 4 bits of the codes: each of the 16 buckets
	// holds n/16 ± 6σ coefficients whatever the values are.
	for _, v := range [][]int64{vals, make([]int64, n)} {
		var hist [16]int
		low := plan.Column(1).LowBits
		for _, c := range codes(t, plan, encrypt(uploadShare, v)) {
			hist[c>>(low-4)]++
		}
		mean := float64(n) / 16
		sd := math.Sqrt(mean * 15 / 16)
		for bucket, h := range hist {
			if math.Abs(float64(h)-mean) > 6*sd {
				t.Errorf("bucket %d holds %d codes, expected %.0f ± %.0f", bucket, h, mean, 6*sd)
			}
		}
	}
}

func TestUploadRejects(t *testing.T) {
	k := keysFor(t, crypto.PresetTest)
	plan := testPlan(t, k)
	up, err := NewUploader(plan, k.shares[uploadShare], testSeed)
	if err != nil {
		t.Fatal(err)
	}
	var b Block
	if err := up.EncryptBlock(0, 0, []int64{1, 0, 1}, &b); err != nil {
		t.Fatal(err)
	}
	cp, err := up.ShallowCopy()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		up   *Uploader
		col  int
		blk  int
		vals []int64
		want error
	}{
		{"same-block-again", up, 0, 0, []int64{1}, ErrDuplicateBlock},
		{"same-block-from-copy", cp, 0, 0, []int64{1}, ErrDuplicateBlock},
		{"above-bound", up, 0, 1, []int64{2}, ErrOutOfBounds},
		{"negative", up, 1, 1, []int64{-1}, ErrOutOfBounds},
		{"unknown-column", up, 3, 0, []int64{1}, ErrInvalidCircuit},
		{"too-many-records", up, 1, 2, make([]int64, k.params.N()+1), ErrInvalidLayout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.up.EncryptBlock(tc.col, tc.blk, tc.vals, &b); !errors.Is(err, tc.want) {
				t.Errorf("EncryptBlock error = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := NewUploader(plan, k.shares[uploadShare], make([]byte, 8)); !errors.Is(err, ErrInvalidSeed) {
		t.Errorf("short seed accepted: %v", err)
	}
	if _, err := NewUploader(plan, nil, testSeed); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("nil key accepted: %v", err)
	}
}

// TestUploadEmitError stops the upload at the first failing emit.
func TestUploadEmitError(t *testing.T) {
	k := keysFor(t, crypto.PresetTest)
	plan := testPlan(t, k)
	up, err := NewUploader(plan, k.shares[uploadShare], testSeed)
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stream closed")
	err = up.Upload(context.Background(), 0, make([]int64, 5*k.params.N()), 2, func(*Block) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("Upload error = %v, want the emit error", err)
	}
}
