package upload_test

import (
	"context"
	"errors"
	"math"
	"math/big"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/upload"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// sessionBlocks uploads the columns and returns the blocks per column.
func sessionBlocks(t *testing.T, k *uploadtest.Keys, plan *upload.Plan, cols [][]int64) [][]*upload.Block {
	t.Helper()
	up := uploadtest.NewUploader(t, k, plan)
	out := make([][]*upload.Block, len(cols))
	for c := range cols {
		err := up.Upload(context.Background(), c, cols[c], 1, func(b *upload.Block) error {
			out[c] = append(out[c], b)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// accumulate adds every block to a new accumulator of ev.
func accumulate(t *testing.T, ev *upload.Evaluator, blocks [][]*upload.Block) *upload.Accumulator {
	t.Helper()
	acc, err := ev.NewAccumulator()
	if err != nil {
		t.Fatal(err)
	}
	for _, bs := range blocks {
		for _, b := range bs {
			if err := acc.Add(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	return acc
}

func TestEvaluatorRejects(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	plan := testPlan(t, k)
	mults, cols := bivariateData(5, 2*k.Params.N(), overlapRandom, 2000, 50, false)
	blocks := sessionBlocks(t, k, plan, cols)
	ev := uploadtest.NewEvaluator(t, k, plan, mults)
	acc, err := ev.NewAccumulator()
	if err != nil {
		t.Fatal(err)
	}
	clone := func(b *upload.Block, f func(*upload.Block)) *upload.Block {
		c := *b
		c.Payload = append([]byte(nil), b.Payload...)
		f(&c)
		return &c
	}
	b0 := blocks[0][0]
	tests := []struct {
		name string
		b    *upload.Block
		want error
	}{
		{"index-beyond-union", clone(b0, func(b *upload.Block) { b.Index = 2 }), upload.ErrMalformedBlock},
		{"column-beyond-circuit", clone(b0, func(b *upload.Block) { b.Column = 3 }), upload.ErrMalformedBlock},
		{"other-plan", clone(b0, func(b *upload.Block) {
			b.LowBits--
			b.WireBits--
			b.Payload = b.Payload[:upload.PayloadBytes(b.LogN, b.WireBits)]
		}), upload.ErrMalformedBlock},
		{"residue-not-reduced", clone(b0, func(b *upload.Block) {
			// Set the first exact residue (the bits after coefficient 0's low code) to all ones.
			for bit := b.LowBits; bit < b.LowBits+int(upload.ResidueWidth(k.Params, 1)); bit++ {
				b.Payload[bit/8] |= 1 << (bit % 8)
			}
		}), upload.ErrMalformedBlock},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := acc.Add(tc.b); !errors.Is(err, tc.want) {
				t.Errorf("Add error = %v, want %v", err, tc.want)
			}
		})
	}
	// Rejected blocks were not consumed: the genuine block is still accepted, once.
	if err := acc.Add(b0); err != nil {
		t.Fatalf("genuine block rejected: %v", err)
	}
	if err := acc.Add(b0); !errors.Is(err, upload.ErrDuplicateBlock) {
		t.Errorf("duplicate block: error %v, want ErrDuplicateBlock", err)
	}
	if _, err := ev.Finalize(context.Background(), acc); !errors.Is(err, upload.ErrMissingBlock) {
		t.Errorf("Finalize with missing blocks: error %v, want ErrMissingBlock", err)
	}
}

func TestNewEvaluatorRejects(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	plan := testPlan(t, k)
	mults, _ := bivariateData(5, 100, overlapRandom, 2000, 50, false)
	over := [][]int64{mults[0], mults[1], append([]int64(nil), mults[2]...)}
	over[2][0] = 2000*2000 + 1
	short := [][]int64{mults[0], mults[1][:99], mults[2]}
	tests := []struct {
		name  string
		mults [][]int64
		evk   rlwe.EvaluationKeySet
		want  error
	}{
		{"multiplier-above-bound", over, k.EVK, upload.ErrOutOfBounds},
		{"ragged-multipliers", short, k.EVK, upload.ErrInvalidLayout},
		{"missing-multiplier", mults[:2], k.EVK, upload.ErrInvalidLayout},
		{"no-galois-keys", mults, rlwe.NewMemEvaluationKeySet(nil), upload.ErrInvalidKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := upload.NewEvaluator(plan, k.Shares[uploadtest.EvalShare], k.CPK, tc.evk, uploadtest.Seed, tc.mults); !errors.Is(err, tc.want) {
				t.Errorf("NewEvaluator error = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestEvaluatorWrongSeed: blocks uploaded under another session seed do not
// decrypt to the statistics (the common polynomials differ), so a block
// cannot be replayed into another session.
func TestEvaluatorWrongSeed(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	plan := testPlan(t, k)
	mults, cols := bivariateData(6, k.Params.N(), overlapAll, 2000, 50, false)
	blocks := sessionBlocks(t, k, plan, cols)
	seed := append([]byte(nil), uploadtest.Seed...)
	seed[5] ^= 0x40
	ev, err := upload.NewEvaluator(plan, k.Shares[uploadtest.EvalShare], k.CPK, k.EVK, seed, mults)
	if err != nil {
		t.Fatal(err)
	}
	cts, err := ev.Finalize(context.Background(), accumulate(t, ev, blocks))
	if err != nil {
		t.Fatal(err)
	}
	got, err := plan.Decode(uploadtest.DecryptAll(k.Params, k.Ideal, cts))
	if err != nil {
		t.Fatal(err)
	}
	want := uploadtest.ExactStats(plan.Circuit(), mults, cols)
	if math.Abs(got[0]-float64(want[0])) < 1e3 {
		t.Errorf("count %.1f decoded correctly under the wrong seed", got[0])
	}
}

// TestTraceNoiseBound checks the data-independent part of the bound
// against Lattigo: the trace of a fresh encryption of zero stays within
// 6·σ_fix in every coefficient.
func TestTraceNoiseBound(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	level := k.Params.MaxLevel()
	fix, err := upload.FixStd(k.Params, upload.PlanConfig{Parties: 2, KeyHolders: 2}, level)
	if err != nil {
		t.Fatal(err)
	}
	bound := upload.TailSigmas * fix
	enc := rlwe.NewEncryptor(k.Params, k.Ideal)
	eval := rlwe.NewEvaluator(k.Params, k.EVK)
	dec := rlwe.NewDecryptor(k.Params, k.Ideal)
	r := k.Params.RingQ().AtLevel(level)
	coeffs := make([]*big.Int, k.Params.N())
	for i := range coeffs {
		coeffs[i] = new(big.Int)
	}
	var worst float64
	for rep := 0; rep < 8; rep++ {
		ct := rlwe.NewCiphertext(k.Params, 1, level)
		ct.IsNTT = true
		if err := enc.EncryptZero(ct); err != nil {
			t.Fatal(err)
		}
		out := rlwe.NewCiphertext(k.Params, 1, level)
		if err := eval.Trace(ct, 0, out); err != nil {
			t.Fatal(err)
		}
		pt := dec.DecryptNew(out)
		v := r.NewPoly()
		r.INTT(pt.Value, v)
		r.PolyToBigintCentered(v, 1, coeffs)
		for _, c := range coeffs {
			f, _ := new(big.Float).SetInt(c).Float64()
			worst = max(worst, math.Abs(f))
		}
	}
	if worst > bound {
		t.Errorf("trace noise 2^%.1f above the bound 2^%.1f", math.Log2(worst), math.Log2(bound))
	}
	// The model should not be off by orders of magnitude either, or the
	// flooding would be needlessly large.
	if worst < bound/64 {
		t.Errorf("trace noise 2^%.1f far below the bound 2^%.1f: the model is loose", math.Log2(worst), math.Log2(bound))
	}
}

// TestStatisticsCoef13 runs one session at the production parameters.
func TestStatisticsCoef13(t *testing.T) {
	if testing.Short() {
		t.Skip("production parameters")
	}
	k := uploadtest.KeysFor(t, crypto.PresetCoef13)
	plan := bivariatePlan(t, k, 1<<20) // the default configuration
	mults, cols := bivariateData(11, 2*k.Params.N()+300, overlapRandom, 2000, 50, false)
	checkSession(t, k, plan, mults, cols)
}

// TestFinalizeRerandomizes: two finalizations (or packings) of the same
// sums decrypt to the same statistics but share no c1, so c1 is not a public function of
// the multipliers and the common polynomials.
func TestFinalizeRerandomizes(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	plan := testPlan(t, k)
	mults, cols := bivariateData(8, k.Params.N()+10, overlapRandom, 2000, 50, false)
	blocks := sessionBlocks(t, k, plan, cols)
	ev := uploadtest.NewEvaluator(t, k, plan, mults)
	acc := accumulate(t, ev, blocks)
	sums, err := ev.Sum(acc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Sum(acc); err == nil {
		t.Error("an accumulator was summed twice")
	}
	first, err := sums.Finalize(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	second, err := sums.Finalize(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p1, err := sums.Pack(context.Background(), []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := sums.Pack(context.Background(), []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if p1[0].Ct.Value[1].Equal(&p2[0].Ct.Value[1]) {
		t.Error("c1 identical across packings")
	}
	a, _ := plan.Decode(uploadtest.DecryptAll(k.Params, k.Ideal, first))
	b, _ := plan.Decode(uploadtest.DecryptAll(k.Params, k.Ideal, second))
	for i := range first {
		if first[i].Value[1].Equal(&second[i].Value[1]) {
			t.Errorf("product %d: c1 identical across finalizations", i)
		}
	}
	for s := range a {
		if math.Abs(a[s]-b[s]) > 1e-6*max(1, math.Abs(a[s])) {
			t.Errorf("statistic %d: %.3f then %.3f", s, a[s], b[s])
		}
	}
}
