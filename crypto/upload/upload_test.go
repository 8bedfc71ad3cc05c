package upload_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/upload"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
)

// TestUploadHidesValues checks that the upload bytes carry no encoding of
// the values in the clear: the same values under two different secret
// shares give unrelated payloads, and a block of all-maximal values looks
// as uniform as a block of zeros.
func TestUploadHidesValues(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	plan := testPlan(t, k)
	n := k.Params.N()
	vals := make([]int64, n)
	for i := range vals {
		vals[i] = 50 // column 1 at its bound
	}
	encrypt := func(share int, v []int64) *upload.Block {
		up, err := upload.NewUploader(plan, k.Shares[share], uploadtest.Seed)
		if err != nil {
			t.Fatal(err)
		}
		var b upload.Block
		if err := up.EncryptBlock(1, 0, v, &b); err != nil {
			t.Fatal(err)
		}
		return &b
	}
	a, b := upload.LowCodes(plan, encrypt(uploadtest.UploadShare, vals)), upload.LowCodes(plan, encrypt(uploadtest.EvalShare, vals))
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
		for _, c := range upload.LowCodes(plan, encrypt(uploadtest.UploadShare, v)) {
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
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	plan := testPlan(t, k)
	up := uploadtest.NewUploader(t, k, plan)
	var b upload.Block
	if err := up.EncryptBlock(0, 0, []int64{1, 0, 1}, &b); err != nil {
		t.Fatal(err)
	}
	cp, err := up.ShallowCopy()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		up   *upload.Uploader
		col  int
		blk  int
		vals []int64
		want error
	}{
		{"same-block-again", up, 0, 0, []int64{1}, upload.ErrDuplicateBlock},
		{"same-block-from-copy", cp, 0, 0, []int64{1}, upload.ErrDuplicateBlock},
		{"above-bound", up, 0, 1, []int64{2}, upload.ErrOutOfBounds},
		{"negative", up, 1, 1, []int64{-1}, upload.ErrOutOfBounds},
		{"unknown-column", up, 3, 0, []int64{1}, upload.ErrInvalidCircuit},
		{"too-many-records", up, 1, 2, make([]int64, k.Params.N()+1), upload.ErrInvalidLayout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.up.EncryptBlock(tc.col, tc.blk, tc.vals, &b); !errors.Is(err, tc.want) {
				t.Errorf("EncryptBlock error = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := upload.NewUploader(plan, k.Shares[uploadtest.UploadShare], make([]byte, 8)); !errors.Is(err, upload.ErrInvalidSeed) {
		t.Errorf("short seed accepted: %v", err)
	}
	if _, err := upload.NewUploader(plan, nil, uploadtest.Seed); !errors.Is(err, upload.ErrInvalidKey) {
		t.Errorf("nil key accepted: %v", err)
	}
}

// TestUploadEmitError stops the upload at the first failing emit.
func TestUploadEmitError(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	plan := testPlan(t, k)
	up := uploadtest.NewUploader(t, k, plan)
	stop := errors.New("stream closed")
	err := up.Upload(context.Background(), 0, make([]int64, 5*k.Params.N()), 2, func(*upload.Block) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("Upload error = %v, want the emit error", err)
	}
}
