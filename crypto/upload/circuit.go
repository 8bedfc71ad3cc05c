package upload

import (
	"fmt"
	"math/bits"
)

// MaxColumnBound is the largest integer bound a column or multiplier may
// declare. It keeps every value below each RNS prime (so a value is its own
// residue) and leaves the fixed-point scaling of a query's fixed-point encoding exact in a
// float64.
const MaxColumnBound = int64(1) << 48

// Column is a column of integers in [0, Max] laid out in union order. Max is
// public: it sets the headroom and the noise plan, and values above it are
// rejected rather than allowed to wrap around the ciphertext modulus.
type Column struct {
	Name string
	Max  int64
}

// Stat is a named sum of products over the union, Σ_i m_i·c_i, of one
// evaluator multiplier m (plaintext, held by the evaluating node) and one
// uploaded column c (encrypted). Because every column is 0 outside its
// owner's rows, the sum runs over the common records only. n, Σx, Σy, Σx²,
// Σy², Σxy, their group-by versions (indicator multipliers) and the entries
// of XᵀX and Xᵀy are all of this form.
type Stat struct {
	Name string
	// Multiplier indexes Circuit.Multipliers.
	Multiplier int
	// Column indexes Circuit.Columns.
	Column int
	// Digits spread the statistic over further uploaded columns: the
	// higher digits of a column too wide for MaxColumnBound (a square y²,
	// SplitSquare), Column holding the lowest. The statistic is then
	// Σ_i m_i·(c_i + Σ_d 2^Shift_d·c_{d,i}); the plan makes each digit
	// column a product of its own, as it does the digits of a wide
	// multiplier, and the decoders recombine them. Empty for a statistic
	// of one column.
	Digits []ColumnDigit
}

// ColumnDigit is an uploaded column holding one higher digit of a
// statistic's column, at weight 2^Shift.
type ColumnDigit struct {
	Column int
	Shift  int
}

// maxDigitShift bounds the weight of a column digit: 2^96 exceeds the
// square of any column bound.
const maxDigitShift = 96

// Circuit is the public description of one encrypted evaluation. Both data
// owners build the same Circuit from the query; the column index is what the
// upload blocks carry on the wire and what separates the common polynomials.
type Circuit struct {
	// Columns are uploaded encrypted by the data owner, in this order.
	Columns []Column
	// Multipliers are the evaluating node's plaintext columns.
	Multipliers []Column
	// Stats are the requested sums of products.
	Stats []Stat
}

// maxColumns bounds the column index so it fits the two-byte wire field.
const maxColumns = 1 << 16

// Validate checks indices, names and bounds, and that every uploaded column
// is used by a statistic (an unused column would be uploaded for nothing).
func (c Circuit) Validate() error {
	if len(c.Columns) == 0 || len(c.Multipliers) == 0 || len(c.Stats) == 0 {
		return fmt.Errorf("%w: needs columns, multipliers and statistics", ErrInvalidCircuit)
	}
	if len(c.Columns) > maxColumns {
		return fmt.Errorf("%w: %d columns, at most %d", ErrInvalidCircuit, len(c.Columns), maxColumns)
	}
	check := func(kind string, cols []Column) error {
		seen := make(map[string]bool, len(cols))
		for i, col := range cols {
			if col.Name == "" || seen[col.Name] {
				return fmt.Errorf("%w: %s %d has an empty or repeated name", ErrInvalidCircuit, kind, i)
			}
			seen[col.Name] = true
			if col.Max < 1 || col.Max > MaxColumnBound {
				return fmt.Errorf("%w: %s %q bound %d not in [1, 2^48]", ErrInvalidCircuit, kind, col.Name, col.Max)
			}
		}
		return nil
	}
	if err := check("column", c.Columns); err != nil {
		return err
	}
	if err := check("multiplier", c.Multipliers); err != nil {
		return err
	}
	used := make([]bool, len(c.Columns))
	names := make(map[string]bool, len(c.Stats))
	for i, s := range c.Stats {
		if s.Name == "" || names[s.Name] {
			return fmt.Errorf("%w: statistic %d has an empty or repeated name", ErrInvalidCircuit, i)
		}
		names[s.Name] = true
		if s.Column < 0 || s.Column >= len(c.Columns) {
			return fmt.Errorf("%w: statistic %q column %d out of range", ErrInvalidCircuit, s.Name, s.Column)
		}
		if s.Multiplier < 0 || s.Multiplier >= len(c.Multipliers) {
			return fmt.Errorf("%w: statistic %q multiplier %d out of range", ErrInvalidCircuit, s.Name, s.Multiplier)
		}
		used[s.Column] = true
		last := 0
		for _, d := range s.Digits {
			if d.Column < 0 || d.Column >= len(c.Columns) || d.Column == s.Column {
				return fmt.Errorf("%w: statistic %q digit column %d out of range or its own low digit", ErrInvalidCircuit, s.Name, d.Column)
			}
			if d.Shift <= last || d.Shift > maxDigitShift {
				return fmt.Errorf("%w: statistic %q digit shifts must increase within [1, %d]", ErrInvalidCircuit, s.Name, maxDigitShift)
			}
			last = d.Shift
			used[d.Column] = true
		}
	}
	for i, u := range used {
		if !u {
			return fmt.Errorf("%w: column %q is used by no statistic", ErrInvalidCircuit, c.Columns[i].Name)
		}
	}
	return nil
}

// Names of the statistics of BivariateCircuit.
const (
	StatCount = "n"
	StatSumX  = "sum_x"
	StatSumY  = "sum_y"
	StatSumX2 = "sum_x2"
	StatSumY2 = "sum_y2"
	StatSumXY = "sum_xy"
)

// BivariateCircuit returns the circuit for the six sufficient statistics of a
// correlation between the evaluator's column x (bound xMax) and the data
// owner's column y (bound yMax): n, Σx, Σy, Σx², Σy², Σxy over the common
// records. The evaluator's multipliers are, in order, its membership, x and
// x² (see BivariateMultipliers); the uploaded columns are the owner's
// membership, y and y² (see BivariateColumns). Σx² is split into digits by
// the plan (x² is wide); Σy² needs no split because an uploaded column's
// bound costs headroom, not wire bits, as long as y² stays under
// MaxColumnBound (yMax ≤ 2^24; a wider y² is uploaded in digits,
// SplitSquare).
func BivariateCircuit(xMax, yMax int64) Circuit {
	return Circuit{
		Multipliers: []Column{{"member", 1}, {"x", xMax}, {"x2", xMax * xMax}},
		Columns:     []Column{{"member", 1}, {"y", yMax}, {"y2", yMax * yMax}},
		Stats: []Stat{
			{Name: StatCount, Multiplier: 0, Column: 0},
			{Name: StatSumX, Multiplier: 1, Column: 0},
			{Name: StatSumY, Multiplier: 0, Column: 1},
			{Name: StatSumX2, Multiplier: 2, Column: 0},
			{Name: StatSumY2, Multiplier: 0, Column: 2},
			{Name: StatSumXY, Multiplier: 1, Column: 1},
		},
	}
}

// BivariateMultipliers returns the evaluator's inputs of BivariateCircuit
// from its membership column and its laid-out x.
func BivariateMultipliers(member, x []int64) [][]int64 {
	return [][]int64{member, x, Square(x)}
}

// BivariateColumns returns the data owner's uploads of BivariateCircuit from
// its membership column and its laid-out y.
func BivariateColumns(member, y []int64) [][]int64 {
	return [][]int64{member, y, Square(y)}
}

// PairStats returns one statistic per (multiplier, column) pair, named
// "multiplier*column". With the two owners' variables as multipliers and
// columns it is the cross block of XᵀX and Xᵀy for a regression; with
// Indicator multipliers it is every statistic per group. Products within
// one owner's variables (x_a·x_b, y_a·y_b) are columns or multipliers that
// owner computes itself, paired with the other side's membership.
func PairStats(multipliers, columns []Column) []Stat {
	out := make([]Stat, 0, len(multipliers)*len(columns))
	for m, mc := range multipliers {
		for c, cc := range columns {
			out = append(out, Stat{Name: mc.Name + "*" + cc.Name, Multiplier: m, Column: c})
		}
	}
	return out
}

// Square returns the element-wise square of col; its bound is the square of
// col's bound. The evaluator's squares are split into digits by the plan.
func Square(col []int64) []int64 {
	out := make([]int64, len(col))
	for i, v := range col {
		out[i] = v * v
	}
	return out
}

// SquareSplit is how the squares of a column of values in [0, Max] are
// uploaded. When Max² ≤ MaxColumnBound they are one column (Shift 0,
// LoMax = Max², HiMax 0); otherwise they are two, c² = hi·2^Shift + lo with
// lo ≤ LoMax = 2^Shift − 1 and hi ≤ HiMax, cut at half the width of Max²
// so that each digit is about as wide as the column itself: the low digit
// is a statistic's Column and the high one its Digits entry (Stat.Digits).
type SquareSplit struct {
	Shift        int
	LoMax, HiMax int64
}

// SplitSquare returns the split of the squares of values in [0, max]. Two
// digits hold the square of any column bound up to MaxColumnBound; a wider
// bound is refused.
func SplitSquare(max int64) (SquareSplit, error) {
	if max < 0 || max > MaxColumnBound {
		return SquareSplit{}, fmt.Errorf("%w: bound %d not in [0, 2^48]: its square does not fit two digits", ErrInvalidCircuit, max)
	}
	hi, lo := bits.Mul64(uint64(max), uint64(max))
	if hi == 0 && lo <= uint64(MaxColumnBound) {
		return SquareSplit{LoMax: int64(lo)}, nil
	}
	s := (64 + bits.Len64(hi)) / 2
	if hi == 0 {
		s = bits.Len64(lo) / 2
	}
	return SquareSplit{Shift: s, LoMax: int64(1)<<s - 1, HiMax: int64(hi<<(64-s) | lo>>s)}, nil
}

// Digits returns the uploaded columns of the squares of col, values in
// [0, Max] of the bound the split was made for: col² itself, or its low
// and high digits. The squares are taken in 128 bits, so no value of a
// column bound overflows.
func (s SquareSplit) Digits(col []int64) [][]int64 {
	if s.Shift == 0 {
		return [][]int64{Square(col)}
	}
	lo, hi := make([]int64, len(col)), make([]int64, len(col))
	mask := uint64(1)<<s.Shift - 1
	for i, v := range col {
		h, l := bits.Mul64(uint64(v), uint64(v))
		lo[i], hi[i] = int64(l&mask), int64(h<<(64-s.Shift)|l>>s.Shift)
	}
	return [][]int64{lo, hi}
}

// Indicator returns the 0/1 column that is 1 where col equals level. One
// indicator per group level, used as multipliers, turns every statistic into
// its group-by version.
func Indicator(col []int64, level int64) []int64 {
	out := make([]int64, len(col))
	for i, v := range col {
		if v == level {
			out[i] = 1
		}
	}
	return out
}
