package aggregate

import (
	"math"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
)

// TestDeviatingEvaluatorAmplifies pins a documented limit of the threat
// model (docs/architecture.md, "Threat model"): the other owner's DP noise
// is calibrated for multipliers within their declared bounds, and nothing
// but the ciphertext's headroom stops an evaluator that runs other code
// from multiplying one customer's encrypted value by far more. With
// everyone else's multiplier 0, Σ m·y is that one value, amplified past the
// noise: a querier colluding with such an evaluator reads it exactly. The
// amplification is bounded by the headroom of the product's ciphertext:
// beyond it the sum wraps and the value is lost. If either bound moved
// (the honest multiplier reading a value, or the headroom letting more
// through than documented), this test fails.
func TestDeviatingEvaluatorAmplifies(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	u := 2*k.Params.N() + 11
	req := Request{
		X:            []ColumnInfo{{Ref: refSpend, Lo: 0, Hi: 500}},
		Y:            []ColumnInfo{{Ref: refClaims, Lo: 0, Hi: 10}},
		Correlations: true, Epsilon: 1, Delta: 1e-6, MaxRecords: u,
	}
	c := mustCompile(t, k.Params, req)
	w := newWorld(41, u, false)
	mults, cols := w.columns(t, c)
	sxy := c.sumXY[0][0]
	var prod int
	for i, p := range c.Plan().Products() {
		if p.Stat == sxy {
			prod = i
		}
	}
	if n := len(c.Plan().Products()); n == 0 || c.Plan().Product(prod).Stat != sxy {
		t.Fatal("no product of Σxy")
	}
	// A common customer whose claims lie inside the bounds.
	target := -1
	for r, p := range w.people {
		if p.inX && p.inY && p.claims > 0 && p.claims < 10 {
			target = r
			break
		}
	}
	if target < 0 {
		t.Fatal("no target")
	}
	fp, _ := c.FixedPoint(refClaims)
	encoded := int64(math.Round((w.people[target].claims - fp.Lo) / fp.Unit()))
	xMax := c.circuit.Multipliers[c.xs[0].val].Max
	headroom := c.headroom(prod) // in product units, what the sum may add
	// σ of Σxy as both owners' noise gives it, in product units.
	sigma := dp.CombinedSigma(c.noise.statSigma[sxy], queryOwners)
	t.Logf("Σxy: σ %.3g, headroom %.3g, x bound %d, target's encoded claims %d", sigma, headroom, xMax, encoded)

	// 1. Within the declared bound the noise hides the value: one step of
	//    the target's claims moves Σxy by at most x_max, far below σ.
	if !(float64(xMax)*float64(fp.Max()) < sigma/4) {
		t.Errorf("honest multiplier reads a customer: x_max·y_max = %d, σ = %.3g", xMax*fp.Max(), sigma)
	}
	// 2. Amplified within the headroom: the noise left on the target's
	//    value is σ/weight, far below one claim, and it reads exactly. The
	//    weight is the largest whose product with the column's bound fits
	//    half the headroom.
	weight := int64(headroom / 2 / float64(fp.Max()))
	claims := w.people[target].claims
	if left := sigma / float64(weight) * fp.Unit(); !(left < 0.1) {
		t.Fatalf("weight %d leaves noise %.3g claims on the value", weight, left)
	}
	for range 3 {
		got := deviatingRead(t, k, c, mults, cols, target, weight, sxy)
		if v := fp.Lo + got/float64(weight)*fp.Unit(); math.Round(v) != claims {
			t.Errorf("amplified by %d: read %.4g claims, the customer has %g", weight, v, claims)
		}
	}
	// 3. Beyond the headroom the sum wraps around the modulus: the value
	//    is lost (the bound on what a deviating evaluator can amplify).
	over := int64(4 * headroom / float64(encoded))
	if got := deviatingRead(t, k, c, mults, cols, target, over, sxy); math.Round(fp.Lo+got/float64(over)*fp.Unit()) == claims {
		t.Errorf("amplified by %d past the headroom, still read %g claims", over, claims)
	}
}

// deviatingRead runs the session with every x multiplier 0 except weight at
// the target row, adds both owners' DP noise, and returns Σxy as the
// querier decodes it.
func deviatingRead(t *testing.T, k *uploadtest.Keys, c *Compiled, mults, cols [][]int64, target int, weight int64, stat int) float64 {
	t.Helper()
	dev := make([][]int64, len(mults))
	for m := range mults {
		dev[m] = append([]int64(nil), mults[m]...)
	}
	x := c.xs[0].val
	for r := range dev[x] {
		dev[x][r] = 0
	}
	// The evaluator checks its multipliers against their bounds when it is
	// built and keeps the slices: a deviating one writes the weight after.
	ev := uploadtest.NewEvaluator(t, k, c.Plan(), dev)
	dev[x][target] = weight
	cts := uploadtest.RunWith(t, k, c.Plan(), ev, cols)
	noisy, _ := addNoise(t, k, c, cts, NoiseSampler(dp.NewSampler(nil)))
	got, err := c.Plan().Decode(uploadtest.DecryptAll(k.Params, k.Ideal, noisy))
	if err != nil {
		t.Fatal(err)
	}
	return got[stat]
}
