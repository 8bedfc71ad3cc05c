package aggregate

import (
	"bytes"
	"errors"
	"math/rand"
	"sync"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
)

func TestBitPackingRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, widths := range [][]uint{{1}, {7, 64}, {60, 35}, {64, 64, 3}, {13, 60, 60, 1}} {
		var w bitWriter
		w.reset(nil)
		var vals []uint64
		for i := 0; i < 257; i++ {
			for _, width := range widths {
				v := rng.Uint64() >> (64 - width)
				vals = append(vals, v)
				w.write(v, width)
			}
		}
		buf := w.flush()
		total := 0
		for _, width := range widths {
			total += int(width)
		}
		if want := (257*total + 7) / 8; len(buf) != want {
			t.Fatalf("widths %v: %d bytes, want %d", widths, len(buf), want)
		}
		var r bitReader
		r.reset(buf)
		k := 0
		for i := 0; i < 257; i++ {
			for _, width := range widths {
				if got := r.read(width); got != vals[k] {
					t.Fatalf("widths %v: value %d = %x, want %x", widths, k, got, vals[k])
				}
				k++
			}
		}
		if r.rest() {
			t.Errorf("widths %v: padding not zero", widths)
		}
	}
}

// testBlock returns a valid upload block of the test preset.
func testBlock(t testing.TB) (*Plan, *Block) {
	t.Helper()
	k := keysFor(t, crypto.PresetTest)
	plan := testPlan(t, k)
	up, err := NewUploader(plan, k.shares[uploadShare], testSeed)
	if err != nil {
		t.Fatal(err)
	}
	var b Block
	if err := up.EncryptBlock(1, 3, []int64{1, 2, 3, 50}, &b); err != nil {
		t.Fatal(err)
	}
	return plan, &b
}

func testPlan(t testing.TB, k *testKeys) *Plan {
	t.Helper()
	cfg := DefaultPlanConfig()
	cfg.MaxRecords = 1 << 14
	plan, err := NewPlan(k.params, BivariateCircuit(2000, 50), cfg)
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
	var got Block
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
		{"short-header", good[:blockHeaderSize-1]},
		{"truncated-payload", good[:len(good)-1]},
		{"trailing-byte", append(append([]byte(nil), good...), 0)},
		{"bad-version", mutate(func(p []byte) []byte { p[0] = 9; return p })},
		{"logN-zero", mutate(func(p []byte) []byte { p[1] = 0; return p })},
		{"logN-huge", mutate(func(p []byte) []byte { p[1] = 40; return p })},
		{"low-bits-zero", mutate(func(p []byte) []byte { p[3] = 0; return p })},
		{"wire-bits-below-low", mutate(func(p []byte) []byte { p[4], p[5] = 1, 0; return p })},
		{"wire-bits-changed", mutate(func(p []byte) []byte { p[4]++; return p })},
		{"oversized", make([]byte, MaxBlockBytes+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got Block
			if err := got.UnmarshalBinary(tc.p); !errors.Is(err, ErrMalformedBlock) {
				t.Errorf("UnmarshalBinary error = %v, want ErrMalformedBlock", err)
			}
		})
	}
}

var (
	fuzzOnce sync.Once
	fuzzEval *Evaluator
	fuzzPlan *Plan
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
	f.Add(good[:blockHeaderSize])
	f.Add([]byte{1, 10, 1, 20, 81, 0, 0, 0, 0, 0, 0, 0})
	k := keysFor(f, crypto.PresetTest)
	fuzzOnce.Do(func() {
		fuzzPlan = plan
		mults, _ := bivariateData(1, 3*k.params.N(), overlapRandom, 2000, 50, false)
		fuzzEval, err = NewEvaluator(plan, k.shares[evalShare], k.cpk, k.evk, testSeed, mults)
	})
	if err != nil {
		f.Fatal(err)
	}
	acc, err := fuzzEval.NewAccumulator()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		var b Block
		if err := b.UnmarshalBinary(p); err != nil {
			if !errors.Is(err, ErrMalformedBlock) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		q, err := b.MarshalBinary()
		if err != nil || !bytes.Equal(p, q) {
			t.Fatalf("parsed block does not re-serialize to its bytes (err %v)", err)
		}
		// The evaluator either accepts or rejects it with a typed error.
		if err := acc.Add(&b); err != nil && !errors.Is(err, ErrMalformedBlock) && !errors.Is(err, ErrDuplicateBlock) {
			t.Fatalf("unexpected evaluator error: %v", err)
		}
	})
}
