package aggregate

import (
	"math"
	"slices"
)

// Two-stage release with min_group_size (docs/privacy.md section 4). Stage
// one releases, to every data owner and the querier, the noisy counts: the
// overall count, the count of every group of grouped correlations, of
// every rate bucket and of every contingency cell, the people at each
// level of a regression's categorical predictors (and at each pair of
// levels of two of them), and the sums of the proxy checks (proxy.go).
// Stage two releases every other statistic only if the count that gates it
// reached k: the sums behind correlations, means, variances and
// regressions are gated by the overall count (a group's correlations by
// the group's), a bucket's events and exposure by the bucket's count, a
// regression's sums over a level by the people at it.
// The decision depends on stage one's noisy output only, so it costs no
// privacy.

// CountStats lists the statistics released in stage one, in increasing
// order.
func (c *Compiled) CountStats() []int {
	out := []int{c.statN}
	for _, g := range c.corrGroups {
		out = append(out, g.n)
	}
	for _, r := range c.rates {
		out = append(out, r.n...)
	}
	for _, t := range c.cts {
		for _, row := range t.cells {
			out = append(out, row...)
		}
	}
	out = append(out, c.regCounts...)
	// The proxy statistics (proxy.go): each owner that declared a proxy
	// threshold decides on them before it releases stage two.
	return append(out, c.proxyStats()...)
}

// gates maps every stage-two statistic to the count that gates it.
func (c *Compiled) gates() map[int]int {
	g := make(map[int]int, len(c.circuit.Stats))
	counts := map[int]bool{}
	for _, s := range c.CountStats() {
		counts[s] = true
	}
	for s := range c.circuit.Stats {
		if !counts[s] {
			g[s] = c.statN
		}
	}
	for _, r := range c.rates {
		for b := range r.n {
			g[r.ev[b]] = r.n[b]
			g[r.ex[b]] = r.n[b]
		}
	}
	for _, cg := range c.corrGroups {
		for _, s := range slices.Concat(cg.sumX, cg.sumX2, cg.sumY, cg.sumY2, slices.Concat(cg.sumXY...)) {
			g[s] = cg.n
		}
	}
	for s, n := range c.regGates {
		g[s] = n
	}
	return g
}

// StageOneProducts lists the plan products of the stage-one statistics.
func (c *Compiled) StageOneProducts() []int {
	counts := map[int]bool{}
	for _, s := range c.CountStats() {
		counts[s] = true
	}
	var out []int
	for i, p := range c.plan.Products() {
		if counts[p.Stat] {
			out = append(out, i)
		}
	}
	return out
}

// Release decides stage two: given the stage-one noisy counts (statistic
// index → value, in the units upload.Plan.Decode returns) and k, it reports for
// every plan product whether it may be released. Stage-one products are
// never released again (their values are already out).
func (c *Compiled) Release(counts map[int]float64, k int) []bool {
	gates := c.gates()
	out := make([]bool, len(c.plan.Products()))
	for i, p := range c.plan.Products() {
		g, gated := gates[p.Stat]
		if !gated {
			continue // a stage-one count
		}
		v, ok := counts[g]
		out[i] = ok && !math.IsNaN(v) && v >= float64(k)
	}
	return out
}

// StageTwoStats assembles the statistics vector Results takes from the
// stage-one counts and the decoded stage-two statistics: a statistic none of
// whose products was released is NaN (Results suppresses its cells).
func (c *Compiled) StageTwoStats(decoded []float64, counts map[int]float64, released []bool) []float64 {
	out := append([]float64(nil), decoded...)
	any := make([]bool, len(out))
	for i, p := range c.plan.Products() {
		if released[i] {
			any[p.Stat] = true
		}
	}
	for s := range out {
		if v, ok := counts[s]; ok {
			out[s] = v
		} else if !any[s] {
			out[s] = math.NaN()
		}
	}
	return out
}
