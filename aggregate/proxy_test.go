package aggregate

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/crypto/upload/uploadtest"
)

// proxyRequest groups rates by the retailer's age and the insurer's band
// and checks every kind of association, across owners and within one:
// age against amount (r) and band (η), tier against band (V), band
// against claims (η, both the insurer's), age against spend (r, both the
// retailer's) and tier against spend (η, both the retailer's).
func proxyRequest(exact bool) Request {
	return Request{
		X: []ColumnInfo{{Ref: refSpend, Lo: 0, Hi: 500}, {Ref: refAge, Lo: 18, Hi: 90}, {Ref: refTier, Lo: 0, Hi: 2, Levels: tierLevels}},
		Y: []ColumnInfo{{Ref: refClaims, Lo: 0, Hi: 10}, {Ref: refExposure, Lo: 0, Hi: 12}, {Ref: refAmount, Lo: -50, Hi: 1000},
			{Ref: refBand, Lo: 0, Hi: 3, Levels: bandLevels}},
		Rates: []RateRequest{
			{Events: refClaims, Exposure: refExposure, By: refAge, Edges: []float64{40, 60}},
			{Events: refClaims, Exposure: refExposure, By: refBand},
		},
		Proxies: []ProxyRequest{
			{By: refAge, Protected: refAmount}, {By: refAge, Protected: refBand}, {By: refTier, Protected: refBand},
			{By: refBand, Protected: refClaims}, {By: refAge, Protected: refSpend}, {By: refTier, Protected: refSpend},
		},
		Epsilon: 1, Delta: 1e-6, Exact: exact, MaxRecords: 1 << 13,
	}
}

// plainProxy computes the association of two columns over the common
// people in float64, on the proxy grid, independently of the circuit.
func plainProxy(w world, req Request, by, protected ColumnRef) float64 {
	value := func(p person, ref ColumnRef) float64 {
		switch ref {
		case refTier:
			return tierOf(p)
		case refBand:
			return bandOf(p)
		}
		return rawValue(p, ref)
	}
	grid := func(p person, ref ColumnRef) (float64, []string) {
		ci := columnOf(ref, req)
		v := value(p, ref)
		if len(ci.Levels) > 0 {
			return v, ci.Levels
		}
		return math.Round((math.Min(math.Max(v, ci.Lo), ci.Hi) - ci.Lo) / (ci.Hi - ci.Lo) * 31), nil
	}
	var gs, ps []float64
	var gl, pl []string
	for _, p := range w.people {
		if p.inX && p.inY {
			g, l1 := grid(p, by)
			v, l2 := grid(p, protected)
			gs, ps, gl, pl = append(gs, g), append(ps, v), l1, l2
		}
	}
	n := float64(len(gs))
	switch {
	case gl == nil && pl == nil:
		var sx, sy, sxx, syy, sxy float64
		for k := range gs {
			sx, sy, sxx, syy, sxy = sx+gs[k], sy+ps[k], sxx+gs[k]*gs[k], syy+ps[k]*ps[k], sxy+gs[k]*ps[k]
		}
		return math.Abs(n*sxy-sx*sy) / math.Sqrt((n*sxx-sx*sx)*(n*syy-sy*sy))
	case gl != nil && pl != nil:
		table := make([][]float64, len(gl))
		for a := range table {
			table[a] = make([]float64, len(pl))
		}
		for k := range gs {
			table[int(gs[k])][int(ps[k])]++
		}
		rows, cols := make([]float64, len(gl)), make([]float64, len(pl))
		for a, row := range table {
			for b, v := range row {
				rows[a], cols[b] = rows[a]+v, cols[b]+v
			}
		}
		var chi2 float64
		for a, row := range table {
			for b, v := range row {
				e := rows[a] * cols[b] / n
				chi2 += (v - e) * (v - e) / e
			}
		}
		return math.Sqrt(chi2 / (n * float64(min(len(gl), len(pl))-1)))
	}
	// η: the numeric column's variance between the categorical one's
	// levels over its total variance.
	num, cat, levels := gs, ps, pl
	if gl != nil {
		num, cat, levels = ps, gs, gl
	}
	var mean float64
	for _, v := range num {
		mean += v / n
	}
	sum, cnt := make([]float64, len(levels)), make([]float64, len(levels))
	var total float64
	for k := range num {
		sum[int(cat[k])] += num[k]
		cnt[int(cat[k])]++
		total += (num[k] - mean) * (num[k] - mean)
	}
	var between float64
	for l := range levels {
		if cnt[l] > 0 {
			m := sum[l] / cnt[l]
			between += cnt[l] * (m - mean) * (m - mean)
		}
	}
	return math.Sqrt(between / total)
}

// TestProxyAssociationsExact runs the proxy statistics of every kind
// through the encrypted pipeline in exact mode and compares the
// associations with the plaintext computation.
func TestProxyAssociationsExact(t *testing.T) {
	k := uploadtest.KeysFor(t, crypto.PresetTest)
	req := proxyRequest(true)
	c := mustCompile(t, k.Params, req)
	for _, m := range c.Circuit().Multipliers {
		if m.Max >= 1<<11 {
			t.Errorf("multiplier %s bounded by %d: a proxy statistic must be one product", m.Name, m.Max)
		}
	}
	w := withCategories(newWorld(7, 2000, false))
	got := runQuery(t, k, c, w)
	values := map[int]float64{}
	for _, s := range c.CountStats() {
		values[s] = math.Round(got[s])
	}
	assoc := c.ProxyAssociations(values)
	kinds := []string{ProxyPearson, ProxyEta, ProxyCramersV, ProxyEta, ProxyPearson, ProxyEta}
	if len(assoc) != len(req.Proxies) {
		t.Fatalf("%d associations for %d checks", len(assoc), len(req.Proxies))
	}
	for i, a := range assoc {
		pr := req.Proxies[i]
		want := plainProxy(w, req, pr.By, pr.Protected)
		if a.By != pr.By || a.Protected != pr.Protected || a.Kind != kinds[i] {
			t.Errorf("check %d: %s of %s by %s, want %s of %s by %s", i, a.Kind, a.By, a.Protected, kinds[i], pr.By, pr.Protected)
		}
		if math.Abs(a.Value-want) > 1e-9 {
			t.Errorf("%s of %s and %s = %.12g, want %.12g", a.Kind, a.By, a.Protected, a.Value, want)
		}
	}
	// The test world plants age in the band (η near 1) and leaves amount
	// nearly independent of age.
	if assoc[1].Value < 0.9 || assoc[0].Value > 0.1 {
		t.Errorf("age ~ band %.3g (want > 0.9), age ~ amount %.3g (want < 0.1)", assoc[1].Value, assoc[0].Value)
	}
	// Every proxy statistic is released in stage one, gated by nothing.
	gates := c.gates()
	for _, s := range c.proxyStats() {
		if _, gated := gates[s]; gated || !slices.Contains(c.CountStats(), s) {
			t.Errorf("proxy statistic %s is not a stage-one statistic", c.Circuit().Stats[s].Name)
		}
	}
}

// TestProxyBudgetShare: under DP noise every proxy family costs
// ProxyBudgetShare·ρ over the number of families, the other statistics
// share the rest, and the costs add up to ρ.
func TestProxyBudgetShare(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	c := mustCompile(t, params, proxyRequest(false))
	rho, _ := c.Rho()
	plan := c.Plan()
	sig := c.ProductSigmas()
	cost := make([]float64, len(plan.Circuit().Stats))
	for i, pr := range plan.Products() {
		cost[pr.Stat] += dp.GaussianRho(float64(pr.Max*plan.Circuit().Columns[pr.Column].Max), sig[i])
	}
	share := ProxyBudgetShare * rho / float64(len(c.proxyFamilies))
	var proxies float64
	for _, f := range c.proxyFamilies {
		for _, s := range f {
			if math.Abs(cost[s]-share) > 1e-6*share {
				t.Errorf("proxy statistic %s costs %.6g, want %.6g", plan.Circuit().Stats[s].Name, cost[s], share)
			}
		}
		proxies += share
	}
	var groups [][]int
	groups = append(groups, c.groups...)
	total := proxies
	grouped := map[int]bool{}
	for _, g := range groups {
		m := 0.0
		for _, s := range g {
			grouped[s] = true
			m = max(m, cost[s])
		}
		total += m
	}
	for s, v := range cost {
		if !grouped[s] && !c.isProxyStat(s) {
			total += v
		}
	}
	if math.Abs(total-rho) > 1e-6*rho {
		t.Errorf("the statistics cost %.9g, want ρ = %.9g", total, rho)
	}
	if math.Abs(proxies-ProxyBudgetShare*rho) > 1e-9*rho {
		t.Errorf("the proxy statistics cost %.6g of ρ = %.6g, want %.2g of it", proxies, rho, ProxyBudgetShare)
	}
}

// TestProxyValidation: a proxy check names two different columns of the
// query, once.
func TestProxyValidation(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetTest)
	for want, proxies := range map[string][]ProxyRequest{
		"against itself":              {{By: refAge, Protected: refAge}},
		"twice":                       {{By: refAge, Protected: refAmount}, {By: refAge, Protected: refAmount}},
		"neither an X nor a Y column": {{By: refAge, Protected: ColumnRef{"insurer", "ethnicity"}}},
	} {
		req := proxyRequest(true)
		req.Proxies = proxies
		if _, err := Compile(params, req); !errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want an error saying %q", proxies, err, want)
		}
	}
}
