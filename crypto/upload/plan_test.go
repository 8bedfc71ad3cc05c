package upload

import (
	"errors"
	"math"
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
