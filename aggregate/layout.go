package aggregate

import (
	"fmt"
	"math"

	"github.com/jointly-dev/jointly/crypto/upload"
)

// FixedPoint maps a real-valued column with declared public bounds [Lo, Hi]
// to the non-negative integers the encrypted circuit works on:
//
//	Encode(v) = round((clamp(v, Lo, Hi) − Lo) / Unit())  ∈ [0, Max()],
//
// where the unit is the column's declared Step, or 2^-FracBits without one.
// A value on the grid Lo + k·Step is encoded as exactly k; a power-of-two
// grid rounds a value to its nearest point.
//
// Negative lower bounds are handled by this shift: every encoded value is
// non-negative, and the querier removes the shift after decryption with
// UnshiftSum and UnshiftProduct, which need the count and the cross sums with
// the other side's membership column (all of them statistics of the same
// circuit). A column with Lo = 0 and FracBits = 0 is stored as is.
type FixedPoint struct {
	// Lo and Hi are the declared public bounds; values are clamped to them.
	Lo, Hi float64
	// FracBits is the number of fractional bits kept (0 for integers) when
	// no Step is declared.
	FracBits int
	// Step, when positive, is the declared resolution: Lo and Hi lie on
	// its grid, and so must every value (party/source checks them).
	Step float64
}

// Unit returns the value of one encoded step: Step, or 2^-FracBits.
func (f FixedPoint) Unit() float64 {
	if f.Step > 0 {
		return f.Step
	}
	return math.Exp2(-float64(f.FracBits))
}

// steps returns (v − Lo)/Unit() before rounding.
func (f FixedPoint) steps(v float64) float64 {
	if f.Step > 0 {
		return (v - f.Lo) / f.Step
	}
	return (v - f.Lo) * math.Exp2(float64(f.FracBits))
}

// Validate checks that the bounds are finite and ordered, that a declared
// step is positive with the bounds on its grid, and that the encoded range
// fits under upload.MaxColumnBound.
func (f FixedPoint) Validate() error {
	if math.IsNaN(f.Lo) || math.IsNaN(f.Hi) || math.IsInf(f.Lo, 0) || math.IsInf(f.Hi, 0) {
		return fmt.Errorf("%w: bounds must be finite", upload.ErrInvalidLayout)
	}
	if f.Lo > f.Hi {
		return fmt.Errorf("%w: lower bound above upper bound", upload.ErrInvalidLayout)
	}
	if f.FracBits < 0 || f.FracBits > 30 {
		return fmt.Errorf("%w: FracBits %d not in [0, 30]", upload.ErrInvalidLayout, f.FracBits)
	}
	if math.IsNaN(f.Step) || math.IsInf(f.Step, 0) || f.Step < 0 {
		return fmt.Errorf("%w: step must be a positive number", upload.ErrInvalidLayout)
	}
	if f.steps(f.Hi) > float64(upload.MaxColumnBound) {
		return fmt.Errorf("%w: encoded range exceeds 2^48", upload.ErrInvalidLayout)
	}
	if f.Step > 0 && (!OnGrid(f.Lo, f.Step) || !OnGrid(f.Hi, f.Step)) {
		return fmt.Errorf("%w: bounds not on the grid of the step %g", upload.ErrInvalidLayout, f.Step)
	}
	return nil
}

// OnGrid reports whether v is a multiple of step up to the rounding of
// decimal numbers in float64: v/step within 10⁻⁹ (and 8 ulps) of an
// integer. 0.29 is on the grid of 0.01, 0.295 is not.
func OnGrid(v, step float64) bool {
	q := v / step
	k := math.Round(q)
	return math.Abs(q-k) <= 1e-9+8*math.Abs(k)*0x1p-53
}

// Max returns the largest encoded value, the public bound of the column.
func (f FixedPoint) Max() int64 {
	return int64(math.Round(f.steps(f.Hi)))
}

// Encode clamps v to [Lo, Hi] and returns its fixed-point integer. NaN is
// mapped to 0 (the lower bound); Layout rejects NaN before calling Encode.
func (f FixedPoint) Encode(v float64) int64 {
	if math.IsNaN(v) {
		return 0
	}
	v = math.Min(math.Max(v, f.Lo), f.Hi)
	e := int64(math.Round(f.steps(v)))
	return min(max(e, 0), f.Max())
}

// Column returns the circuit column declared by these bounds.
func (f FixedPoint) Column(name string) upload.Column {
	return upload.Column{Name: name, Max: f.Max()}
}

// Layout places a data owner's values in union order: out[rows[k]] =
// Encode(vals[k]) and 0 at every row the owner does not hold. rows come from
// private matching and must be distinct and in [0, unionSize).
func Layout(unionSize int, rows []int, vals []float64, f FixedPoint) ([]int64, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if len(rows) != len(vals) {
		return nil, fmt.Errorf("%w: %d rows for %d values", upload.ErrInvalidLayout, len(rows), len(vals))
	}
	out, err := placeRows(unionSize, rows)
	if err != nil {
		return nil, err
	}
	for k, r := range rows {
		if math.IsNaN(vals[k]) {
			return nil, fmt.Errorf("%w: record %d is NaN", upload.ErrInvalidLayout, k)
		}
		out[r] = f.Encode(vals[k])
	}
	return out, nil
}

// Membership returns the 0/1 column that is 1 exactly at the owner's rows.
// The product of both owners' membership columns counts the intersection.
func Membership(unionSize int, rows []int) ([]int64, error) {
	return placeRows(unionSize, rows)
}

// placeRows validates rows and returns a union-sized column with 1 at each
// row, which doubles as the duplicate check.
func placeRows(unionSize int, rows []int) ([]int64, error) {
	if unionSize < 0 || len(rows) > unionSize {
		return nil, fmt.Errorf("%w: %d rows in a union of %d", upload.ErrInvalidLayout, len(rows), unionSize)
	}
	out := make([]int64, unionSize)
	for k, r := range rows {
		if r < 0 || r >= unionSize {
			return nil, fmt.Errorf("%w: record %d has row %d outside union of %d", upload.ErrInvalidLayout, k, r, unionSize)
		}
		if out[r] != 0 {
			return nil, fmt.Errorf("%w: record %d repeats row %d", upload.ErrInvalidLayout, k, r)
		}
		out[r] = 1
	}
	return out, nil
}

// UnshiftSum turns the decrypted sum of a shifted column over the common
// records, sx = Σ Encode(x), back to Σ x, given the number n of common
// records: Σ x = sx·u + Lo·n with u = Unit().
func UnshiftSum(sx, n float64, f FixedPoint) float64 {
	return sx*f.Unit() + f.Lo*n
}

// UnshiftProduct turns decrypted shifted sums back to Σ x·y over the common
// records. With x' = Encode(x), y' = Encode(y) and the membership columns
// m_x, m_y it needs sxy = Σ x'·y', sxm = Σ x'·m_y, smy = Σ m_x·y' and
// n = Σ m_x·m_y:
//
//	Σ x·y = sxy·u_x·u_y + Lo_y·sxm·u_x + Lo_x·smy·u_y + Lo_x·Lo_y·n.
//
// For Σ x² (x held by one side) pass the same FixedPoint twice and sxm for
// smy.
func UnshiftProduct(sxy, sxm, smy, n float64, fx, fy FixedPoint) float64 {
	ux, uy := fx.Unit(), fy.Unit()
	return sxy*ux*uy + fy.Lo*sxm*ux + fx.Lo*smy*uy + fx.Lo*fy.Lo*n
}
