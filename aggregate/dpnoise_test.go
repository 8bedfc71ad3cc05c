package aggregate

import (
	"errors"
	"math"
	"math/rand"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/crypto/upload"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// queryOwners is the number of data owners adding noise in the tests.
const queryOwners = 2

// addNoise encrypts each owner's noise plaintexts under the collective key
// and adds them to copies of the product ciphertexts, as the evaluator does
// after Finalize. It returns the noised ciphertexts and, per product, the
// total noise the owners added (read back from the plaintexts).
func addNoise(t *testing.T, k *uploadtest.Keys, c *Compiled, cts []*rlwe.Ciphertext, sample func(float64) (int64, error)) ([]*rlwe.Ciphertext, []int64) {
	t.Helper()
	plan := c.Plan()
	enc := rlwe.NewEncryptor(k.Params, k.CPK)
	out := make([]*rlwe.Ciphertext, len(cts))
	for i, ct := range cts {
		out[i] = ct.CopyNew()
	}
	eta := make([]int64, len(cts))
	for o := 0; o < queryOwners; o++ {
		pts, err := c.NoisePlaintexts(sample)
		if err != nil {
			t.Fatal(err)
		}
		for i, pt := range pts {
			v, err := plan.DecodeProduct(i, pt)
			if err != nil {
				t.Fatal(err)
			}
			if v != math.Round(v) {
				t.Fatalf("product %d: noise plaintext decodes to %v, not an integer", i, v)
			}
			eta[i] += int64(v)
			ctn, err := enc.EncryptNew(pt)
			if err != nil {
				t.Fatal(err)
			}
			r := k.Params.RingQ().AtLevel(out[i].Level())
			r.Add(out[i].Value[0], ctn.Value[0], out[i].Value[0])
			r.Add(out[i].Value[1], ctn.Value[1], out[i].Value[1])
		}
	}
	return out, eta
}

// statShift is the move of every statistic the product noise eta causes.
func statShift(p *upload.Plan, eta []int64) []float64 {
	out := make([]float64, len(p.Circuit().Stats))
	for i, pr := range p.Products() {
		out[pr.Stat] += float64(eta[i]) * math.Exp2(float64(pr.Shift))
	}
	return out
}

// TestQueryNoise adds both owners' encrypted DP noise to the products of a
// real session, many times, and checks that each decoded statistic moves by
// exactly the sampled noise, that the spread of the moves matches the
// combined σ of CombinedSigmas within 20 %, and that the ciphertext noise
// stays under the query's NoiseBound: for the test request, and for it
// with an outcome whose square is uploaded in two digits, whose Σy² must
// be as noisy as the recombined digits are.
func TestQueryNoise(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	w := newWorld(5, 2*k.Params.N()+33, false)
	t.Run("test-request", func(t *testing.T) { checkQueryNoise(t, k, testRequest(1<<13, false), w) })
	t.Run("wide-square", func(t *testing.T) { checkQueryNoise(t, k, wideDP(), w.wideAmount()) })
}

func checkQueryNoise(t *testing.T, k *uploadtest.Keys, req Request, w world) {
	c := mustCompile(t, k.Params, req)
	plan := c.Plan()
	mults, cols, cts := runSession(t, k, c, w)
	exact := uploadtest.ExactStats(plan.Circuit(), mults, cols)
	sampler := NoiseSampler(dp.NewSampler(rand.New(rand.NewSource(77))))
	combined := c.CombinedSigmas(queryOwners)
	const trials = 40
	var sumZ2 float64
	var count int
	for trial := 0; trial < trials; trial++ {
		noisy, eta := addNoise(t, k, c, cts, sampler)
		pts := uploadtest.DecryptAll(k.Params, k.Ideal, noisy)
		if trial == 0 {
			for i := range plan.Products() {
				want := uploadtest.ExactProduct(plan, i, mults, cols) + eta[i]
				if e, b := uploadtest.MaxNoise(plan, i, pts[i], want), c.NoiseBound(i); e > b {
					t.Errorf("product %d: ciphertext noise %.3g above the bound %.3g", i, e, b)
				}
			}
		}
		got, err := plan.Decode(pts)
		if err != nil {
			t.Fatal(err)
		}
		shift := statShift(plan, eta)
		for s := range got {
			move := got[s] - float64(exact[s])
			if d := math.Abs(move - shift[s]); d > 1e-6*max(1, math.Abs(float64(exact[s]))) {
				t.Fatalf("trial %d: %s moved by %.6g, the owners added %.6g", trial, plan.Circuit().Stats[s].Name, move, shift[s])
			}
			z := move / c.statUnits[s] / combined[s]
			sumZ2 += z * z
			count++
		}
	}
	if std := math.Sqrt(sumZ2 / float64(count)); math.Abs(std-1) > 0.2 {
		t.Errorf("standardized noise has std %.3f over %d draws, want 1 ± 0.2", std, count)
	}
}

// TestNoiseSpreadPerProduct checks the sampled noise of every product
// against its σ (plaintexts only, many draws), and its sign balance.
func TestNoiseSpreadPerProduct(t *testing.T) {
	c := mustCompile(t, crypto.MustParameters(crypto.PresetTest), testRequest(1<<13, false))
	sampler := NoiseSampler(dp.NewSampler(rand.New(rand.NewSource(3))))
	sig := c.ProductSigmas()
	const draws = 300
	sum, sum2 := make([]float64, len(sig)), make([]float64, len(sig))
	for d := 0; d < draws; d++ {
		pts, err := c.NoisePlaintexts(sampler)
		if err != nil {
			t.Fatal(err)
		}
		for i, pt := range pts {
			v, err := c.Plan().DecodeProduct(i, pt)
			if err != nil {
				t.Fatal(err)
			}
			sum[i] += v
			sum2[i] += v * v
		}
	}
	for i := range sig {
		std := math.Sqrt(sum2[i] / draws)
		if math.Abs(std/sig[i]-1) > 0.2 {
			t.Errorf("product %d: std %.4g, σ %.4g", i, std, sig[i])
		}
		if m := sum[i] / draws; math.Abs(m) > 5*sig[i]/math.Sqrt(draws) {
			t.Errorf("product %d: mean %.4g, σ %.4g", i, m, sig[i])
		}
	}
}

// TestQueryNoiseHeadroom puts every value at its bound, every record in
// both datasets, the union at MaxRecords, and both owners' noise at the
// largest sample NoisePlaintexts accepts in the direction of the sum: the
// decoded statistics must still be the sum plus the noise (no wrap). A
// sample beyond the headroom is refused.
func TestQueryNoiseHeadroom(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	u := 2 * k.Params.N()
	for _, tc := range []struct {
		name string
		req  Request
	}{{"correlations+rate", testRequest(u, false)}, {"models", modelsRequest(u, false)}} {
		t.Run(tc.name, func(t *testing.T) { checkNoiseHeadroom(t, k, u, tc.req) })
	}
}

func checkNoiseHeadroom(t *testing.T, k *uploadtest.Keys, u int, req Request) {
	c := mustCompile(t, k.Params, req)
	plan := c.Plan()
	mults, cols, cts := runSession(t, k, c, newWorld(1, u, true))
	exact := uploadtest.ExactStats(plan.Circuit(), mults, cols)
	for s, st := range plan.Circuit().Stats {
		// Everyone is in the top band of every group-by and table; the
		// other bands are empty.
		if want := plan.Circuit().Multipliers[st.Multiplier].Max * plan.Circuit().Columns[st.Column].Max * int64(u); exact[s] != want && !isBucket(c, s) && !c.isClipStat(s) {
			t.Fatalf("statistic %s not at its bound", st.Name)
		}
	}
	// 8.4σ per owner is within each owner's share of the headroom, which
	// holds 12σ of the combined noise of two owners (12/√2 ≈ 8.49).
	largest := func(sigma float64) (int64, error) { return int64(8.4 * sigma), nil }
	noisy, eta := addNoise(t, k, c, cts, largest)
	pts := uploadtest.DecryptAll(k.Params, k.Ideal, noisy)
	got, err := plan.Decode(pts)
	if err != nil {
		t.Fatal(err)
	}
	shift := statShift(plan, eta)
	for s := range got {
		want := float64(exact[s]) + shift[s]
		if d := math.Abs(got[s] - want); d > 1e-6*math.Abs(want) {
			t.Errorf("%s = %.9g, want %.9g", plan.Circuit().Stats[s].Name, got[s], want)
		}
	}
	for i := range plan.Products() {
		want := uploadtest.ExactProduct(plan, i, mults, cols) + eta[i]
		if e, b := uploadtest.MaxNoise(plan, i, pts[i], want), c.NoiseBound(i); e > b {
			t.Errorf("product %d: ciphertext noise %.3g above the bound %.3g", i, e, b)
		}
	}
	huge := func(float64) (int64, error) { return 1 << 60, nil }
	if _, err := c.NoisePlaintexts(huge); !errors.Is(err, upload.ErrInfeasible) {
		t.Errorf("sample beyond the headroom: error %v, want ErrInfeasible", err)
	}
}

// TestNoiseCalibration checks the privacy accounting: the costs of all
// released products add up to the query's ρ (buckets of a family counted
// once), exact mode adds nothing, and a split statistic is barely noisier
// than an unsplit one would be.
func TestNoiseCalibration(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	for _, tc := range []struct {
		name  string
		eps   float64
		delta float64
	}{{"eps=1", 1, 1e-6}, {"eps=0.5", 0.5, 1e-9}, {"eps=4", 4, 1e-9}} {
		t.Run(tc.name, func(t *testing.T) {
			req := testRequest(1<<13, false)
			req.Epsilon, req.Delta = tc.eps, tc.delta
			c := mustCompile(t, params, req)
			rho, fam := c.Rho()
			want, _ := dp.ZCDPRho(tc.eps, tc.delta)
			want *= 1 - SizeRhoShare // the rest pads the session sizes
			if rho != want || fam != 20 {
				t.Fatalf("ρ %v over %d families, want %v over 20", rho, fam, want)
			}
			// Cost per family: the largest over its buckets.
			var families [][]int
			for _, rs := range c.rates {
				families = append(families, rs.n, rs.ev, rs.ex)
			}
			total := familyCosts(c, families)
			if total > rho || total < rho*(1-1e-6) {
				t.Errorf("released products cost ρ = %.9g, budget %.9g", total, rho)
			}
			// Σx² of spend is split, and the headroom holds its low digit
			// below its share of σ; its σ is still within 1 % of an unsplit
			// release of sensitivity x_max² at the statistic's share.
			s := c.sumX2[0]
			fp, _ := c.FixedPoint(refSpend)
			unsplit := dp.SigmaForRho(float64(fp.Max()*fp.Max()), c.noise.statRho[s])
			if got := c.noise.statSigma[s]; got < unsplit*0.999 || got > unsplit*1.01 {
				t.Errorf("σ of split Σx² %.6g, unsplit %.6g", got, unsplit)
			}
		})
	}
	c := mustCompile(t, params, testRequest(1<<13, true))
	for s, v := range c.NoiseSigmas() {
		if v != 0 {
			t.Errorf("exact mode: σ of statistic %d is %v", s, v)
		}
	}
	pts, err := c.NoisePlaintexts(func(float64) (int64, error) { return 0, errors.New("must not be called") })
	if err != nil {
		t.Fatal(err)
	}
	for i, pt := range pts {
		if v, _ := c.Plan().DecodeProduct(i, pt); v != 0 {
			t.Errorf("exact mode: product %d noise %v", i, v)
		}
	}
	for i := range c.Plan().Products() {
		if c.NoiseBound(i) != c.Plan().NoiseBound(i) {
			t.Errorf("exact mode: product %d bound differs from the plan's", i)
		}
	}
}

// TestNoiseCalibrationDigitColumns checks the noise of a statistic spread
// over digit columns (a square too wide for one uploaded column): each
// digit's product is calibrated to its own bound, the digits' costs add up
// to the statistic's share of ρ and the query's to ρ, and the recombined
// σ is that of an unsplit release of sensitivity y_max² at the same share,
// within 1 %.
func TestNoiseCalibrationDigitColumns(t *testing.T) {
	c := mustCompile(t, crypto.MustParameters(crypto.PresetTest), wideDP())
	rho, _ := c.Rho()
	var families [][]int
	for _, rs := range c.rates {
		families = append(families, rs.n, rs.ev, rs.ex)
	}
	if total := familyCosts(c, families); total > rho || total < rho*(1-1e-6) {
		t.Errorf("released products cost ρ = %.9g, budget %.9g", total, rho)
	}
	fp, _ := c.FixedPoint(refAmount)
	s := c.sumY2[len(c.sumY2)-1]
	if st := c.Circuit().Stats[s]; st.Name != "sum_y2/amount" || len(st.Digits) != 1 {
		t.Fatalf("statistic %+v, want Σ amount² over two digit columns", st)
	}
	split, _ := upload.SplitSquare(fp.Max())
	sig := c.ProductSigmas()
	var cost, variance float64
	var digits []int64
	for i, pr := range c.Plan().Products() {
		if pr.Stat != s {
			continue
		}
		bound := c.Circuit().Columns[pr.Column].Max
		digits = append(digits, bound)
		cost += dp.GaussianRho(float64(pr.Max*bound), sig[i])
		variance += math.Exp2(2*float64(pr.Shift)) * dp.DiscreteGaussianVariance(sig[i])
	}
	if len(digits) != 2 || digits[0] != split.LoMax || digits[1] != split.HiMax {
		t.Errorf("Σ amount² products on columns bounded by %v, want the digits %d and %d", digits, split.LoMax, split.HiMax)
	}
	share := c.noise.statRho[s]
	if fair := (1 - ClipBudgetShare) * rho / float64(c.families()); math.Abs(share-fair) > 1e-9*fair {
		t.Errorf("Σ amount²'s share of ρ %.9g, want a family's %.9g", share, fair)
	}
	if math.Abs(cost-share) > 1e-6*share {
		t.Errorf("Σ amount²'s digits cost ρ = %.9g, its share %.9g", cost, share)
	}
	if got := c.noise.statSigma[s]; math.Abs(got-math.Sqrt(variance)) > 1e-9*got {
		t.Errorf("σ of Σ amount² %.6g, the digits recombined %.6g", got, math.Sqrt(variance))
	}
	yMax := float64(fp.Max())
	unsplit := dp.SigmaForRho(yMax*yMax, c.noise.statRho[s])
	if got := c.noise.statSigma[s]; got < unsplit*0.999 || got > unsplit*1.01 {
		t.Errorf("σ of Σ amount² in digits %.6g, unsplit %.6g", got, unsplit)
	}
}

// wideDP is the test request under DP noise with the wide amount of
// wideAmount, at ε = 2: at ε = 1 the noise of Σ spend·amount, whose
// sensitivity is 2000 × 2.6·10⁷ fixed-point units, is beyond the sampler's
// range.
func wideDP() Request {
	r := wideAmount(testRequest(1<<13, false))
	r.Epsilon = 2
	return r
}

// isBucket reports whether statistic s is in a family of several
// statistics (rate buckets, table cells).
func isBucket(c *Compiled, s int) bool {
	for _, group := range c.groups {
		for _, b := range group {
			if b == s {
				return true
			}
		}
	}
	return false
}

// TestQueryNoiseInKeySwitchShare takes the other documented path: each
// owner adds its noise plaintext to Value[0] of its own share of the
// public-key switch to the querier (so its noise does not depend on the
// evaluator adding it, and adds no ciphertext noise). The querier decodes
// the statistics moved by exactly the sampled noise.
func TestQueryNoiseInKeySwitchShare(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	c := mustCompile(t, k.Params, testRequest(1<<13, false))
	plan := c.Plan()
	mults, cols, cts := runSession(t, k, c, newWorld(21, k.Params.N()+5, false))
	sampler := NoiseSampler(dp.NewSampler(rand.New(rand.NewSource(12))))
	noise := make([][]*rlwe.Plaintext, len(k.Shares))
	eta := make([]int64, len(cts))
	for o := range noise {
		var err error
		if noise[o], err = c.NoisePlaintexts(sampler); err != nil {
			t.Fatal(err)
		}
		for i, pt := range noise[o] {
			v, _ := plan.DecodeProduct(i, pt)
			eta[i] += int64(v)
		}
	}
	pts := uploadtest.KeySwitchToQuerier(t, k, cts, func(i, o int, share ring.Poly) {
		k.Params.RingQ().AtLevel(share.Level()).Add(share, noise[o][i].Value, share)
	})
	got, err := plan.Decode(pts)
	if err != nil {
		t.Fatal(err)
	}
	exact := uploadtest.ExactStats(plan.Circuit(), mults, cols)
	shift := statShift(plan, eta)
	moved := false
	for s := range got {
		want := float64(exact[s]) + shift[s]
		if d := math.Abs(got[s] - want); d > 1e-6*max(1, math.Abs(want)) {
			t.Errorf("%s = %.9g, want %.9g", plan.Circuit().Stats[s].Name, got[s], want)
		}
		moved = moved || shift[s] != 0
	}
	if !moved {
		t.Error("no statistic moved: the noise was not added")
	}
}
