package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
)

// The demo's accuracy plan: before the query, the querier asks the
// planner (free; the node audits it) how precise the answer will be, and
// the demo prints the prediction beside what the query got.

// demoTarget is the precision the demo asks the planner about: ±0.05 on r.
var demoTarget = aggregate.Targets{aggregate.CellPearson: {HalfWidth: 0.05}}

// demoAssumptions is what the demo's querier assumes: the n common
// customers matching found, and each numeric column's mean and standard
// deviation over its owner's records, clipped to the declared bounds, as
// an owner might publish them (the demo reads them from the sources;
// categorical columns keep the planner's equal levels).
func demoAssumptions(ctx context.Context, cfgs []party.Config, req party.JointRequest, n int) (aggregate.Assumptions, error) {
	a := aggregate.Assumptions{N: float64(n), Columns: map[aggregate.ColumnRef]aggregate.ColumnModel{}}
	values := map[aggregate.ColumnRef][]float64{}
	for i := range cfgs {
		t, err := party.LoadTable(ctx, &cfgs[i], hclog.NewNullLogger())
		if err != nil {
			return a, err
		}
		refs := req.Y // every insurer's records make up the y columns
		if i == 0 {
			refs = req.X
		}
		for _, ref := range refs {
			if _, categorical := t.Levels[ref.Name]; !categorical {
				lo, hi, _ := t.ColumnBounds(ref.Name)
				for _, v := range t.Values[ref.Name] {
					values[ref] = append(values[ref], math.Min(math.Max(v, lo), hi))
				}
			}
		}
	}
	for ref, v := range values {
		if len(v) == 0 {
			continue
		}
		var s, s2 float64
		for _, x := range v {
			s, s2 = s+x, s2+x*x
		}
		m := s / float64(len(v))
		a.Columns[ref] = aggregate.ColumnModel{Mean: m, SD: math.Sqrt(math.Max(s2/float64(len(v))-m*m, 0))}
	}
	return a, nil
}

// demoPlan plans the demo's query and says what the planner expects.
func demoPlan(ctx context.Context, w io.Writer, client *party.Client, cfgs []party.Config, req party.JointRequest, n int) (*aggregate.AccuracyPlan, error) {
	a, err := demoAssumptions(ctx, cfgs, req, n)
	if err != nil {
		return nil, err
	}
	p, err := client.Plan(ctx, req, a, demoTarget)
	if err != nil {
		return nil, err
	}
	var widths []float64
	for _, c := range p.Plan.Cells {
		if c.Statistic == aggregate.CellPearson && c.Reason == "" {
			widths = append(widths, c.HalfWidth)
		}
	}
	fmt.Fprintf(w, "6. the accuracy planner, before the query (free: nothing charged, the node audits the plan),\n   told the %d common customers and each column's mean and SD over its owner's records:\n", n)
	if len(widths) > 0 {
		slices.Sort(widths)
		fmt.Fprintf(w, "   95 %% intervals of r from ±%.3f to ±%.3f (median ±%.3f)", widths[0], widths[len(widths)-1], widths[len(widths)/2])
		switch eps := p.Plan.EpsilonForTargets; {
		case req.Exact:
			fmt.Fprintln(w, " in exact mode")
		case math.IsInf(eps, 1):
			fmt.Fprintf(w, " at ε = %g; no ε up to 1000 gets every r to ±0.05\n", req.Epsilon)
		default:
			fmt.Fprintf(w, " at ε = %g; every r to ±0.05 would need ε = %.3g\n", req.Epsilon, eps)
		}
	}
	return p.Plan, nil
}

// plannedCells indexes a plan's cells by what they are.
func plannedCells(p *aggregate.AccuracyPlan) func(c aggregate.Cell) string {
	byKey := map[[4]string]aggregate.PlannedCell{}
	if p != nil {
		for _, pc := range p.Cells {
			byKey[[4]string{pc.Statistic, pc.X, pc.Y, pc.Group}] = pc
		}
	}
	// planned is "±planned ±got": the half-widths of the planned and of
	// the realised 95 % interval.
	return func(c aggregate.Cell) string {
		pc, ok := byKey[[4]string{c.Statistic, c.X, c.Y, c.Group}]
		got := "–"
		if !c.Suppressed {
			got = fmt.Sprintf("±%.3g", (c.CIHigh-c.CILow)/2)
		}
		switch {
		case !ok:
			return "\t" + got
		case pc.Reason != "":
			return "(undefined)\t" + got
		}
		planned := fmt.Sprintf("±%.3g", pc.HalfWidth)
		if pc.PSuppressed >= 0.01 {
			planned += fmt.Sprintf(" (%.0f %% suppressed)", 100*pc.PSuppressed)
		}
		return planned + "\t" + got
	}
}
