package aggregate

import (
	"fmt"

	"github.com/jointly-dev/jointly/crypto/upload"
)

// A Y column's square, which Σy² of a correlation or a regression needs,
// is an uploaded column, and an uploaded column's bound may not exceed
// upload.MaxColumnBound = 2^48. A column spanning more than 2^24 encoded
// steps (a declared step over a wide range: an outcome in units over
// ±2.4·10⁷) therefore uploads y² as two digit columns, y² = hi·2^s + lo
// with each digit about as wide as y (upload.SplitSquare). Every statistic
// over y² is one upload.Stat spread over both (upload.Stat.Digits): the
// plan gives each digit column its own product, with its own headroom,
// flooding and, under DP noise, its own sensitivity (digit bound × the
// multiplier's) and share of the statistic's budget (dpnoise.go), so the
// recombined Σy² carries the honest variance Σ_p 4^s_p·σ_p². The decoders
// recombine the digits, exactly in exact mode; the cells see one Σy².

// ySquare adds the uploaded square of the Y column s: one column y², or its
// two digit columns when y² exceeds upload.MaxColumnBound. A column whose
// square two digits cannot hold is refused, naming it.
func (cb *circuitBuilder) ySquare(s *colSpec) error {
	split, err := upload.SplitSquare(s.fp.Max())
	if err != nil {
		return tooWideToSquare(s.info, s.fp, err.Error())
	}
	s.split = split
	unit := s.fp.Unit() * s.fp.Unit()
	name := s.info.Ref.Name
	if split.Shift == 0 {
		s.sq = cb.addCol("y2/"+name, split.LoMax, unit)
		return nil
	}
	// Both digits are in units of y²: the high digit's weight 2^s is the
	// plan's, as a multiplier digit's is.
	s.sq = cb.addCol("y2lo/"+name, split.LoMax, unit)
	s.sqHi = cb.addCol("y2hi/"+name, split.HiMax, unit)
	if cb.digits == nil {
		cb.digits = map[int][]upload.ColumnDigit{}
	}
	cb.digits[s.sq] = []upload.ColumnDigit{{Column: s.sqHi, Shift: split.Shift}}
	return nil
}

// layoutSquare lays out the square of the laid-out Y column col as the
// compiled query uploads it: y², or its two digits.
func layoutSquare(out [][]int64, y colSpec, col []int64) {
	d := y.split.Digits(col)
	out[y.sq] = d[0]
	if y.split.Shift > 0 {
		out[y.sqHi] = d[1]
	}
}

// tooWideToSquare refuses a column whose squares the query needs and its
// bounds and resolution make too many encoded values for: it says which
// values, and what the owner can change.
func tooWideToSquare(ci ColumnInfo, fp FixedPoint, limit string) error {
	return fmt.Errorf("%w: column %q: its bounds [%g, %g] in steps of %g make %d encoded values, too many to square (%s); "+
		"its owner declares a smaller hi or a coarser step (an auto_bounds estimate this high comes from few records: declare hi instead)",
		ErrInvalidQuery, ci.Ref, ci.Lo, ci.Hi, fp.Unit(), fp.Max(), limit)
}
