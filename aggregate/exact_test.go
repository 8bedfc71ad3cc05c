package aggregate

import (
	"context"
	"maps"
	"math"
	"math/big"
	"math/rand"
	"strings"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/upload"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
)

// exactStats computes every statistic of a circuit in the clear, in
// integers: the sum over the union of multiplier times column, a column
// uploaded in digits recombined at their weights.
func exactStats(c upload.Circuit, mults, cols [][]int64) []*big.Int {
	out := make([]*big.Int, len(c.Stats))
	t := new(big.Int)
	for s, st := range c.Stats {
		out[s] = new(big.Int)
		m := mults[st.Multiplier]
		for _, d := range append([]upload.ColumnDigit{{Column: st.Column}}, st.Digits...) {
			v := cols[d.Column]
			for i := range m {
				t.Mul(big.NewInt(m[i]), big.NewInt(v[i]))
				out[s].Add(out[s], t.Lsh(t, uint(d.Shift)))
			}
		}
	}
	return out
}

// releaseExact runs the nodes' release of every product of an exact
// query: the session's sums packed by level, each pack switched to a fresh
// querier key by both owners' shares flooded uniformly at the query's
// widths (crypto.NewPackedKeySwitch), decrypted and decoded exactly. It
// returns the statistics and, per plan product, its own exact sum (a digit
// of a multiplier or of a column uploaded in digits, before its weight).
func releaseExact(t *testing.T, k *uploadtest.Keys, c *Compiled, mults, cols [][]int64) (stats, products []*big.Int) {
	t.Helper()
	plan := c.Plan()
	sums := uploadtest.Sums(t, k, plan, mults, cols)
	packs, err := sums.Pack(context.Background(), allProducts(plan))
	if err != nil {
		t.Fatal(err)
	}
	skQ, pkQ := rlwe.NewKeyGenerator(k.Params).GenKeyPairNew()
	dec := rlwe.NewDecryptor(k.Params, skQ)
	pts := make([]*rlwe.Plaintext, len(packs))
	for g, pk := range packs {
		widths, err := c.PackFlooding(pk.Products)
		if err != nil {
			t.Fatal(err)
		}
		ks, err := crypto.NewPackedKeySwitch(k.Params, widths)
		if err != nil {
			t.Fatal(err)
		}
		var shares []mhe.PublicKeySwitchShare
		for _, sk := range k.Shares {
			sh, err := ks.Share(sk, pkQ, pk.Ct)
			if err != nil {
				t.Fatal(err)
			}
			shares = append(shares, sh)
		}
		out, err := ks.Switch(pk.Ct, shares)
		if err != nil {
			t.Fatal(err)
		}
		pts[g] = dec.DecryptNew(out)
	}
	got, err := plan.DecodePackedExact(packs, pts)
	if err != nil {
		t.Fatal(err)
	}
	products = make([]*big.Int, len(plan.Products()))
	for g, pk := range packs {
		for j, i := range pk.Products {
			if products[i], err = plan.DecodeProductExactAt(i, pts[g], pk.Coefficient(j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return got, products
}

// TestExactSumsBitForBit releases every statistic of exact queries (the
// correlations and rates of the test request, with values inside and at
// their bounds, the regressions, table and rates of the models request, and
// the correlations and models with an outcome too wide for its square to be
// one uploaded column) through the encrypted core and the flooded key
// switch, and compares each with the plaintext sum of the same encoded
// integers, bit for bit: every product on its own (a digit of a multiplier
// or of a square uploaded in digits) and every recombined statistic.
func TestExactSumsBitForBit(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	n := k.Params.N()
	for _, tc := range []struct {
		name     string
		req      Request
		w        world
		atBounds bool // everyone at the upper bounds: the sums at their largest, no variance
	}{
		{"correlations", testRequest(1<<13, true), newWorld(31, 3*n+5, false), false},
		{"correlations/at-bounds", testRequest(1<<12, true), newWorld(32, 2*n+9, true), true},
		{"models", modelsRequest(1<<13, true), newWorld(33, 2*n+97, false), false},
		{"models/declared-steps", steppedRequest(modelsRequest(1<<13, true)), newWorld(34, 2*n+97, false), false},
		{"correlations/wide-square", wideAmount(testRequest(1<<13, true)), newWorld(37, 2*n+51, false).wideAmount(), false},
		{"correlations/wide-square/at-bounds", wideAmount(testRequest(1<<12, true)), newWorld(38, 2*n+9, true).wideAmount(), true},
		{"models/wide-square", wideAmount(modelsRequest(1<<13, true)), newWorld(39, 2*n+97, false).wideAmount(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCompile(t, k.Params, tc.req)
			if !c.Plan().Config().Exact {
				t.Fatal("an exact query compiled to an approximate plan")
			}
			if wide := strings.Contains(tc.name, "wide-square"); wide != hasDigits(c, "sum_y2/amount") {
				t.Fatalf("Σ amount² spread over digit columns: %v, want %v", !wide, wide)
			}
			mults, cols := tc.w.columns(t, c)
			want := exactStats(c.Circuit(), mults, cols)
			got, products := releaseExact(t, k, c, mults, cols)
			for s, st := range c.Circuit().Stats {
				if got[s].Cmp(want[s]) != 0 {
					t.Errorf("%s = %v, want exactly %v", st.Name, got[s], want[s])
				}
			}
			for i, pr := range c.Plan().Products() {
				if w := uploadtest.ExactProduct(c.Plan(), i, mults, cols); products[i].Cmp(big.NewInt(w)) != 0 {
					t.Errorf("product %d of %s (column %s) = %v, want exactly %d", i, c.Circuit().Stats[pr.Stat].Name, c.Circuit().Columns[pr.Column].Name, products[i], w)
				}
			}
			cells, err := c.ExactResults(got, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tc.atBounds {
				return
			}
			for _, cell := range cells {
				if cell.Suppressed || !cell.Exact || cell.NoiseStd != 0 {
					t.Errorf("%+v: want an exact, unsuppressed cell without noise", cell)
				}
			}
		})
	}
}

// hasDigits reports whether the statistic named name is spread over digit
// columns.
func hasDigits(c *Compiled, name string) bool {
	for _, st := range c.Circuit().Stats {
		if st.Name == name {
			return len(st.Digits) > 0
		}
	}
	return false
}

// wideFactor scales the test world's amounts so that, in whole units,
// they span about 2.6·10⁷ steps: more than the 2^24 whose square fits one
// uploaded column.
const wideFactor = 25_000

// wideAmount declares the amount column of r in whole units over bounds
// wideFactor times wider (and moves its cut points with it): its square is
// uploaded in two digits.
func wideAmount(r Request) Request {
	r.X, r.Y = cloneColumns(r.X), cloneColumns(r.Y)
	for i := range r.Y {
		if r.Y[i].Ref == refAmount {
			r.Y[i].Lo, r.Y[i].Hi, r.Y[i].Step = r.Y[i].Lo*wideFactor, r.Y[i].Hi*wideFactor, 1
		}
	}
	r.Rates, r.Regressions, r.Contingencies = copyRequests(r)
	for i := range r.Rates {
		if r.Rates[i].By == refAmount {
			for j := range r.Rates[i].Edges {
				r.Rates[i].Edges[j] *= wideFactor
			}
		}
	}
	return r
}

// wideAmount is w with every amount wideFactor times larger, plus a
// spread below one old unit, so that both digits of its square vary.
func (w world) wideAmount() world {
	rng := rand.New(rand.NewSource(int64(len(w.people))))
	out := w
	out.people = append([]person(nil), w.people...)
	for i := range out.people {
		out.people[i].amount = out.people[i].amount*wideFactor + float64(rng.Intn(wideFactor))
	}
	out.yVals = maps.Clone(w.yVals)
	out.yVals["amount"] = nil
	for _, r := range out.yRows {
		out.yVals["amount"] = append(out.yVals["amount"], out.people[r].amount)
	}
	return out
}

// steppedRequest declares the grid every column of the test world lies on:
// spend in quarters, the others in whole units.
func steppedRequest(r Request) Request {
	for _, cols := range [][]ColumnInfo{r.X, r.Y} {
		for i := range cols {
			cols[i].Step = 1
			if cols[i].Ref == refSpend {
				cols[i].Step = 0.25
			}
		}
	}
	return r
}

// TestDeclaredSteps compiles a request whose columns declare their steps:
// each is encoded on its own grid (a value k steps above the lower bound as
// k), the result states the resolution of every column, and the means,
// variances and regression of an exact release agree with the plaintext
// computed in rational arithmetic to 14 digits.
func TestDeclaredSteps(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	req := steppedRequest(modelsRequest(1<<13, true))
	req.Correlations = true
	c := mustCompile(t, k.Params, req)
	want := map[string]float64{"retailer.spend": 0.25, "retailer.age": 1, "insurer.claims": 1, "insurer.exposure": 1, "insurer.amount": 1}
	if got := c.Resolutions(); !maps.Equal(got, want) {
		t.Errorf("resolutions %v, want %v", got, want)
	}
	if fp, _ := c.FixedPoint(refAmount); fp.Encode(-49) != 1 || fp.Max() != 1050 {
		t.Errorf("amount on [−50, 1000] in whole units: Encode(−49) = %d, Max %d", fp.Encode(-49), fp.Max())
	}
	w := newWorld(35, 2*k.Params.N()+41, false)
	mults, cols := w.columns(t, c)
	cells, err := c.ExactResults(exactStats(c.Circuit(), mults, cols), 0)
	if err != nil {
		t.Fatal(err)
	}
	beta, _, _ := w.plainOLS(t, req, refAmount, []ColumnRef{refSpend, refAge})
	checked := 0
	for _, cell := range cells {
		var want float64
		switch {
		case cell.Statistic == CellMean:
			ref := colRef(t, cell.X+cell.Y)
			s := w.sums(req, ref, ref)
			want = s.sx / s.n
		case cell.Statistic == CellOLSCoef && cell.Group == "insurer.amount ~ retailer.spend + retailer.age":
			want = beta[1]
			if cell.X == refAge.String() {
				want = beta[2]
			}
		case cell.Statistic == CellOLSIntercept && cell.Group == "insurer.amount ~ retailer.spend + retailer.age":
			want = beta[0]
		default:
			continue
		}
		if math.Abs(cell.Value-want) > 1e-12*math.Abs(want) {
			t.Errorf("%s %s%s = %.16g, want %.16g", cell.Statistic, cell.X, cell.Y, cell.Value, want)
		}
		checked++
	}
	if checked != 5+3 {
		t.Errorf("%d cells checked, want 8", checked)
	}
	// A value between two grid points of its declared step is refused by
	// the source (party/source); here the bounds must lie on the grid.
	req.X[0].Lo = 0.1
	if _, err := Compile(k.Params, req); err == nil {
		t.Error("bounds off the grid of their step were accepted")
	}
}

// TestRegressionThroughOrigin fits amount on spend and age without an
// intercept. In exact mode the sums are moved from the shifted encoding
// (age's lower bound is 18) back to the origin exactly, and the
// coefficients and the uncentred R² agree with the plaintext; under DP
// noise a column with lo ≠ 0 is refused, and with lo = 0 the fit runs.
func TestRegressionThroughOrigin(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	rg := RegressionRequest{Outcome: refAmount, Predictors: []ColumnRef{refSpend, refAge}, NoIntercept: true}
	req := modelsRequest(1<<13, true)
	req.Regressions = append(req.Regressions, rg)
	c := mustCompile(t, params, req)
	w := newWorld(36, 3000, false)
	mults, cols := w.columns(t, c)
	cells, err := c.ExactResults(exactStats(c.Circuit(), mults, cols), 0)
	if err != nil {
		t.Fatal(err)
	}
	a := [][]float64{{0, 0}, {0, 0}}
	var b [2]float64
	var syy float64
	for _, p := range w.people {
		if !p.inX || !p.inY {
			continue
		}
		z := []float64{plainValue(p, refSpend, req), plainValue(p, refAge, req)}
		v := plainValue(p, refAmount, req)
		for i := range z {
			for j := range z {
				a[i][j] += z[i] * z[j]
			}
			b[i] += z[i] * v
		}
		syy += v * v
	}
	inv := invert(t, a)
	beta := []float64{inv[0][0]*b[0] + inv[0][1]*b[1], inv[1][0]*b[0] + inv[1][1]*b[1]}
	r2 := (beta[0]*b[0] + beta[1]*b[1]) / syy
	model := "insurer.amount ~ 0 + retailer.spend + retailer.age"
	seen := 0
	for _, cell := range cells {
		if cell.Group != model {
			continue
		}
		seen++
		want := r2
		switch {
		case cell.Statistic == CellOLSCoef && cell.X == refSpend.String():
			want = beta[0]
		case cell.Statistic == CellOLSCoef:
			want = beta[1]
		case cell.Statistic != CellR2:
			t.Errorf("unexpected cell %+v of a fit through the origin", cell)
			continue
		}
		if cell.Suppressed || math.Abs(cell.Value-want) > 1e-9*math.Abs(want) {
			t.Errorf("%s %s = %.12g, want %.12g (%s)", cell.Statistic, cell.X, cell.Value, want, cell.Reason)
		}
	}
	if seen != 3 {
		t.Errorf("%d cells of the fit through the origin, want 2 coefficients and R²", seen)
	}

	noisy := modelsRequest(1<<13, false)
	noisy.Regressions = []RegressionRequest{rg}
	if _, err := Compile(params, noisy); err == nil || !strings.Contains(err.Error(), "lo = 0") {
		t.Errorf("a noisy fit through the origin on age ∈ [18, 90]: %v", err)
	}
	noisy.Regressions = []RegressionRequest{{Outcome: refClaims, Predictors: []ColumnRef{refSpend}, NoIntercept: true}}
	c, st := noisyStatistics(t, noisy, w, 3)
	cells, err = c.Results(st, queryOwners, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, cell := range cells {
		if cell.Group == "insurer.claims ~ 0 + retailer.spend" && (cell.Suppressed || cell.Statistic == CellOLSCoef && !(cell.NoiseStd > 0 && cell.CILow < cell.Value && cell.Value < cell.CIHigh)) {
			t.Errorf("noisy fit through the origin: %+v", cell)
		}
	}
}

// TestWideSquareCells computes the cells of an exact query whose outcome's
// square is uploaded in two digits from its exact statistics: the
// variance, the correlations and the regression of the wide column agree
// with the plaintext to 12 digits, as those of a narrow one do.
func TestWideSquareCells(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	req := wideAmount(modelsRequest(1<<13, true))
	req.Correlations = true
	c := mustCompile(t, params, req)
	if !hasDigits(c, "sum_y2/amount") {
		t.Fatal("Σ amount² is one column")
	}
	w := newWorld(40, 3000, false).wideAmount()
	mults, cols := w.columns(t, c)
	cells, err := c.ExactResults(exactStats(c.Circuit(), mults, cols), 0)
	if err != nil {
		t.Fatal(err)
	}
	var amounts []float64
	for _, p := range w.people {
		if p.inX && p.inY {
			amounts = append(amounts, plainValue(p, refAmount, req))
		}
	}
	var mean, ss float64
	for _, v := range amounts {
		mean += v / float64(len(amounts))
	}
	for _, v := range amounts {
		ss += (v - mean) * (v - mean)
	}
	beta, _, r2 := w.plainOLS(t, req, refAmount, []ColumnRef{refSpend, refAge})
	model := "insurer.amount ~ retailer.spend + retailer.age"
	checked := 0
	for _, cell := range cells {
		var want float64
		switch {
		case cell.Statistic == CellVariance && cell.Y == refAmount.String():
			want = ss / float64(len(amounts)-1)
		case cell.Statistic == CellPearson && cell.Y == refAmount.String():
			want = w.sums(req, colRef(t, cell.X), refAmount).r()
		case cell.Group == model && cell.Statistic == CellOLSIntercept:
			want = beta[0]
		case cell.Group == model && cell.Statistic == CellOLSCoef && cell.X == refSpend.String():
			want = beta[1]
		case cell.Group == model && cell.Statistic == CellOLSCoef:
			want = beta[2]
		case cell.Group == model && cell.Statistic == CellR2:
			want = r2
		default:
			continue
		}
		if cell.Suppressed || math.Abs(cell.Value-want) > 1e-12*math.Abs(want) {
			t.Errorf("%s %s%s = %.16g, want %.16g (%s)", cell.Statistic, cell.X, cell.Y, cell.Value, want, cell.Reason)
		}
		checked++
	}
	if checked != 1+2+4 {
		t.Errorf("%d cells checked, want 7", checked)
	}
}
