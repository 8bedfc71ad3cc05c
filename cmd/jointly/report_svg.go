package main

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"

	"github.com/jointly-dev/jointly/aggregate"
)

// Forest plots of the rates: for each rate the query asked, one row per
// group with its people, its rate and its relative risk against the first
// group, each with its 95 % interval as text, and the relative risk drawn
// on a log scale (inline SVG, one per row, aligned on the block's shared
// scale).

// Sizes of the plot column, in CSS px.
const (
	forestWidth  = 300
	forestPad    = 14
	forestHeight = 18
)

type forestBlock struct {
	Events, Exposure, By string
	// Unit says what the rate counts per (rateUnit).
	Unit      string
	Reference string // the first group, against which risks are relative
	Axis      template.HTML
	Rows      []forestRow
}

type forestRow struct {
	Group, N   string
	Rate, RCI  string
	RR, RRCI   string
	Sig, Ref   bool
	Suppressed string // the reason, for a group whose rate is suppressed
	RRReason   string // the reason, for a relative risk suppressed alone
	Plot       template.HTML
}

// forests builds one block per rate of the result, in its order.
func forests(cells []aggregate.Cell) []forestBlock {
	type key struct{ x, y string }
	var order []key
	rates := map[key][]*aggregate.Cell{}
	find := func(stat, x, y, group string) *aggregate.Cell {
		for i := range cells {
			c := &cells[i]
			if c.Statistic == stat && c.X == x && c.Y == y && c.Group == group {
				return c
			}
		}
		return nil
	}
	for i := range cells {
		c := &cells[i]
		if c.Statistic != aggregate.CellRate {
			continue
		}
		k := key{c.X, c.Y}
		if _, ok := rates[k]; !ok {
			order = append(order, k)
		}
		rates[k] = append(rates[k], c)
	}
	var out []forestBlock
	for _, k := range order {
		events, exposure, _ := strings.Cut(k.y, "/")
		b := forestBlock{Events: events, Exposure: exposure, By: k.x, Unit: rateUnit(exposure, rates[k][0].Per)}
		var rrs []*aggregate.Cell
		for _, rc := range rates[k] {
			rrs = append(rrs, find(aggregate.CellRelativeRisk, k.x, k.y, rc.Group))
		}
		scale := newLogScale(rrs)
		b.Axis = scale.axis()
		for i, rc := range rates[k] {
			row := forestRow{Group: rc.Group, N: countText(rc.N, true), Ref: i == 0}
			if i == 0 {
				b.Reference = rc.Group
			}
			if rc.Suppressed {
				row.Suppressed = cellReason(rc.Reason)
				b.Rows = append(b.Rows, row)
				continue
			}
			row.Rate, row.RCI = cellText(rc, true)
			switch rr := rrs[i]; {
			case rr == nil:
			case rr.Suppressed:
				row.RRReason = cellReason(rr.Reason)
			default:
				row.RR, row.RRCI = cellText(rr, true)
				row.Sig = i > 0 && excludes(rr, 1)
				row.Plot = scale.row(rr, i == 0)
			}
			b.Rows = append(b.Rows, row)
		}
		out = append(out, b)
	}
	return out
}

// rateUnit says what a rate counts per: the unit the cell carries ("per
// year of exposure"), or, for exposure without a declared unit, "per unit
// of exposure_months".
func rateUnit(exposure, per string) string {
	if per != "" {
		return "per " + per + " of exposure"
	}
	return "per unit of " + short(exposure)
}

// logScale maps relative risks to x positions in a plot.
type logScale struct{ lo, hi float64 }

// newLogScale spans 1 and every finite interval of rrs, within [0.01,
// 100]; an interval beyond is drawn with an arrow at the edge.
func newLogScale(rrs []*aggregate.Cell) logScale {
	lo, hi := 1.0, 1.0
	for _, c := range rrs {
		if c == nil || c.Suppressed {
			continue
		}
		for _, v := range []float64{c.CILow, c.CIHigh, c.Value} {
			if v > 0 && !math.IsInf(v, 0) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	lo, hi = math.Max(lo/1.15, 0.01), math.Min(hi*1.15, 100)
	if hi/lo < 2.5 { // at least 0.63 to 1.58
		lo, hi = math.Min(lo, 1/1.58), math.Max(hi, 1.58)
	}
	return logScale{lo, hi}
}

// x is the position of v, clamped to the plot.
func (s logScale) x(v float64) float64 {
	v = math.Min(math.Max(v, s.lo), s.hi)
	return forestPad + (math.Log(v)-math.Log(s.lo))/(math.Log(s.hi)-math.Log(s.lo))*(forestWidth-2*forestPad)
}

// ticks are round values inside the scale at least 30 px apart, 1 always
// among them: 1-2-5 steps, and finer ones on a narrow scale.
func (s logScale) ticks() []float64 {
	candidates := []float64{1, 0.5, 2, 0.2, 5, 0.1, 10, 0.05, 20, 0.02, 50, 0.01, 100,
		0.8, 1.25, 0.67, 1.5, 0.4, 2.5, 0.3, 3, 4, 0.9, 1.1}
	var out []float64
	for _, t := range candidates {
		if t < s.lo || t > s.hi {
			continue
		}
		if !slices.ContainsFunc(out, func(u float64) bool { return math.Abs(s.x(u)-s.x(t)) < 30 }) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// axis draws the scale's ticks and labels.
func (s logScale) axis() template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="axis" width="%d" height="24" viewBox="0 0 %d 24" role="img" aria-label="relative risk, log scale">`, forestWidth, forestWidth)
	fmt.Fprintf(&b, `<line x1="%d" y1="20" x2="%d" y2="20" stroke="#555"/>`, forestPad, forestWidth-forestPad)
	for _, t := range s.ticks() {
		x := s.x(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="16" x2="%.1f" y2="20" stroke="#555"/><text x="%.1f" y="12" text-anchor="middle">%g</text>`, x, x, x, t)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// row draws a relative risk and its interval: a square at the estimate
// and a line over the interval, with the line of no difference (1)
// dashed; the reference group is a hollow diamond at 1.
func (s logScale) row(c *aggregate.Cell, ref bool) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="relative risk %s">`, forestWidth, forestHeight, forestWidth, forestHeight, template.HTMLEscapeString(fmt.Sprintf("%g", c.Value)))
	one := s.x(1)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="0" x2="%.1f" y2="%d" stroke="#888" stroke-dasharray="3,2"/>`, one, one, forestHeight)
	mid := forestHeight / 2
	if ref {
		fmt.Fprintf(&b, `<path d="M%.1f %d l5 5 l-5 5 l-5 -5 z" fill="#fff" stroke="#222"/>`, one, mid-5)
	} else {
		lo, hi := s.x(c.CILow), s.x(c.CIHigh)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#222" stroke-width="1.5"/>`, lo, mid, hi, mid)
		if c.CILow < s.lo {
			fmt.Fprintf(&b, `<path d="M%.1f %d l6 -4 v8 z" fill="#222"/>`, lo-2, mid)
		}
		if c.CIHigh > s.hi {
			fmt.Fprintf(&b, `<path d="M%.1f %d l-6 -4 v8 z" fill="#222"/>`, hi+2, mid)
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="8" height="8" fill="#222"/>`, s.x(c.Value)-4, mid-4)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
