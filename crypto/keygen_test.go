package crypto

import (
	"bytes"
	"encoding"
	"fmt"
	"math"
	"math/big"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// federation runs the whole key generation in process for n parties and
// returns their secret shares, the ideal secret key (their sum, test only)
// and the collective keys.
type federation struct {
	params rlwe.Parameters
	sks    []*rlwe.SecretKey
	ideal  *rlwe.SecretKey
	pk     *rlwe.PublicKey
	rlk    *rlwe.RelinearizationKey
	gks    []*rlwe.GaloisKey
	ckg    []mhe.PublicKeyGenShare
	gkg    map[uint64][]mhe.GaloisKeyGenShare
}

func testSeeds(t *testing.T, n int) map[string][]byte {
	t.Helper()
	seeds := make(map[string][]byte)
	for i := 0; i < n; i++ {
		seeds[fmt.Sprintf("node%d", i)] = bytes.Repeat([]byte{byte(i + 1)}, SeedSize)
	}
	return seeds
}

func newKeyGen(t *testing.T, params rlwe.Parameters, n int) *KeyGen {
	t.Helper()
	digest, err := CRSDigest("test-federation", PresetTest, testSeeds(t, n))
	if err != nil {
		t.Fatal(err)
	}
	crs, err := NewCRS(digest)
	if err != nil {
		t.Fatal(err)
	}
	return NewKeyGen(params, crs)
}

func runSetup(t *testing.T, n int) *federation {
	t.Helper()
	params := MustParameters(PresetTest)
	// Every party builds its own KeyGen from the same CRS, as nodes do.
	kgs := make([]*KeyGen, n)
	for i := range kgs {
		kgs[i] = newKeyGen(t, params, n)
	}
	f := &federation{params: params, ideal: rlwe.NewSecretKey(params)}
	for i := 0; i < n; i++ {
		sk := kgs[i].GenSecretKey()
		f.sks = append(f.sks, sk)
		params.RingQP().Add(f.ideal.Value, sk.Value, f.ideal.Value)
	}
	var ckg []mhe.PublicKeyGenShare
	for i, kg := range kgs {
		ckg = append(ckg, roundTrip(t, kg.PublicKeyShare(f.sks[i]), new(mhe.PublicKeyGenShare)))
	}
	pk, err := kgs[0].PublicKey(ckg)
	if err != nil {
		t.Fatal(err)
	}
	f.pk, f.ckg = pk, ckg

	ephs := make([]*rlwe.SecretKey, n)
	var r1 []mhe.RelinearizationKeyGenShare
	for i, kg := range kgs {
		eph, sh := kg.RelinRoundOne(f.sks[i])
		ephs[i] = eph
		r1 = append(r1, roundTrip(t, sh, new(mhe.RelinearizationKeyGenShare)))
	}
	agg1, err := kgs[0].AggregateRelin(r1)
	if err != nil {
		t.Fatal(err)
	}
	var r2 []mhe.RelinearizationKeyGenShare
	for i, kg := range kgs {
		r2 = append(r2, roundTrip(t, kg.RelinRoundTwo(ephs[i], f.sks[i], agg1), new(mhe.RelinearizationKeyGenShare)))
	}
	agg2, err := kgs[0].AggregateRelin(r2)
	if err != nil {
		t.Fatal(err)
	}
	f.rlk = kgs[0].RelinearizationKey(agg1, agg2)

	for _, g := range kgs[0].GaloisElements {
		var shares []mhe.GaloisKeyGenShare
		for i, kg := range kgs {
			sh, err := kg.GaloisShare(f.sks[i], g)
			if err != nil {
				t.Fatal(err)
			}
			shares = append(shares, roundTrip(t, sh, new(mhe.GaloisKeyGenShare)))
		}
		gk, err := kgs[0].GaloisKey(g, shares)
		if err != nil {
			t.Fatal(err)
		}
		f.gks = append(f.gks, gk)
		if f.gkg == nil {
			f.gkg = map[uint64][]mhe.GaloisKeyGenShare{}
		}
		f.gkg[g] = shares
	}
	return f
}

// roundTrip marshals v, unmarshals it into out and checks the bytes agree.
func roundTrip[T any, P interface {
	*T
	encoding.BinaryUnmarshaler
}](t *testing.T, v interface{ MarshalBinary() ([]byte, error) }, out P) T {
	t.Helper()
	b, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := out.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	b2, err := any(out).(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Fatalf("%T: round trip changed the encoding", v)
	}
	return *out
}

func TestSerializationRoundTrip(t *testing.T) {
	f := runSetup(t, 2)
	roundTrip(t, f.pk, new(rlwe.PublicKey))
	roundTrip(t, f.rlk, new(rlwe.RelinearizationKey))
	roundTrip(t, f.gks[0], new(rlwe.GaloisKey))
	ct := encryptInts(t, f.params, f.pk, []int64{1, 2, 3})
	roundTrip(t, ct, new(rlwe.Ciphertext))
	ks, err := NewKeySwitch(f.params, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	_, tpk := rlwe.NewKeyGenerator(f.params).GenKeyPairNew()
	sh, err := ks.Share(f.sks[0], tpk, ct)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, sh, new(mhe.PublicKeySwitchShare))
}

func encryptInts(t *testing.T, params rlwe.Parameters, pk *rlwe.PublicKey, v []int64) *rlwe.Ciphertext {
	t.Helper()
	pt, err := EncodeInts(params, v, AggregateLogScale)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := rlwe.NewEncryptor(params, pk).EncryptNew(pt)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func decryptInts(t *testing.T, params rlwe.Parameters, sk *rlwe.SecretKey, ct *rlwe.Ciphertext, n int) ([]int64, float64) {
	t.Helper()
	pt := rlwe.NewDecryptor(params, sk).DecryptNew(ct)
	v, worst, err := DecodeInts(params, pt, n, AggregateLogScale)
	if err != nil {
		t.Fatal(err)
	}
	return v, worst
}

func TestCollectiveKeys(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			f := runSetup(t, n)
			params := f.params
			want := []int64{42, -7, 1 << 40, 0, 123456789}

			// Public key: encrypt under the collective key, decrypt with the ideal key.
			ct := encryptInts(t, params, f.pk, want)
			got, _ := decryptInts(t, params, f.ideal, ct, len(want))
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("cpk: coefficient %d = %d, want %d", i, got[i], want[i])
				}
			}

			// Galois keys: the Trace folds onto the constant coefficient.
			eval := rlwe.NewEvaluator(params, rlwe.NewMemEvaluationKeySet(f.rlk, f.gks...))
			tr := rlwe.NewCiphertext(params, 1, ct.Level())
			if err := eval.Trace(ct, 0, tr); err != nil {
				t.Fatal(err)
			}
			got, _ = decryptInts(t, params, f.ideal, tr, 3)
			if got[0] != want[0] || got[1] != 0 || got[2] != 0 {
				t.Fatalf("trace: got %v, want [%d 0 0]", got, want[0])
			}

			// Relinearization key: a degree-2 ciphertext (c0, 0, c2) with
			// c0 = m - c2·s² relinearizes to an encryption of m.
			rQ := params.RingQ()
			ct2 := rlwe.NewCiphertext(params, 2, params.MaxLevel())
			prng, _ := sampling.NewKeyedPRNG([]byte("relin-test"))
			ring.NewUniformSampler(prng, rQ).Read(ct2.Value[2])
			s2 := rQ.NewPoly()
			rQ.MulCoeffsMontgomery(f.ideal.Value.Q, f.ideal.Value.Q, s2)
			pt, err := EncodeInts(params, want, AggregateLogScale)
			if err != nil {
				t.Fatal(err)
			}
			rQ.MulCoeffsMontgomery(ct2.Value[2], s2, ct2.Value[0])
			rQ.Sub(pt.Value, ct2.Value[0], ct2.Value[0])
			ct2.IsNTT = true
			rel := rlwe.NewCiphertext(params, 1, params.MaxLevel())
			if err := eval.Relinearize(ct2, rel); err != nil {
				t.Fatal(err)
			}
			got, _ = decryptInts(t, params, f.ideal, rel, len(want))
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("rlk: coefficient %d = %d, want %d", i, got[i], want[i])
				}
			}
		})
	}
}

// TestRerandomize: one encryptor re-randomizes several ciphertexts, each
// with its own mask, and decryption is unchanged.
func TestRerandomize(t *testing.T) {
	f := runSetup(t, 2)
	params := f.params
	want := []int64{5, -123456, 1 << 30}
	enc := rlwe.NewEncryptor(params, f.pk)
	var masks []ring.Poly
	for k := 0; k < 2; k++ {
		ct := encryptInts(t, params, f.pk, want)
		before := *ct.Value[1].CopyNew()
		if err := Rerandomize(params, enc, ct); err != nil {
			t.Fatal(err)
		}
		if ct.Value[1].Equal(&before) {
			t.Fatalf("ciphertext %d: c1 unchanged", k)
		}
		mask := *ct.Value[1].CopyNew()
		params.RingQ().Sub(mask, before, mask)
		masks = append(masks, mask)
		got, _ := decryptInts(t, params, f.ideal, ct, len(want))
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("ciphertext %d: coefficient %d = %d, want %d", k, i, got[i], want[i])
			}
		}
	}
	if masks[0].Equal(&masks[1]) {
		t.Fatal("the encryptor reused its mask")
	}
}

func TestPublicKeySwitch(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			f := runSetup(t, n)
			params := f.params
			want := []int64{100000, -31415926535, 7}
			// Sum one ciphertext per party, as the first statistic does.
			var sum *rlwe.Ciphertext
			for i := 0; i < n; i++ {
				ct := encryptInts(t, params, f.pk, want)
				if sum == nil {
					sum = ct
					continue
				}
				params.RingQ().Add(sum.Value[0], ct.Value[0], sum.Value[0])
				params.RingQ().Add(sum.Value[1], ct.Value[1], sum.Value[1])
			}
			if err := Rerandomize(params, rlwe.NewEncryptor(params, f.pk), sum); err != nil {
				t.Fatal(err)
			}
			bound := FreshNoiseBound(params, n) * float64(n+1)
			sigma := FloodingSigma(bound, DefaultFloodingBits)
			ks, err := NewKeySwitch(params, sigma)
			if err != nil {
				t.Fatal(err)
			}
			tsk, shares, out := switchToFreshKey(t, f, ks, sum)
			got, worst := decryptInts(t, params, tsk, out, len(want))
			for i := range want {
				if got[i] != want[i]*int64(n) {
					t.Fatalf("coefficient %d = %d, want %d", i, got[i], want[i]*int64(n))
				}
			}
			// The flooding noise must be there (it hides the evaluation noise)
			// yet small against the scale: about σ·√n / 2^60.
			if worst > 0.25 {
				t.Fatalf("noise after key switch %.3g of a unit, too large", worst)
			}
			// The ideal key no longer decrypts it.
			bad, _ := decryptInts(t, params, f.ideal, out, 1)
			if bad[0] == want[0]*int64(n) {
				t.Fatal("the collective key still decrypts the switched ciphertext")
			}
			// A missing share leaves garbage.
			partial, err := ks.Switch(sum, shares[:n-1])
			if err != nil {
				t.Fatal(err)
			}
			g2, _ := decryptInts(t, params, tsk, partial, 1)
			if g2[0] == want[0]*int64(n) {
				t.Fatal("decryption succeeded without every party's share")
			}
		})
	}
}

// switchToFreshKey switches ct to a fresh target key with a share from
// every party of f; it returns the target secret key, the shares and the
// switched ciphertext.
func switchToFreshKey(t *testing.T, f *federation, ks *KeySwitch, ct *rlwe.Ciphertext) (*rlwe.SecretKey, []mhe.PublicKeySwitchShare, *rlwe.Ciphertext) {
	t.Helper()
	tsk, tpk := rlwe.NewKeyGenerator(f.params).GenKeyPairNew()
	var shares []mhe.PublicKeySwitchShare
	for _, sk := range f.sks {
		sh, err := ks.Share(sk, tpk, ct)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, sh)
	}
	out, err := ks.Switch(ct, shares)
	if err != nil {
		t.Fatal(err)
	}
	return tsk, shares, out
}

func TestCRSDigest(t *testing.T) {
	s := testSeeds(t, 2)
	d1, err := CRSDigest("f", PresetTest, s)
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := CRSDigest("g", PresetTest, s)
	d3, _ := CRSDigest("f", PresetCoef13, s)
	if bytes.Equal(d1, d2) || bytes.Equal(d1, d3) {
		t.Fatal("CRS digest does not bind federation and preset")
	}
	s["node0"] = s["node0"][:5]
	if _, err := CRSDigest("f", PresetTest, s); err == nil {
		t.Fatal("short seed accepted")
	}
	if _, err := NewKeySwitch(MustParameters(PresetTest), math.NaN()); err == nil {
		t.Fatal("NaN sigma accepted")
	}
}

// TestFloodingAtLargeWidth checks the flooding the statistics need (2^90,
// far above what Lattigo's Gaussian sampler supports): the key switch works
// and the noise the querier sees has the uniform distribution's spread.
func TestFloodingAtLargeWidth(t *testing.T) {
	f := runSetup(t, 2)
	params := f.params
	ct := rlwe.NewCiphertext(params, 1, params.MaxLevel())
	if err := rlwe.NewEncryptor(params, f.pk).EncryptZero(ct); err != nil {
		t.Fatal(err)
	}
	width := math.Ldexp(1, 90)
	ks, err := NewKeySwitch(params, width)
	if err != nil {
		t.Fatal(err)
	}
	tsk, _, out := switchToFreshKey(t, f, ks, ct)
	// Decrypt to the raw noise (logScale 0 reads coefficients as integers / 2^0,
	// so read them as float via scale 2^60 and rescale).
	pt := rlwe.NewDecryptor(params, tsk).DecryptNew(out)
	v, _, err := DecodeInts(params, pt, params.N(), 60)
	if err != nil {
		t.Fatal(err)
	}
	var sum2, max float64
	for _, x := range v {
		y := math.Ldexp(float64(x), 60)
		sum2 += y * y
		max = math.Max(max, math.Abs(y))
	}
	std := math.Sqrt(sum2 / float64(len(v)))
	want := width * math.Sqrt(2.0/3.0) // two owners, each uniform on [-w, w]
	if std < 0.9*want || std > 1.1*want {
		t.Fatalf("flooding std 2^%.2f, want about 2^%.2f", math.Log2(std), math.Log2(want))
	}
	if max > 2*width+math.Ldexp(1, 61) {
		t.Fatalf("flooding exceeds its support: 2^%.2f", math.Log2(max))
	}
	if _, err := NewKeySwitch(params, math.Ldexp(1, MaxFloodingBits+1)); err == nil {
		t.Fatal("flooding wider than the modulus allows accepted")
	}
}

// TestUniformNoise checks the flooding sampler directly: values stay in
// [-w, w] and every value is about equally likely.
func TestUniformNoise(t *testing.T) {
	params := MustParameters(PresetTest)
	rQ := params.RingQ()
	q0 := rQ.ModuliChain()[0]
	centered := func(c uint64) int64 {
		if c > q0/2 {
			return -int64(q0 - c)
		}
		return int64(c)
	}
	counts := map[int64]int{}
	for trial := 0; trial < 20; trial++ {
		p := rQ.NewPoly()
		if err := addUniformNoise(params, params.MaxLevel(), false, []float64{3}, p); err != nil {
			t.Fatal(err)
		}
		for i, c := range p.Coeffs[0] {
			v := centered(c)
			if v < -3 || v > 3 {
				t.Fatalf("value %d outside [-3, 3]", v)
			}
			// Both RNS rows hold the same integer.
			if v2 := p.Coeffs[1][i]; (v >= 0 && v2 != uint64(v)) || (v < 0 && v2 != rQ.ModuliChain()[1]-uint64(-v)) {
				t.Fatal("RNS rows disagree")
			}
			counts[v]++
		}
	}
	total := 20 * params.N()
	for v := int64(-3); v <= 3; v++ {
		got := float64(counts[v]) / float64(total)
		if math.Abs(got-1.0/7) > 0.01 {
			t.Fatalf("P[%d] = %.4f, want 1/7", v, got)
		}
	}
	// A wide flooding stays within its width.
	p := rQ.NewPoly()
	w := math.Ldexp(1, 100)
	if err := addUniformNoise(params, params.MaxLevel(), false, []float64{w}, p); err != nil {
		t.Fatal(err)
	}
	coeffs := make([]*big.Int, params.N())
	for i := range coeffs {
		coeffs[i] = new(big.Int)
	}
	rQ.PolyToBigintCentered(p, 1, coeffs)
	limit, _ := new(big.Float).SetFloat64(w).Int(nil)
	var maxAbs big.Int
	for _, c := range coeffs {
		if a := new(big.Int).Abs(c); a.Cmp(&maxAbs) > 0 {
			maxAbs.Set(a)
		}
	}
	if maxAbs.Cmp(limit) > 0 || maxAbs.BitLen() < 95 {
		t.Fatalf("max |noise| has %d bits for a 2^100 width", maxAbs.BitLen())
	}
	// Per-coefficient widths: even coefficients within 2^10, odd ones wide.
	widths := make([]float64, params.N())
	for i := range widths {
		widths[i] = math.Ldexp(1, 10+90*(i%2))
	}
	p = rQ.NewPoly()
	if err := addUniformNoise(params, params.MaxLevel(), false, widths, p); err != nil {
		t.Fatal(err)
	}
	rQ.PolyToBigintCentered(p, 1, coeffs)
	var oddMax int
	for i, c := range coeffs {
		if i%2 == 0 && new(big.Int).Abs(c).Cmp(big.NewInt(1024)) > 0 {
			t.Fatalf("coefficient %d: |noise| %v above its width 2^10", i, c)
		}
		if i%2 == 1 {
			oddMax = max(oddMax, c.BitLen())
		}
	}
	if oddMax < 95 {
		t.Fatalf("odd coefficients reach %d bits for a 2^100 width", oddMax)
	}
}

// TestSubsetKeysPooledSwitch checks the three-owner path: the public and
// Galois keys of the pairs (0, 1) and (0, 2), aggregated from the pairs'
// setup shares alone, encrypt and trace ciphertexts under the pairs'
// secrets; the two traced results are summed, each party computes its
// share on its own c1 (party 0 on the sum), and the combination switches
// the sum to the target key. Without party 2's share it does not.
func TestSubsetKeysPooledSwitch(t *testing.T) {
	const n = 3
	f := runSetup(t, n)
	params := f.params
	kg := newKeyGen(t, params, n)
	type pairKeys struct {
		pk   *rlwe.PublicKey
		eval *rlwe.Evaluator
	}
	subset := func(idx ...int) pairKeys {
		var sh []mhe.PublicKeyGenShare
		for _, i := range idx {
			sh = append(sh, f.ckg[i])
		}
		pk, err := kg.PublicKey(sh)
		if err != nil {
			t.Fatal(err)
		}
		var gks []*rlwe.GaloisKey
		for _, g := range kg.GaloisElements {
			var gs []mhe.GaloisKeyGenShare
			for _, i := range idx {
				gs = append(gs, f.gkg[g][i])
			}
			gk, err := kg.GaloisKey(g, gs)
			if err != nil {
				t.Fatal(err)
			}
			gks = append(gks, gk)
		}
		return pairKeys{pk, rlwe.NewEvaluator(params, rlwe.NewMemEvaluationKeySet(nil, gks...))}
	}
	if all := subset(0, 1, 2); !all.pk.Equal(f.pk) {
		t.Fatal("the subset key of every party differs from the collective key")
	}
	k01, k02 := subset(0, 1), subset(0, 2)
	m1, m2 := []int64{1000, -5, 77}, []int64{234, 5, -70}
	traced := func(k pairKeys, m []int64) *rlwe.Ciphertext {
		ct := encryptInts(t, params, k.pk, m)
		out := rlwe.NewCiphertext(params, 1, ct.Level())
		if err := k.eval.Trace(ct, 0, out); err != nil {
			t.Fatal(err)
		}
		if err := Rerandomize(params, rlwe.NewEncryptor(params, k.pk), out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	ct1, ct2 := traced(k01, m1), traced(k02, m2)
	// Each session alone decrypts under its pair's secret, traced.
	pair := rlwe.NewSecretKey(params)
	params.RingQP().Add(f.sks[0].Value, f.sks[1].Value, pair.Value)
	if got, _ := decryptInts(t, params, pair, ct1, 2); got[0] != m1[0] || got[1] != 0 {
		t.Fatalf("pair key: got %v, want [%d 0]", got, m1[0])
	}
	rQ := params.RingQ()
	sum := ct1.CopyNew()
	rQ.Add(sum.Value[0], ct2.Value[0], sum.Value[0])
	rQ.Add(sum.Value[1], ct2.Value[1], sum.Value[1])
	view := func(c1 *rlwe.Ciphertext) *rlwe.Ciphertext {
		v := sum.CopyNew()
		v.Value[1].Copy(c1.Value[1])
		return v
	}
	ks, err := NewKeySwitch(params, FloodingSigma(64*FreshNoiseBound(params, n), DefaultFloodingBits))
	if err != nil {
		t.Fatal(err)
	}
	tsk, tpk := rlwe.NewKeyGenerator(params).GenKeyPairNew()
	var shares []mhe.PublicKeySwitchShare
	for i, ct := range []*rlwe.Ciphertext{sum, view(ct1), view(ct2)} {
		sh, err := ks.Share(f.sks[i], tpk, ct)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, sh)
	}
	out, err := ks.Switch(sum, shares)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := decryptInts(t, params, tsk, out, 2)
	if got[0] != m1[0]+m2[0] || got[1] != 0 {
		t.Fatalf("pooled trace = %v, want [%d 0]", got, m1[0]+m2[0])
	}
	partial, err := ks.Switch(sum, shares[:2])
	if err != nil {
		t.Fatal(err)
	}
	if bad, _ := decryptInts(t, params, tsk, partial, 1); bad[0] == m1[0]+m2[0] {
		t.Fatal("the pooled sum decrypted without the third owner's share")
	}
}
