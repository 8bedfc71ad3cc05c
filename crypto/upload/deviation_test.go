package upload_test

import (
	"math"
	"math/rand"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/crypto/upload"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
)

// TestDeviatingUploaderAmplifies pins the mirror of the evaluator's limit
// in the threat model (docs/architecture.md): the evaluator's DP noise on
// Σxy is calibrated for uploaded values within their declared bound, and
// nothing but the ciphertext's headroom stops an uploader that runs other
// code from encrypting one record's y far above it. With every other y 0,
// Σxy is that record's x amplified past the noise, which a querier
// colluding with the uploader reads to within the noise over the weight;
// the weight is bounded by the headroom (here a plan sized for the union
// itself, as a query's is, leaves about 1/800 of the honest noise), and
// beyond the headroom the sum wraps and the value is lost.
func TestDeviatingUploaderAmplifies(t *testing.T) {
	const xMax, yMax = 2000, 50
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	n := k.Params.N()
	u := 2*n + 3
	plan := bivariatePlan(t, k, u)
	mults, _ := bivariateData(7, u, overlapAll, xMax, yMax, false)
	target := n + 5 // in the second block
	x := mults[1][target]
	if x == 0 {
		t.Fatal("target has x = 0")
	}
	const sxy, yCol = 5, 1 // upload.BivariateCircuit: Σxy, the column y
	if plan.Circuit().Stats[sxy].Name != upload.StatSumXY {
		t.Fatal("Σxy is not statistic 5")
	}
	// The noise both owners would add to Σxy at ε = 1, δ = 1e-6 with the
	// six statistics' even split: σ for sensitivity x_max·y_max.
	rho, err := dp.ZCDPRho(1, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	sigma := math.Sqrt2 * dp.SigmaForRho(xMax*yMax, rho/6)
	// The headroom of Σxy's ciphertext: Q_ℓ/(2Δ) less the largest honest sum.
	cp := plan.Column(yCol)
	logQ := 0.0
	for l := 0; l <= cp.Level; l++ {
		logQ += math.Log2(float64(k.Params.Q()[l]))
	}
	headroom := math.Exp2(logQ-1-float64(cp.LogDelta)) - float64(xMax)*yMax*float64(u)
	rng := rand.New(rand.NewSource(3))
	read := func(weight int64) float64 {
		got := deviatingUpload(t, k, plan, mults, yCol, target, weight)[sxy]
		return (got + sigma*rng.NormFloat64()) / float64(weight)
	}

	// Within the declared bound the noise hides the record's x.
	if !(sigma/yMax > 4*xMax) {
		t.Errorf("an honest y reads a record's x: σ/y_max = %.3g, x_max = %d", sigma/yMax, xMax)
	}
	// Amplified within the headroom: the noise on the record's x shrinks
	// by the weight over y_max, and x reads to within it.
	weight := int64(headroom / 4 / xMax)
	left := sigma / float64(weight)
	if honest := sigma / yMax; !(left < honest/100) {
		t.Fatalf("weight %d leaves noise %.3g on x, the honest y %.3g", weight, left, honest)
	}
	if got := read(weight); math.Abs(got-float64(x)) > 4*left {
		t.Errorf("amplified by %d: read x = %.4g ± %.3g, the record has %d", weight, got, left, x)
	}
	// Beyond the headroom the sum wraps: the value is lost.
	over := int64(4 * headroom / float64(x))
	if got := read(over); math.Abs(got-float64(x)) <= 4*left {
		t.Errorf("amplified by %d past the headroom, still read x = %.4g (the record has %d)", over, got, x)
	}
	t.Logf("σ %.3g; an honest y leaves ±%.3g on x, weight %d (of the headroom) ±%.3g", sigma, sigma/yMax, weight, left)
}

// deviatingUpload runs a session in which the uploader sends, for column
// col, 0 everywhere but weight at the target row (unchecked against the
// column's bound) and its other columns honestly laid out as all ones, and
// returns the statistics the ideal key decrypts.
func deviatingUpload(t *testing.T, k *uploadtest.Keys, plan *upload.Plan, mults [][]int64, col, target int, weight int64) []float64 {
	t.Helper()
	n := k.Params.N()
	u := len(mults[0])
	up := uploadtest.NewUploader(t, k, plan)
	in := make(chan *upload.Block, 3*plan.Blocks(u))
	for c := range plan.Circuit().Columns {
		vals := make([]int64, u)
		if c != col {
			for i := range vals {
				vals[i] = 1
			}
		} else {
			vals[target] = weight
		}
		for j := range plan.Blocks(u) {
			b := new(upload.Block)
			block := vals[j*n : min((j+1)*n, u)]
			var err error
			if c == col {
				err = up.EncryptBlockUnchecked(c, j, block, b)
			} else {
				err = up.EncryptBlock(c, j, block, b)
			}
			if err != nil {
				t.Fatal(err)
			}
			in <- b
		}
	}
	close(in)
	cts := uploadtest.Evaluate(t, uploadtest.NewEvaluator(t, k, plan, mults), in)
	got, err := plan.Decode(uploadtest.DecryptAll(k.Params, k.Ideal, cts))
	if err != nil {
		t.Fatal(err)
	}
	return got
}
