package upload_test

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/upload"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
)

// testBlock returns a valid upload block of the test preset.
func testBlock(t testing.TB) (*upload.Plan, *upload.Block) {
	t.Helper()
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	plan := testPlan(t, k)
	up := uploadtest.NewUploader(t, k, plan)
	var b upload.Block
	if err := up.EncryptBlock(1, 3, []int64{1, 2, 3, 50}, &b); err != nil {
		t.Fatal(err)
	}
	return plan, &b
}

// testPlan is the plan of most tests: bivariatePlan for 2^14 records.
func testPlan(t testing.TB, k *uploadtest.Keys) *upload.Plan { return bivariatePlan(t, k, 1<<14) }

// bivariatePlan is the plan of the bivariate circuit with x ≤ 2000 and
// y ≤ 50 under the default configuration for up to maxRecords records.
func bivariatePlan(t testing.TB, k *uploadtest.Keys, maxRecords int) *upload.Plan {
	t.Helper()
	cfg := upload.DefaultPlanConfig()
	cfg.MaxRecords = maxRecords
	plan, err := upload.NewPlan(k.Params, upload.BivariateCircuit(2000, 50), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func TestBlockRoundTrip(t *testing.T) {
	plan, b := testBlock(t)
	p, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != plan.BlockBytes(1) || len(p) != b.BinarySize() {
		t.Fatalf("block of %d bytes, plan says %d", len(p), plan.BlockBytes(1))
	}
	var got upload.Block
	if err := got.UnmarshalBinary(p); err != nil {
		t.Fatal(err)
	}
	if got.Column != 1 || got.Index != 3 || got.LogN != b.LogN || got.Level != b.Level ||
		got.LowBits != b.LowBits || got.WireBits != b.WireBits || !bytes.Equal(got.Payload, b.Payload) {
		t.Errorf("round trip changed the block header or payload")
	}
	q, err := got.MarshalBinary()
	if err != nil || !bytes.Equal(p, q) {
		t.Errorf("re-marshal differs (err %v)", err)
	}
}

func TestBlockUnmarshalRejects(t *testing.T) {
	_, b := testBlock(t)
	good, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(p []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	tests := []struct {
		name string
		p    []byte
	}{
		{"empty", nil},
		{"short-header", good[:upload.BlockHeaderSize-1]},
		{"truncated-payload", good[:len(good)-1]},
		{"trailing-byte", append(append([]byte(nil), good...), 0)},
		{"bad-version", mutate(func(p []byte) []byte { p[0] = 9; return p })},
		{"logN-zero", mutate(func(p []byte) []byte { p[1] = 0; return p })},
		{"logN-huge", mutate(func(p []byte) []byte { p[1] = 40; return p })},
		{"low-bits-zero", mutate(func(p []byte) []byte { p[3] = 0; return p })},
		{"wire-bits-below-low", mutate(func(p []byte) []byte { p[4], p[5] = 1, 0; return p })},
		{"wire-bits-changed", mutate(func(p []byte) []byte { p[4]++; return p })},
		{"oversized", make([]byte, upload.MaxBlockBytes+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got upload.Block
			if err := got.UnmarshalBinary(tc.p); !errors.Is(err, upload.ErrMalformedBlock) {
				t.Errorf("UnmarshalBinary error = %v, want ErrMalformedBlock", err)
			}
		})
	}
}

var (
	fuzzOnce sync.Once
	fuzzEval *upload.Evaluator
	fuzzPlan *upload.Plan
)

// FuzzBlock feeds arbitrary bytes to the parser and, when they parse, to
// the evaluator: neither may panic, and anything that parses must
// re-serialize to the same bytes.
func FuzzBlock(f *testing.F) {
	plan, b := testBlock(f)
	good, err := b.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:upload.BlockHeaderSize])
	f.Add([]byte{1, 10, 1, 20, 81, 0, 0, 0, 0, 0, 0, 0})
	k := uploadtest.KeysFor(f, crypto.PresetTest)
	fuzzOnce.Do(func() {
		fuzzPlan = plan
		mults, _ := bivariateData(1, 3*k.Params.N(), overlapRandom, 2000, 50, false)
		fuzzEval = uploadtest.NewEvaluator(f, k, plan, mults)
	})
	acc, err := fuzzEval.NewAccumulator()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		var b upload.Block
		if err := b.UnmarshalBinary(p); err != nil {
			if !errors.Is(err, upload.ErrMalformedBlock) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		q, err := b.MarshalBinary()
		if err != nil || !bytes.Equal(p, q) {
			t.Fatalf("parsed block does not re-serialize to its bytes (err %v)", err)
		}
		// The evaluator either accepts or rejects it with a typed error.
		if err := acc.Add(&b); err != nil && !errors.Is(err, upload.ErrMalformedBlock) && !errors.Is(err, upload.ErrDuplicateBlock) {
			t.Fatalf("unexpected evaluator error: %v", err)
		}
	})
}
