package upload

import (
	"errors"
	"math"
	"math/big"
	"reflect"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
)

func TestDigits(t *testing.T) {
	tests := []struct {
		max   int64
		split int
		want  []Product
	}{
		{1, 11, []Product{{Max: 1}}},
		{2047, 11, []Product{{Max: 2047}}},
		{2048, 11, []Product{{Max: 2047}, {Digit: 1, Shift: 11, Max: 1}}},
		{4_000_000, 11, []Product{{Max: 2047}, {Digit: 1, Shift: 11, Max: 1953}}},
		{1 << 30, 11, []Product{{Max: 2047}, {Digit: 1, Shift: 11, Max: 2047}, {Digit: 2, Shift: 22, Max: 256}}},
	}
	for _, tc := range tests {
		if got := digits(tc.max, tc.split); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("digits(%d, %d) = %+v, want %+v", tc.max, tc.split, got, tc.want)
		}
	}
}

// TestPlanWireSize pins the compact upload's size: the bivariate circuit at
// λ = 40, 2^20 records, coef13, costs at most 12 bytes per record and
// column, and the plan is deterministic.
func TestPlanWireSize(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetCoef13)
	cfg := DefaultPlanConfig()
	p1, err := NewPlan(params, BivariateCircuit(2000, 50), cfg)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := NewPlan(params, BivariateCircuit(2000, 50), cfg)
	if !reflect.DeepEqual(p1.cols, p2.cols) {
		t.Fatal("plan is not deterministic")
	}
	var bytes float64
	for i := range p1.cols {
		bytes += float64(p1.BlockBytes(i)) / float64(params.N())
	}
	if avg := bytes / float64(len(p1.cols)); avg > 12 {
		t.Errorf("%.2f bytes per record and column, want <= 12", avg)
	}
	// A column only multiplied by a 0/1 membership needs fewer bits than
	// one multiplied by an 11-bit multiplier.
	if p1.cols[2].WireBits >= p1.cols[1].WireBits {
		t.Errorf("y² column (membership multiplier) %d bits, y column %d bits", p1.cols[2].WireBits, p1.cols[1].WireBits)
	}
}

// TestPlanMeetsTarget checks the planner's promise from its own formulas:
// after flooding by every party, each product's error standard deviation is
// at most 2^-k times one record's largest contribution, and the worst-case
// sum fits in the modulus with room for the noise.
func TestPlanMeetsTarget(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetCoef13)
	for _, cfg := range []PlanConfig{
		DefaultPlanConfig(),
		{MaxRecords: 1 << 24, Lambda: 40, Parties: 3, PrecisionBits: 12, SplitBits: 11},
		{MaxRecords: 1000, Lambda: 64, Parties: 2, PrecisionBits: 8, SplitBits: 8},
	} {
		c := BivariateCircuit(5000, 300)
		p, err := NewPlan(params, c, cfg)
		if err != nil {
			t.Fatal(err)
		}
		logQ := params.LogQ()
		for i, pr := range p.Products() {
			cp := p.Column(pr.Column)
			delta := math.Exp2(float64(cp.LogDelta))
			errStd := math.Sqrt(float64(p.cfg.Parties)) * p.FloodingSigma(i) / delta
			target := math.Exp2(-float64(p.cfg.PrecisionBits)) * float64(pr.Max) * float64(c.Columns[pr.Column].Max)
			if errStd > target*1.0001 {
				t.Errorf("cfg %+v product %d: error std %.3g above target %.3g", cfg, i, errStd, target)
			}
			tmax := float64(pr.Max) * float64(c.Columns[pr.Column].Max) * float64(p.cfg.MaxRecords)
			if math.Log2(tmax*delta) > logQ-2 {
				t.Errorf("cfg %+v product %d: worst-case sum 2^%.1f leaves no headroom in Q=2^%.1f", cfg, i, math.Log2(tmax*delta), logQ)
			}
		}
	}
}

func TestPlanRejects(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetCoef13)
	good := BivariateCircuit(100, 100)
	tests := []struct {
		name string
		c    Circuit
		cfg  PlanConfig
		want error
	}{
		{"lambda-too-small", good, PlanConfig{Lambda: 20}, ErrInvalidConfig},
		{"one-party", good, PlanConfig{Parties: 1}, ErrInvalidConfig},
		{"negative-records", good, PlanConfig{MaxRecords: -1}, ErrInvalidConfig},
		{"infeasible-precision", good, PlanConfig{PrecisionBits: 60}, ErrInfeasible},
		{"empty-circuit", Circuit{}, PlanConfig{}, ErrInvalidCircuit},
		{"unused-column", Circuit{
			Columns:     []Column{{"a", 1}, {"b", 1}},
			Multipliers: []Column{{"m", 1}},
			Stats:       []Stat{{Name: "n", Multiplier: 0, Column: 0}},
		}, PlanConfig{}, ErrInvalidCircuit},
		{"bad-index", Circuit{
			Columns:     []Column{{"a", 1}},
			Multipliers: []Column{{"m", 1}},
			Stats:       []Stat{{Name: "n", Multiplier: 1, Column: 0}},
		}, PlanConfig{}, ErrInvalidCircuit},
		{"repeated-stat", Circuit{
			Columns:     []Column{{"a", 1}},
			Multipliers: []Column{{"m", 1}},
			Stats:       []Stat{{Name: "n", Multiplier: 0, Column: 0}, {Name: "n", Multiplier: 0, Column: 0}},
		}, PlanConfig{}, ErrInvalidCircuit},
		{"bound-too-large", Circuit{
			Columns:     []Column{{"a", MaxColumnBound + 1}},
			Multipliers: []Column{{"m", 1}},
			Stats:       []Stat{{Name: "n", Multiplier: 0, Column: 0}},
		}, PlanConfig{}, ErrInvalidCircuit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewPlan(params, tc.c, tc.cfg); !errors.Is(err, tc.want) {
				t.Errorf("NewPlan error = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestSplitSquare checks where the squares of a column are cut: not at
// all up to 2^24 (the square fits one column), into two digits of about
// the column's width beyond, for every bound up to MaxColumnBound, and
// that the digits of every value recombine to its square in 128 bits.
func TestSplitSquare(t *testing.T) {
	tests := []struct {
		max  int64
		want SquareSplit
	}{
		{0, SquareSplit{}},
		{50, SquareSplit{LoMax: 2500}},
		{1 << 24, SquareSplit{LoMax: 1 << 48}},
		{1<<24 + 1, SquareSplit{Shift: 24, LoMax: 1<<24 - 1, HiMax: 1<<24 + 2}},
		{48_000_000, SquareSplit{Shift: 26, LoMax: 1<<26 - 1, HiMax: 48_000_000 * 48_000_000 >> 26}},
		{1 << 40, SquareSplit{Shift: 40, LoMax: 1<<40 - 1, HiMax: 1 << 40}},
		{MaxColumnBound, SquareSplit{Shift: 48, LoMax: 1<<48 - 1, HiMax: 1 << 48}},
	}
	for _, tc := range tests {
		got, err := SplitSquare(tc.max)
		if err != nil || got != tc.want {
			t.Errorf("SplitSquare(%d) = %+v, %v, want %+v", tc.max, got, err, tc.want)
			continue
		}
		if got.LoMax > MaxColumnBound || got.HiMax > MaxColumnBound {
			t.Errorf("SplitSquare(%d): a digit above MaxColumnBound: %+v", tc.max, got)
		}
		vals := []int64{0, 1, tc.max / 3, tc.max - 1, tc.max}
		d := got.Digits(vals)
		for i, v := range vals {
			sq := new(big.Int).Mul(big.NewInt(v), big.NewInt(v))
			rec := new(big.Int).SetInt64(d[0][i])
			if got.Shift > 0 {
				h := new(big.Int).Lsh(big.NewInt(d[1][i]), uint(got.Shift))
				rec.Add(rec, h)
				if d[0][i] > got.LoMax || d[1][i] > got.HiMax || d[0][i] < 0 || d[1][i] < 0 {
					t.Errorf("SplitSquare(%d): digits of %d out of bounds: %d, %d", tc.max, v, d[0][i], d[1][i])
				}
			}
			if rec.Cmp(sq) != 0 {
				t.Errorf("SplitSquare(%d): digits of %d recombine to %v, want %v", tc.max, v, rec, sq)
			}
		}
	}
	for _, bad := range []int64{-1, MaxColumnBound + 1} {
		if _, err := SplitSquare(bad); !errors.Is(err, ErrInvalidCircuit) {
			t.Errorf("SplitSquare(%d): %v, want ErrInvalidCircuit", bad, err)
		}
	}
}

// TestPlanColumnDigits checks the products of a statistic spread over
// digit columns: one per multiplier digit and column, at the sum of both
// weights, the evaluator's digit position unchanged by the column's.
func TestPlanColumnDigits(t *testing.T) {
	params := crypto.MustParameters(crypto.PresetCoef13)
	c := Circuit{
		Columns:     []Column{{"member", 1}, {"lo", 1<<25 - 1}, {"hi", 1 << 25}},
		Multipliers: []Column{{"member", 1}, {"x", 4000}},
		Stats: []Stat{
			{Name: "sum_y2", Multiplier: 0, Column: 1, Digits: []ColumnDigit{{Column: 2, Shift: 25}}},
			{Name: "sum_xy2", Multiplier: 1, Column: 1, Digits: []ColumnDigit{{Column: 2, Shift: 25}}},
			{Name: "n", Multiplier: 0, Column: 0},
		},
	}
	p, err := NewPlan(params, c, PlanConfig{MaxRecords: 1 << 10, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []Product{
		{Stat: 0, Column: 1, Max: 1},
		{Stat: 0, Column: 2, Shift: 25, ColumnShift: 25, Max: 1},
		{Stat: 1, Column: 1, Multiplier: 1, Max: 2047},
		{Stat: 1, Column: 1, Multiplier: 1, Digit: 1, Shift: 11, Max: 1},
		{Stat: 1, Column: 2, Multiplier: 1, Shift: 25, ColumnShift: 25, Max: 2047},
		{Stat: 1, Column: 2, Multiplier: 1, Digit: 1, Shift: 36, ColumnShift: 25, Max: 1},
		{Stat: 2, Max: 1},
	}
	if got := p.Products(); !reflect.DeepEqual(got, want) {
		t.Errorf("products %+v, want %+v", got, want)
	}
	if got := p.Product(5).MultiplierShift(); got != 11 {
		t.Errorf("multiplier shift of the high column's high digit %d, want 11", got)
	}
	// The plan keeps its own copy of the digits.
	c.Stats[0].Digits[0].Shift = 7
	if p.Circuit().Stats[0].Digits[0].Shift != 25 {
		t.Error("the plan shares the caller's digits")
	}
	bad := func(d []ColumnDigit) Circuit {
		b := p.Circuit()
		b.Stats[0].Digits = d
		return b
	}
	for name, bc := range map[string]Circuit{
		"digit-out-of-range":  bad([]ColumnDigit{{Column: 3, Shift: 25}}),
		"digit-is-own-column": bad([]ColumnDigit{{Column: 1, Shift: 25}}),
		"shift-zero":          bad([]ColumnDigit{{Column: 2}}),
		"shift-decreasing":    bad([]ColumnDigit{{Column: 2, Shift: 25}, {Column: 0, Shift: 20}}),
		"shift-too-large":     bad([]ColumnDigit{{Column: 2, Shift: 97}}),
	} {
		if _, err := NewPlan(params, bc, PlanConfig{MaxRecords: 1 << 10, Exact: true}); !errors.Is(err, ErrInvalidCircuit) {
			t.Errorf("%s: %v, want ErrInvalidCircuit", name, err)
		}
	}
}
