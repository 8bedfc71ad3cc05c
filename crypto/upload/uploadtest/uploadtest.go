// Package uploadtest runs the seeded-upload protocol of package upload in
// one process for tests: test keys from Lattigo's multiparty protocols, a
// whole session (upload, evaluate, finalize) and the plaintext answers a
// session must reproduce. It is imported by tests only.
package uploadtest

import (
	"context"
	"math"
	"math/big"
	"sync"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/upload"
)

// Keys stands in for the multiparty setup: two secret key shares, their sum
// (the ideal key, for measuring noise), the collective public key and the
// Galois keys of the trace, generated with Lattigo's mhe protocols from a
// fixed common reference string.
type Keys struct {
	Params rlwe.Parameters
	Shares [2]*rlwe.SecretKey
	Ideal  *rlwe.SecretKey
	CPK    *rlwe.PublicKey
	EVK    *rlwe.MemEvaluationKeySet
}

// Roles in a session: share EvalShare is the evaluating node, share
// UploadShare the uploader.
const (
	EvalShare   = 0
	UploadShare = 1
)

// Seed is the session seed of every test session.
var Seed = []byte("aggregate test session seed 0001")

var (
	keysMu    sync.Mutex
	keysCache = map[string]*Keys{}
)

// KeysFor returns the keys of a preset, generated once per test binary.
func KeysFor(tb testing.TB, preset string) *Keys {
	tb.Helper()
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keysCache[preset]; ok {
		return k
	}
	params := crypto.MustParameters(preset)
	crs, err := sampling.NewKeyedPRNG([]byte("aggregate test crs"))
	if err != nil {
		tb.Fatal(err)
	}
	k := &Keys{Params: params}
	kg := rlwe.NewKeyGenerator(params)
	k.Ideal = rlwe.NewSecretKey(params)
	for i := range k.Shares {
		k.Shares[i] = kg.GenSecretKeyNew()
		params.RingQP().Add(k.Ideal.Value, k.Shares[i].Value, k.Ideal.Value)
	}
	ckg := mhe.NewPublicKeyGenProtocol(params)
	crp := ckg.SampleCRP(crs)
	agg := ckg.AllocateShare()
	for _, sk := range k.Shares {
		sh := ckg.AllocateShare()
		ckg.GenShare(sk, crp, &sh)
		ckg.AggregateShares(sh, agg, &agg)
	}
	k.CPK = rlwe.NewPublicKey(params)
	ckg.GenPublicKey(agg, crp, k.CPK)
	gkg := mhe.NewGaloisKeyGenProtocol(params)
	var gks []*rlwe.GaloisKey
	for _, g := range rlwe.GaloisElementsForTrace(params, 0) {
		gcrp := gkg.SampleCRP(crs)
		gagg := gkg.AllocateShare()
		gagg.GaloisElement = g
		for _, sk := range k.Shares {
			sh := gkg.AllocateShare()
			if err := gkg.GenShare(sk, g, gcrp, &sh); err != nil {
				tb.Fatal(err)
			}
			if err := gkg.AggregateShares(sh, gagg, &gagg); err != nil {
				tb.Fatal(err)
			}
		}
		gk := rlwe.NewGaloisKey(params)
		if err := gkg.GenGaloisKey(gagg, gcrp, gk); err != nil {
			tb.Fatal(err)
		}
		gks = append(gks, gk)
	}
	k.EVK = rlwe.NewMemEvaluationKeySet(nil, gks...)
	keysCache[preset] = k
	return k
}

// NewUploader returns the uploader of a test session: share UploadShare
// under Seed.
func NewUploader(tb testing.TB, k *Keys, plan *upload.Plan) *upload.Uploader {
	tb.Helper()
	up, err := upload.NewUploader(plan, k.Shares[UploadShare], Seed)
	if err != nil {
		tb.Fatal(err)
	}
	return up
}

// NewEvaluator returns the evaluator of a test session over mults: share
// EvalShare under Seed, with the collective public and Galois keys.
func NewEvaluator(tb testing.TB, k *Keys, plan *upload.Plan, mults [][]int64) *upload.Evaluator {
	tb.Helper()
	ev, err := upload.NewEvaluator(plan, k.Shares[EvalShare], k.CPK, k.EVK, Seed, mults)
	if err != nil {
		tb.Fatal(err)
	}
	return ev
}

// Run uploads every column (uploader share) over the wire encoding and
// evaluates them (evaluator share), returning the final ciphertexts.
func Run(tb testing.TB, k *Keys, plan *upload.Plan, mults, cols [][]int64) []*rlwe.Ciphertext {
	tb.Helper()
	return RunWith(tb, k, plan, NewEvaluator(tb, k, plan, mults), cols)
}

// RunWith is Run with an evaluator of the caller's (one whose multipliers
// it changes after their check, for a threat-model test).
func RunWith(tb testing.TB, k *Keys, plan *upload.Plan, ev *upload.Evaluator, cols [][]int64) []*rlwe.Ciphertext {
	tb.Helper()
	up := NewUploader(tb, k, plan)
	var wire [][]byte
	for c := range cols {
		err := up.Upload(context.Background(), c, cols[c], 2, func(b *upload.Block) error {
			p, err := b.MarshalBinary()
			wire = append(wire, p)
			return err
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	in := make(chan *upload.Block, len(wire))
	for _, p := range wire {
		var b upload.Block
		if err := b.UnmarshalBinary(p); err != nil {
			tb.Fatal(err)
		}
		in <- &b
	}
	close(in)
	return Evaluate(tb, ev, in)
}

// Evaluate evaluates the blocks with ev and returns the final ciphertexts.
func Evaluate(tb testing.TB, ev *upload.Evaluator, blocks <-chan *upload.Block) []*rlwe.Ciphertext {
	tb.Helper()
	ctx := context.Background()
	sums, err := ev.Evaluate(ctx, blocks, 2)
	if err != nil {
		tb.Fatal(err)
	}
	cts, err := sums.Finalize(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return cts
}

// Sums runs a session through an accumulator and returns its sums, before
// the trace or the packing.
func Sums(tb testing.TB, k *Keys, plan *upload.Plan, mults, cols [][]int64) *upload.Sums {
	tb.Helper()
	up, ev := NewUploader(tb, k, plan), NewEvaluator(tb, k, plan, mults)
	acc, err := ev.NewAccumulator()
	if err != nil {
		tb.Fatal(err)
	}
	for c := range cols {
		if err := up.Upload(context.Background(), c, cols[c], 1, acc.Add); err != nil {
			tb.Fatal(err)
		}
	}
	s, err := ev.Sum(acc)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// KeySwitchToQuerier releases cts to a fresh querier key by the public-key
// switch, one share per key share as the nodes make them, and returns the
// plaintexts the querier decrypts. edit, if not nil, changes key share o's
// part of product i before it is aggregated: the tests add DP noise or
// FloodedSwitch key-switches every ciphertext to a fresh querier key the
// way the nodes do (crypto.KeySwitch, each owner flooding its share at the
// plan's width for the product) and returns what the querier decrypts.
func FloodedSwitch(tb testing.TB, k *Keys, plan *upload.Plan, cts []*rlwe.Ciphertext) []*rlwe.Plaintext {
	tb.Helper()
	skQ, pkQ := rlwe.NewKeyGenerator(k.Params).GenKeyPairNew()
	dec := rlwe.NewDecryptor(k.Params, skQ)
	pts := make([]*rlwe.Plaintext, len(cts))
	for i, ct := range cts {
		ks, err := crypto.NewKeySwitch(k.Params, plan.FloodingSigma(i))
		if err != nil {
			tb.Fatal(err)
		}
		var shares []mhe.PublicKeySwitchShare
		for _, sk := range k.Shares {
			sh, err := ks.Share(sk, pkQ, ct)
			if err != nil {
				tb.Fatal(err)
			}
			shares = append(shares, sh)
		}
		out, err := ks.Switch(ct, shares)
		if err != nil {
			tb.Fatal(err)
		}
		pts[i] = dec.DecryptNew(out)
	}
	return pts
}

// flooding to its first polynomial (NTT domain, at the ciphertext's level).
func KeySwitchToQuerier(tb testing.TB, k *Keys, cts []*rlwe.Ciphertext, edit func(i, o int, share ring.Poly)) []*rlwe.Plaintext {
	tb.Helper()
	skQ, pkQ := rlwe.NewKeyGenerator(k.Params).GenKeyPairNew()
	pcks, err := mhe.NewPublicKeySwitchProtocol(k.Params, k.Params.Xe())
	if err != nil {
		tb.Fatal(err)
	}
	dec := rlwe.NewDecryptor(k.Params, skQ)
	pts := make([]*rlwe.Plaintext, len(cts))
	for i, ct := range cts {
		agg := pcks.AllocateShare(ct.Level())
		for o, sk := range k.Shares {
			sh := pcks.AllocateShare(ct.Level())
			pcks.GenShare(sk, pkQ, ct, &sh)
			if edit != nil {
				edit(i, o, sh.Value[0])
			}
			if err := pcks.AggregateShares(sh, agg, &agg); err != nil {
				tb.Fatal(err)
			}
		}
		out := rlwe.NewCiphertext(k.Params, 1, ct.Level())
		pcks.KeySwitch(ct, agg, out)
		pts[i] = dec.DecryptNew(out)
	}
	return pts
}

// DecryptAll decrypts with sk.
func DecryptAll(params rlwe.Parameters, sk *rlwe.SecretKey, cts []*rlwe.Ciphertext) []*rlwe.Plaintext {
	dec := rlwe.NewDecryptor(params, sk)
	pts := make([]*rlwe.Plaintext, len(cts))
	for i, ct := range cts {
		pts[i] = dec.DecryptNew(ct)
	}
	return pts
}

// ExactStats computes every statistic of c in int64 in the clear, a
// statistic with digit columns (upload.Stat.Digits) recombined at their
// weights; the sums must fit in int64.
func ExactStats(c upload.Circuit, mults, cols [][]int64) []int64 {
	out := make([]int64, len(c.Stats))
	for s, st := range c.Stats {
		m := mults[st.Multiplier]
		for _, cd := range append([]upload.ColumnDigit{{Column: st.Column}}, st.Digits...) {
			v := cols[cd.Column]
			for i := range m {
				out[s] += m[i] * v[i] << cd.Shift
			}
		}
	}
	return out
}

// ExactProduct computes product i (one multiplier digit times one column)
// in the clear, without its weight.
func ExactProduct(p *upload.Plan, i int, mults, cols [][]int64) int64 {
	pr := p.Products()[i]
	shift := pr.MultiplierShift()
	top := pr.Max == p.Circuit().Multipliers[pr.Multiplier].Max>>shift
	var s int64
	for r, v := range mults[pr.Multiplier] {
		d := v >> shift
		if !top {
			d &= int64(1)<<p.Config().SplitBits - 1
		}
		s += d * cols[pr.Column][r]
	}
	return s
}

// MaxNoise returns max_k |pt_k − want·Δ·[k=0]| over all coefficients of
// product i's plaintext: the error a decryption carries.
func MaxNoise(p *upload.Plan, i int, pt *rlwe.Plaintext, want int64) float64 {
	cp := p.Column(p.Products()[i].Column)
	params := p.Parameters()
	r := params.RingQ().AtLevel(cp.Level)
	v := r.NewPoly()
	r.INTT(ring.Poly{Coeffs: pt.Value.Coeffs[:cp.Level+1]}, v)
	coeffs := make([]*big.Int, params.N())
	for j := range coeffs {
		coeffs[j] = new(big.Int)
	}
	r.PolyToBigintCentered(v, 1, coeffs)
	w := new(big.Int).Lsh(big.NewInt(want), uint(cp.LogDelta))
	coeffs[0].Sub(coeffs[0], w)
	var m float64
	for _, c := range coeffs {
		f, _ := new(big.Float).SetInt(c).Float64()
		m = max(m, math.Abs(f))
	}
	return m
}
