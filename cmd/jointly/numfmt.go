package main

import (
	"math"
	"strconv"
	"strings"

	"github.com/jointly-dev/jointly/aggregate"
)

// Numbers as people read them in the reports (HTML and table): as many
// digits as the 95 % interval supports, the same for a value and its
// interval, so that a variance of 333885.27 with the interval
// [322190.4, 349464.9] reads 334 000 [322 000, 349 000], and a
// coefficient of -6.42083e-05 in [-7.07e-05, -5.77e-05] keeps its
// exponent. JSON and CSV keep full precision.

// maxDecimals bounds the decimals of a fixed-point number; a value that
// needs more is written with an exponent.
const maxDecimals = 6

// numberStyle says how to write one number.
type numberStyle struct {
	// place is the last digit written: the decimals after the point, or,
	// when negative, the power of ten the number is rounded to (-3 rounds
	// to thousands). sig writes four significant digits instead, for a
	// number with no interval to go by.
	place int
	sig   bool
	// interval marks a place taken from an interval's width.
	interval bool
	// group separates thousands with a narrow no-break space (HTML only:
	// the terminal and CSV keep plain digits).
	group bool
}

// cellStyle is how c's value and interval are written: r and R² to three
// decimals, a count to units, χ² to two decimals, anything else to the
// second significant digit of the interval's half-width (a relative risk
// to at least two decimals), or four significant digits without one.
// cellText keeps two significant digits of a value the interval's place
// would round to zero.
func cellStyle(c *aggregate.Cell, group bool) numberStyle {
	s := numberStyle{group: group}
	switch c.Statistic {
	case aggregate.CellPearson, aggregate.CellR2:
		s.place = 3
	case aggregate.CellCount:
		s.place = 0
	case aggregate.CellChiSquare:
		s.place = 2
	case aggregate.CellRelativeRisk:
		s.place, _ = intervalPlace(c.CILow, c.CIHigh)
		s.place = max(s.place, 2)
	default:
		var ok bool
		s.place, ok = intervalPlace(c.CILow, c.CIHigh)
		s.sig, s.interval = !ok, ok
	}
	return s
}

// intervalPlace is the place of the second significant digit of the
// half-width of [lo, hi]; ok is false when the interval is empty or not
// finite.
func intervalPlace(lo, hi float64) (place int, ok bool) {
	half := (hi - lo) / 2
	if !(half > 0) || math.IsInf(half, 0) {
		return 0, false
	}
	return 1 - int(math.Floor(math.Log10(half))), true
}

// format writes v in style s. Beyond a billion, or below a ten-thousandth
// where more than maxDecimals decimals would be needed, it writes three
// significant digits with an exponent.
func (s numberStyle) format(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "–"
	case a >= 1e9 || (a != 0 && a < 1e-4 && (s.sig || s.place > maxDecimals)):
		return strconv.FormatFloat(v, 'e', 2, 64)
	case s.sig || s.place > maxDecimals:
		d := 3
		if a != 0 {
			d = max(0, 3-int(math.Floor(math.Log10(a))))
		}
		return s.fixed(v, min(d, maxDecimals))
	case s.place < 0:
		p := math.Pow(10, float64(-s.place))
		return s.fixed(math.Round(v/p)*p, 0)
	}
	return s.fixed(v, s.place)
}

// fixed writes v with d decimals, grouping thousands when s says so.
func (s numberStyle) fixed(v float64, d int) string {
	t := strconv.FormatFloat(v, 'f', d, 64)
	if t == "-"+strconv.FormatFloat(0, 'f', d, 64) {
		t = t[1:] // no negative zero
	}
	if !s.group {
		return t
	}
	sign := ""
	if strings.HasPrefix(t, "-") {
		sign, t = "-", t[1:]
	}
	whole, frac, _ := strings.Cut(t, ".")
	if len(whole) > 4 {
		var b strings.Builder
		for i, r := range whole {
			if i > 0 && (len(whole)-i)%3 == 0 {
				b.WriteString("\u202f")
			}
			b.WriteRune(r)
		}
		whole = b.String()
	}
	if frac != "" {
		return sign + whole + "." + frac
	}
	return sign + whole
}

// cellText writes c's value and 95 % interval in the same decimals; ci is
// empty for a cell without an interval (R², χ²) and a suppressed cell
// has neither.
func cellText(c *aggregate.Cell, group bool) (value, ci string) {
	if c.Suppressed {
		return "", ""
	}
	if c.Statistic == aggregate.CellClipped {
		// A share: the noisy one may leave [0, 1]; what is printed does not.
		cc := *c
		cc.Value, cc.CILow, cc.CIHigh = clamp01(c.Value), clamp01(c.CILow), clamp01(c.CIHigh)
		c = &cc
	}
	s := cellStyle(c, group)
	vs := s
	if a := math.Abs(c.Value); s.interval && a != 0 && a < 0.5*math.Pow(10, -float64(s.place)) && c.Statistic != aggregate.CellClipped {
		// An interval so much wider than the value would round it to
		// zero: the value keeps its own two significant digits.
		vs.place = 1 - int(math.Floor(math.Log10(a)))
	}
	value = vs.format(c.Value)
	if hasInterval(c) {
		ci = "[" + s.format(c.CILow) + ", " + s.format(c.CIHigh) + "]"
	}
	return value, ci
}

func clamp01(v float64) float64 { return math.Min(math.Max(v, 0), 1) }

// hasInterval reports whether c carries a 95 % interval.
func hasInterval(c *aggregate.Cell) bool {
	switch c.Statistic {
	case aggregate.CellR2, aggregate.CellChiSquare:
		return false
	}
	return !c.Suppressed && (c.CILow != 0 || c.CIHigh != 0)
}

// pLabel writes a p-value: "p = " and three significant digits, or
// "p < 0.001".
func pLabel(p float64) string {
	if p < 0.001 {
		return "p < 0.001"
	}
	return "p = " + strconv.FormatFloat(p, 'g', 3, 64)
}

// noiseText writes a noise standard deviation to two significant digits.
func noiseText(sd float64, group bool) string {
	if !(sd > 0) || math.IsInf(sd, 0) {
		return numberStyle{group: group}.format(sd)
	}
	return numberStyle{place: 1 - int(math.Floor(math.Log10(sd))), group: group}.format(sd)
}

// countText writes a noisy count of people, rounded.
func countText(n float64, group bool) string {
	return numberStyle{group: group}.fixed(math.Round(n), 0)
}
