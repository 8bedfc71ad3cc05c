package aggregate

import (
	"fmt"
	"math"
	"math/big"

	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/crypto/upload"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// Differential privacy of a compiled query (the homomorphic-encryption
// noise, which sets the flooding, is henoise.go).
//
// What reaches the querier is one decryption per upload.Plan product, so the
// released vector is the products, not the recombined statistics: a split
// Σx² shows its digit sums Σ h·m and Σ l·m separately, and so does a Σy²
// whose square is uploaded in two digit columns (square.go), and each must
// carry its own noise. The accounting is zCDP (crypto/dp):
//
//   - the query's ρ = dp.ZCDPRho(ε, δ) is split evenly over its k statistic
//     families; a family is one statistic, or for a rate request one kind
//     (count, events, exposure) over all its buckets, or all the cells of a
//     contingency table, which are disjoint in people (parallel
//     composition: one person changes one bucket or one cell). A statistic
//     two requests share (Σx of a correlation and of a regression, say) is
//     released once and is one family; the clipping counts
//     (clipping.go) are outside this split: they share ClipBudgetShare·ρ
//     evenly (more if a tiny union's headroom needs it, statRhos), the
//     proxy statistics (proxy.go) ProxyBudgetShare·ρ by family, and the
//     families the rest;
//   - a statistic's share ρ_s goes to its products p (weight 2^s_p,
//     sensitivity Δ_p = multiplier digit bound × column bound in
//     fixed-point units, a digit column's own bound for a square uploaded
//     in digits) in proportion to 2^s_p·Δ_p, and σ_p = dp.SigmaForRho(Δ_p,
//     ρ_p). This split minimizes the variance of the recombined statistic
//     Σ_p 2^s_p·η_p, which comes out as (Σ_p 2^s_p·Δ_p)²/(2ρ_s): for x² =
//     2^11·h + l that is ((x_max² + 2^11 − 1)·C)²/(2ρ_s), the same as an
//     unsplit statistic to one part in 2^11, and for y² = 2^s·h + l it is
//     (y_max² + 2^s − 1)²/(2ρ_s). A low digit whose share would need more
//     noise than its ciphertext's headroom holds is kept at the largest σ
//     that fits and the rest of ρ_s goes to the other digits (splitBudget);
//     for Σx² of a small union this costs a few tenths of a percent of σ.
//     The costs add up to exactly ρ.
//
// The sensitivity is that of the statistic actually encrypted, the sum of
// shifted fixed-point values (v − lo)·2^F, so it is (hi − lo) per column
// factor; for lo = 0 this is max|m|·max|c| of the declared bounds.
//
// Every owner samples its own η_p at the full σ_p (docs/privacy.md, "Every owner adds its own full-scale noise"), so
// the released products carry the sum of QueryParties samples.

// noiseTail is how many standard deviations of the combined DP noise the
// headroom of a product ciphertext must hold. A Gaussian exceeds 12σ with
// probability about 4·10⁻³³; a sample beyond one owner's share of the
// headroom is refused anyway (NoisePlaintexts), so a wrap cannot happen.
const noiseTail = 12

// noiseCalibration is the DP noise of a compiled query.
type noiseCalibration struct {
	rho      float64
	families int
	// prodSigma is one owner's σ per product, in the product's units (the
	// integer sum Σ digit·column).
	prodSigma []float64
	// prodCap bounds one owner's sample per product: the headroom left by
	// the largest possible sum and the flooding, shared by all owners.
	prodCap []float64
	// statSigma is the standard deviation of one owner's noise per
	// statistic in fixed-point units: the discrete Gaussians' true spread,
	// not their σ parameters.
	statSigma []float64
	// statRho is the ρ each statistic (each bucket of a family) gets.
	statRho []float64
}

// families counts the statistic families of the privacy split: one per
// statistic, except that the statistics of a group (the buckets of one
// kind of a rate request, the cells of a contingency table) form one
// family, since each person is in exactly one of them. The clipping counts
// and the proxy statistics are not families: they have their own shares of
// ρ (statRhos).
func (c *Compiled) families() int {
	grouped := 0
	for _, g := range c.groups {
		grouped += len(g)
	}
	return len(c.circuit.Stats) - grouped + len(c.groups) - len(c.clips) - len(c.proxyStats())
}

// statRhos splits the query's ρ over its statistics: each clipping count
// gets ClipBudgetShare·ρ over the number of them, each family of proxy
// statistics ProxyBudgetShare·ρ over the number of those families (every
// statistic of a family, disjoint in people, the whole share), in either
// case more when a ciphertext's headroom cannot hold the noise that share
// needs (a tiny union), and every other statistic (each bucket of a
// family) the rest over the families. ps are each statistic's products,
// sens and maxSigma the products' sensitivities and largest σ.
func (c *Compiled) statRhos(rho float64, ps [][]int, sens, maxSigma []float64) ([]float64, error) {
	out := make([]float64, len(c.circuit.Stats))
	rest := rho
	// reserve gives every statistic of a family share, or the ρ of its
	// products at their largest σ if that is more, and takes the family's
	// cost from the rest.
	reserve := func(family []int, share float64) {
		cost := 0.0
		for _, s := range family {
			need := 0.0 // the ρ of every product at its largest σ
			for _, i := range ps[s] {
				need += sens[i] * sens[i] / (2 * maxSigma[i] * maxSigma[i])
			}
			out[s] = max(share, need*(1+1e-9))
			cost = max(cost, out[s])
		}
		rest -= cost
	}
	for _, cs := range c.clips {
		reserve([]int{cs.stat}, ClipBudgetShare*rho/float64(len(c.clips)))
	}
	for _, f := range c.proxyFamilies {
		reserve(f, ProxyBudgetShare*rho/float64(len(c.proxyFamilies)))
	}
	if !(rest > 0) {
		return nil, fmt.Errorf("%w: the noise of the clipping counts and proxy checks exceeds the headroom of their ciphertexts (MaxRecords %d); raise epsilon or MaxRecords",
			upload.ErrInfeasible, c.plan.Config().MaxRecords)
	}
	for s := range out {
		if !c.isClipStat(s) && !c.isProxyStat(s) {
			out[s] = rest / float64(c.families())
		}
	}
	return out, nil
}

func (c *Compiled) calibrate() error {
	prods := c.plan.Products()
	rho := c.noise.rho // set by validate
	nc := noiseCalibration{
		prodSigma: make([]float64, len(prods)),
		prodCap:   make([]float64, len(prods)),
		statSigma: make([]float64, len(c.circuit.Stats)),
	}
	c.noise = nc
	if c.req.Exact {
		return nil
	}
	k := c.families()
	nc.rho, nc.families = rho, k
	parties := float64(c.plan.Config().Parties)
	sens := make([]float64, len(prods))
	maxSigma := make([]float64, len(prods))
	byStat := make([][]int, len(c.circuit.Stats))
	for i, pr := range prods {
		sens[i] = float64(pr.Max) * float64(c.circuit.Columns[pr.Column].Max)
		room := c.headroom(i)
		maxSigma[i] = room / (noiseTail * math.Sqrt(parties))
		nc.prodCap[i] = math.Floor(room / parties)
		byStat[pr.Stat] = append(byStat[pr.Stat], i)
	}
	shares, err := c.statRhos(rho, byStat, sens, maxSigma)
	if err != nil {
		return err
	}
	nc.statRho = shares
	v := make([]float64, len(c.circuit.Stats))
	for s, ps := range byStat {
		// Each statistic, or each bucket of a family, gets its share.
		if err := c.splitBudget(shares[s], ps, sens, maxSigma, nc.prodSigma); err != nil {
			return fmt.Errorf("statistic %q: %w", c.circuit.Stats[s].Name, err)
		}
		for _, i := range ps {
			if nc.prodSigma[i] > 1<<40 {
				return fmt.Errorf("%w: DP noise of statistic %q beyond the sampler's range; raise epsilon or narrow the bounds", upload.ErrInfeasible, c.circuit.Stats[s].Name)
			}
			// The spread of the discrete Gaussian drawn at σ_p, which for
			// a count at a large ε is well below σ_p.
			v[s] += math.Exp2(2*float64(prods[i].Shift)) * dp.DiscreteGaussianVariance(nc.prodSigma[i])
		}
	}
	for s := range v {
		nc.statSigma[s] = math.Sqrt(v[s])
	}
	c.noise = nc
	return nil
}

// splitBudget gives the products ps of one statistic their σ for a budget
// rhoS: proportional to 2^s_p·Δ_p (the split that minimizes the variance of
// the recombined statistic), except that no σ may exceed what the
// ciphertext's headroom holds. A product whose share would be too small is
// held at that largest σ, which spends more of the budget on it, and the
// rest is split again among the others (water filling; at most one round
// per digit).
func (c *Compiled) splitBudget(rhoS float64, ps []int, sens, maxSigma, sigma []float64) error {
	capped := make(map[int]bool, len(ps))
	// Every round but the last caps one more product: len(ps)+1 rounds.
	for range len(ps) + 1 {
		remaining, weight := rhoS, 0.0
		for _, i := range ps {
			if capped[i] {
				remaining -= sens[i] * sens[i] / (2 * maxSigma[i] * maxSigma[i])
			} else {
				weight += math.Exp2(float64(c.plan.Product(i).Shift)) * sens[i]
			}
		}
		if !(remaining > 0) {
			return fmt.Errorf("%w: DP noise exceeds the headroom of its ciphertexts (MaxRecords %d); raise epsilon or MaxRecords, or narrow the bounds",
				upload.ErrInfeasible, c.plan.Config().MaxRecords)
		}
		if weight == 0 {
			// Every product is held at its largest σ within the budget.
			for _, i := range ps {
				sigma[i] = maxSigma[i]
			}
			return nil
		}
		more := false
		for _, i := range ps {
			if capped[i] {
				sigma[i] = maxSigma[i]
				continue
			}
			share := remaining * math.Exp2(float64(c.plan.Product(i).Shift)) * sens[i] / weight
			sigma[i] = dp.SigmaForRho(sens[i], share)
			if sigma[i] > maxSigma[i] {
				capped[i], more = true, true
			}
		}
		if !more {
			return nil
		}
	}
	return fmt.Errorf("%w: DP noise split did not settle", upload.ErrInfeasible)
}

// headroom returns, in product units, how far the decoded value of product
// i can move before the constant coefficient wraps: Q_ℓ/(2Δ) minus the
// largest possible sum and a 12σ tail of the flooding.
func (c *Compiled) headroom(i int) float64 {
	pr := c.plan.Product(i)
	cp := c.plan.Column(pr.Column)
	logQ := 0.0
	for k := 0; k <= cp.Level; k++ {
		logQ += math.Log2(float64(c.params.Q()[k]))
	}
	half := math.Exp2(logQ - 1 - float64(cp.LogDelta))
	maxSum := float64(pr.Max) * float64(c.circuit.Columns[pr.Column].Max) * float64(c.plan.Config().MaxRecords)
	flood := math.Sqrt(float64(c.plan.Config().Parties)) * c.FloodingSigma(i) / math.Exp2(float64(cp.LogDelta))
	return half - maxSum - noiseTail*flood
}

// NoiseBound is upload.Plan.NoiseBound including the encryption noise of every
// owner's DP-noise ciphertext added to product i (one public-key
// encryption each, NOISE.md section 4): B = 6·√(L·M²·σ_c² + σ_fix² +
// P·σ_rr²). In exact mode nothing is added and it equals the plan's.
// Owners that add their noise plaintext to their key-switch share instead
// of encrypting it add no ciphertext noise, and this bound still holds.
func (c *Compiled) NoiseBound(i int) float64 {
	if c.req.Exact {
		return c.plan.NoiseBound(i)
	}
	return c.plan.NoiseBoundEncrypted(i)
}

// FloodingSigma is the key-switch flooding σ = 2^λ·NoiseBound(i) each owner
// uses for product i. Use it rather than upload.Plan.FloodingSigma when the DP
// noise is added as ciphertexts.
func (c *Compiled) FloodingSigma(i int) float64 {
	return math.Exp2(float64(c.plan.Config().Lambda)) * c.NoiseBound(i)
}

// errorStd is upload.Plan.ErrorStd with this query's flooding: the homomorphic
// error of statistic s after decoding, in fixed-point units. It is 0 in
// exact mode, whose plan keeps the error below a quarter unit for the
// decoder to round away (upload.PlanConfig.Exact).
func (c *Compiled) errorStd(s int) float64 {
	if c.req.Exact {
		return 0
	}
	var v float64
	for i, pr := range c.plan.Products() {
		if pr.Stat != s {
			continue
		}
		e := math.Sqrt(float64(c.plan.Config().Parties)) * c.FloodingSigma(i) * math.Exp2(float64(pr.Shift-c.plan.Column(pr.Column).LogDelta))
		v += e * e
	}
	return math.Sqrt(v)
}

// Rho returns the query's zCDP budget ρ (0 in exact mode) and the number of
// statistic families it is split over.
func (c *Compiled) Rho() (rho float64, families int) { return c.noise.rho, c.noise.families }

// NoiseSigmas returns, per statistic (upload.Circuit.Stats order), the standard
// deviation of one owner's DP noise in value units: the fixed-point
// standard deviation divided by 2^(F_m+F_c). The units are those of the shifted values
// (v − lo); a shift changes no spread. All zero in exact mode.
func (c *Compiled) NoiseSigmas() []float64 {
	out := make([]float64, len(c.noise.statSigma))
	for s, sig := range c.noise.statSigma {
		out[s] = sig / c.statUnits[s]
	}
	return out
}

// CombinedSigmas is NoiseSigmas for a release every one of owners data
// owners noised independently: the variances add (dp.CombinedSigma).
func (c *Compiled) CombinedSigmas(owners int) []float64 {
	out := c.NoiseSigmas()
	for s := range out {
		out[s] = dp.CombinedSigma(out[s], owners)
	}
	return out
}

// ProductSigmas returns one owner's DP σ per upload.Plan product, in the product's
// integer units; NoisePlaintexts samples at these.
func (c *Compiled) ProductSigmas() []float64 {
	return append([]float64(nil), c.noise.prodSigma...)
}

// NoiseSampler adapts a dp.Sampler to NoisePlaintexts: an exact discrete
// Gaussian at σ rounded up to the sampler's grid. On a release path s must
// read crypto/rand (dp.NewSampler(nil)).
func NoiseSampler(s *dp.Sampler) func(sigma float64) (int64, error) {
	return func(sigma float64) (int64, error) {
		s2, err := dp.Sigma2(sigma)
		if err != nil {
			return 0, err
		}
		return s.DiscreteGaussian(s2)
	}
}

// NoisePlaintexts draws one owner's DP noise and returns one plaintext per
// upload.Plan product (Products order) whose constant coefficient is η_p·Δ at the
// product's level, in the NTT domain. Encrypted under the collective key
// and added to product p's ciphertext after Finalize (and before the key
// switch), or added to Value[0] of the owner's own public-key-switch share,
// it moves the decoded product by exactly η_p and the statistic by
// 2^shift_p·η_p. sample(σ) must return a discrete Gaussian at σ
// (NoiseSampler). A sample beyond the owner's share of the ciphertext's
// headroom (about 8.5σ) is refused rather than allowed to wrap; with
// crypto/rand this never happens in practice. The headroom is shared by
// Plan().Config().Parties owners (QueryParties): no more than that many may
// add noise to the same product. In exact mode every plaintext is zero.
func (c *Compiled) NoisePlaintexts(sample func(sigma float64) (int64, error)) ([]*rlwe.Plaintext, error) {
	out := make([]*rlwe.Plaintext, len(c.plan.Products()))
	for i := range c.plan.Products() {
		// A pack of one product holds it in the constant coefficient.
		pt, err := c.PackNoise([]int{i}, sample)
		if err != nil {
			return nil, err
		}
		pt.Scale = rlwe.NewScale(math.Exp2(float64(c.plan.Column(c.plan.Product(i).Column).LogDelta)))
		out[i] = pt
	}
	return out, nil
}

// sampleNoise draws one owner's η for product i (0 in exact mode).
func (c *Compiled) sampleNoise(i int, sample func(sigma float64) (int64, error)) (int64, error) {
	sig := c.noise.prodSigma[i]
	if sig <= 0 {
		return 0, nil
	}
	eta, err := sample(sig)
	if err != nil {
		return 0, fmt.Errorf("noise of product %d: %w", i, err)
	}
	if math.Abs(float64(eta)) > c.noise.prodCap[i] {
		return 0, fmt.Errorf("%w: noise sample of product %d beyond its headroom", upload.ErrInfeasible, i)
	}
	return eta, nil
}

// packLevel checks that products can form one pack and returns its level.
func (c *Compiled) packLevel(products []int) (int, error) {
	if len(products) == 0 || len(products) > c.params.N() {
		return 0, fmt.Errorf("%w: a pack of %d products", upload.ErrInvalidCircuit, len(products))
	}
	level, n := -1, len(c.plan.Products())
	for k, i := range products {
		if i < 0 || i >= n || (k > 0 && i <= products[k-1]) {
			return 0, fmt.Errorf("%w: product %d out of range or order", upload.ErrInvalidCircuit, i)
		}
		l := c.plan.Column(c.plan.Product(i).Column).Level
		if level >= 0 && l != level {
			return 0, fmt.Errorf("%w: products of levels %d and %d in one pack", upload.ErrInvalidCircuit, level, l)
		}
		level = l
	}
	return level, nil
}

// PackFlooding returns the key-switch flooding width of every coefficient
// of a pack of products (in upload.Plan.PackLayout form): FloodingSigma of the
// product in its coefficient, and the largest of them in every other
// coefficient, which holds no value but noise that must not leak either.
func (c *Compiled) PackFlooding(products []int) ([]float64, error) {
	if _, err := c.packLevel(products); err != nil {
		return nil, err
	}
	stride := c.plan.PackStride(len(products))
	out := make([]float64, c.params.N())
	var widest float64
	for _, i := range products {
		widest = max(widest, c.FloodingSigma(i))
	}
	for j := range out {
		out[j] = widest
	}
	for k, i := range products {
		out[k*stride] = c.FloodingSigma(i)
	}
	return out, nil
}

// PackNoise samples one owner's DP noise for a pack of products: η_p·Δ_p in
// product p's coefficient (NTT domain, at the pack's level), to be added to
// the owner's key-switch share of the pack. In exact mode it is zero.
func (c *Compiled) PackNoise(products []int, sample func(sigma float64) (int64, error)) (*rlwe.Plaintext, error) {
	level, err := c.packLevel(products)
	if err != nil {
		return nil, err
	}
	stride := c.plan.PackStride(len(products))
	pt := rlwe.NewPlaintext(c.params, level)
	r := c.params.RingQ().AtLevel(level)
	v, t := new(big.Int), new(big.Int)
	for k, i := range products {
		eta, err := c.sampleNoise(i, sample)
		if err != nil {
			return nil, err
		}
		v.Lsh(big.NewInt(eta), uint(c.plan.Column(c.plan.Product(i).Column).LogDelta))
		for m := 0; m <= level; m++ {
			q := new(big.Int).SetUint64(r.SubRings[m].Modulus)
			pt.Value.Coeffs[m][k*stride] = t.Mod(v, q).Uint64() // Euclidean: in [0, q)
		}
	}
	r.NTT(pt.Value, pt.Value)
	pt.IsNTT = true
	return pt, nil
}
