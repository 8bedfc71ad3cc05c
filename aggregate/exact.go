package aggregate

import (
	"fmt"
	"math"
	"math/big"
)

// Exact mode (Request.Exact) releases every statistic as the exact integer
// the plaintext gives on the encoded values: the plan keeps the homomorphic
// error below a quarter unit (upload.PlanConfig.Exact), the querier decodes
// with upload.Plan.DecodePackedExact, and ExactResults computes the cells
// from the integers themselves, not from float64 roundings of them.

// released is the decoded statistics the cells are computed from: v in
// float64 (NaN for a statistic withheld in stage two) and, in exact mode,
// x, the exact integers (nil entries where withheld).
type released struct {
	v []float64
	x []*big.Int
}

// rat returns statistic s as an exact rational; in exact mode s must not
// have been withheld.
func (r released) rat(s int) *big.Rat {
	if r.x != nil {
		return new(big.Rat).SetInt(r.x[s])
	}
	return new(big.Rat).SetFloat64(r.v[s])
}

// exact returns the exact statistics ss, or nil when the release is not
// exact or one of them was withheld.
func (r released) exact(ss ...int) []*big.Int {
	if r.x == nil {
		return nil
	}
	out := make([]*big.Int, len(ss))
	for k, s := range ss {
		if r.x[s] == nil {
			return nil
		}
		out[k] = r.x[s]
	}
	return out
}

// ExactResults is Results for an exact query, from its statistics as exact
// integers (upload.Plan.DecodeExact or DecodePackedExact, through
// StageTwoExact); a nil statistic was withheld in stage two and the cells
// that need it come out suppressed. No noise is added in exact mode, so
// the number of owners does not matter.
func (c *Compiled) ExactResults(statistics []*big.Int, minGroupSize int) ([]Cell, error) {
	if !c.req.Exact {
		return nil, fmt.Errorf("%w: exact results of a query released with noise", ErrInvalidQuery)
	}
	if len(statistics) != len(c.circuit.Stats) {
		return nil, fmt.Errorf("%w: %d statistics for %d in the circuit", ErrInvalidQuery, len(statistics), len(c.circuit.Stats))
	}
	r := released{v: make([]float64, len(statistics)), x: statistics}
	for s, x := range statistics {
		if x == nil {
			r.v[s] = math.NaN()
			continue
		}
		r.v[s], _ = new(big.Float).SetInt(x).Float64()
	}
	return c.results(r, c.req.Owners, minGroupSize)
}

// StageTwoExact is StageTwoStats for an exact query: the exact decoded
// statistics (upload.Plan.DecodePackedExact) with the stage-one counts put
// in, and nil for a statistic none of whose products was released. The
// counts of an exact query are integers; any other value is refused.
func (c *Compiled) StageTwoExact(decoded []*big.Int, counts map[int]float64, released []bool) ([]*big.Int, error) {
	if len(decoded) != len(c.circuit.Stats) || len(released) != len(c.plan.Products()) {
		return nil, fmt.Errorf("%w: %d statistics and %d release flags for %d and %d", ErrInvalidQuery, len(decoded), len(released), len(c.circuit.Stats), len(c.plan.Products()))
	}
	out := make([]*big.Int, len(decoded))
	for i, p := range c.plan.Products() {
		if released[i] {
			out[p.Stat] = decoded[p.Stat]
		}
	}
	for s, v := range counts {
		if s < 0 || s >= len(out) || v != math.Trunc(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: stage-one count of statistic %d is not an exact integer", ErrInvalidQuery, s)
		}
		out[s], _ = big.NewFloat(v).Int(nil)
	}
	return out, nil
}

// roundStatistics returns float64 statistics rounded to the integers they
// stand for (nil for NaN): Results of an exact query from a float64 decode.
func roundStatistics(statistics []float64) []*big.Int {
	out := make([]*big.Int, len(statistics))
	for s, v := range statistics {
		if !math.IsNaN(v) {
			out[s], _ = big.NewFloat(math.Round(v)).Int(nil)
		}
	}
	return out
}
