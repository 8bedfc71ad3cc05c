package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
)

// The accuracy planner on the command line (docs/results.md, "Planning a
// query"): jointly query --plan predicts every cell of a query before it
// is sent, free of charge; a query that runs shows the same predicted
// figures beside the realised ones.

// planFlags are the planner's flags of jointly query.
type planFlags struct {
	plan    bool
	assumeN float64
	assume  []string
	prior   string
	targets []string
}

func (f *planFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.BoolVar(&f.plan, "plan", false, "predict each cell's noise, interval, chance of suppression and the ε a target needs, without running the query: nothing is charged; the node audits the plan")
	fs.Float64Var(&f.assumeN, "assume-n", 0, "the people behind the query (the owners' common customers) the plan assumes; a query's prediction takes its own count without it")
	fs.StringArrayVar(&f.assume, "assume", nil, "a column's mean and standard deviation, once clipped to its bounds, as owner.column=MEAN,SD (repeatable); without, a column is assumed spread evenly over its bounds")
	fs.StringVar(&f.prior, "prior", "", "an earlier result (--format json) to take the people and the columns' means and standard deviations from")
	fs.StringArrayVar(&f.targets, "target-halfwidth", nil, "the half-width the privacy noise may add to a 95 % interval, to get the ε that meets it: 0.05 (for pearson_r), or STATISTIC=WIDTH, WIDTH% relative to the value (rate=10%); repeatable")
}

// parse reads the planner's flags, before anything is sent: what the
// plan assumes, and the targets.
func (f *planFlags) parse() (aggregate.Assumptions, aggregate.Targets, error) {
	a := aggregate.Assumptions{Columns: map[aggregate.ColumnRef]aggregate.ColumnModel{}}
	if f.prior != "" {
		b, err := os.ReadFile(f.prior)
		if err != nil {
			return a, nil, inputErrorf("--prior: %w", err)
		}
		var doc resultDoc
		if err := json.Unmarshal(b, &doc); err != nil {
			return a, nil, inputErrorf("--prior %s: not a result in JSON: %w", f.prior, err)
		}
		a = aggregate.AssumptionsFromCells(fromDocCells(doc.Cells))
		if a.N == 0 {
			return a, nil, inputErrorf("--prior %s: the result has no count", f.prior)
		}
	}
	if f.assumeN != 0 {
		if !(f.assumeN >= 1) || math.IsInf(f.assumeN, 0) {
			return a, nil, usageErrorf("--assume-n must be at least 1, not %g", f.assumeN)
		}
		a.N = f.assumeN
	}
	for _, s := range f.assume {
		col, ms, ok := strings.Cut(s, "=")
		owner, name, okRef := strings.Cut(col, ".")
		m, sd, okVals := strings.Cut(ms, ",")
		mean, err1 := strconv.ParseFloat(strings.TrimSpace(m), 64)
		dev, err2 := strconv.ParseFloat(strings.TrimSpace(sd), 64)
		if !ok || !okRef || !okVals || err1 != nil || err2 != nil || math.IsNaN(mean) || math.IsInf(mean, 0) || !(dev >= 0) || math.IsInf(dev, 0) {
			return a, nil, usageErrorf("--assume %q: want owner.column=MEAN,SD with a finite mean and a standard deviation >= 0", s)
		}
		a.Columns[aggregate.ColumnRef{Owner: owner, Name: name}] = aggregate.ColumnModel{Mean: mean, SD: dev}
	}
	if f.plan && a.N == 0 {
		return a, nil, usageErrorf("query --plan needs --assume-n (the people behind the query) or --prior (an earlier result)")
	}
	t := aggregate.Targets{}
	for _, s := range f.targets {
		stat, w, ok := strings.Cut(s, "=")
		if !ok {
			stat, w = aggregate.CellPearson, s
		}
		tg := aggregate.Target{}
		if pct, isPct := strings.CutSuffix(w, "%"); isPct {
			w, tg.Relative = pct, true
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
		if tg.Relative {
			v /= 100
		}
		if err != nil || !(v > 0) || math.IsInf(v, 0) || !slices.Contains(plannedStatistics, stat) {
			return a, nil, usageErrorf("--target-halfwidth %q: want WIDTH or STATISTIC=WIDTH (WIDTH%% for a share of the value) with a positive width and a statistic of %s",
				s, strings.Join(plannedStatistics, ", "))
		}
		tg.HalfWidth = v
		t[stat] = tg
	}
	return a, t, nil
}

// plannedStatistics are the statistics a target may name.
var plannedStatistics = []string{aggregate.CellCount, aggregate.CellMean, aggregate.CellVariance, aggregate.CellPearson, aggregate.CellRate,
	aggregate.CellRelativeRisk, aggregate.CellOLSIntercept, aggregate.CellOLSCoef}

// fromDocCells reads back the cells of a result document.
func fromDocCells(docs []resultCell) []aggregate.Cell {
	out := make([]aggregate.Cell, len(docs))
	for i, d := range docs {
		c := aggregate.Cell{Statistic: d.Statistic, X: d.X, Y: d.Y, Group: d.Group, Per: d.Per, N: d.N, Suppressed: d.Suppressed || d.Value == nil}
		if d.Value != nil {
			c.Value = *d.Value
		}
		out[i] = c
	}
	return out
}

// forQuery keeps the column models of a that name a column of r: a prior
// from another query may describe others.
func forQuery(a aggregate.Assumptions, r party.JointRequest, explicit []string) (aggregate.Assumptions, error) {
	cols := map[aggregate.ColumnRef]aggregate.ColumnModel{}
	for ref, m := range a.Columns {
		if slices.Contains(r.X, ref) || slices.Contains(r.Y, ref) {
			cols[ref] = m
			continue
		}
		for _, s := range explicit {
			if strings.HasPrefix(s, ref.String()+"=") {
				return a, usageErrorf("--assume %q: %s is not a column of the query", s, ref)
			}
		}
	}
	a.Columns = cols
	return a, nil
}

// runPlan asks the node for the plan of req and writes it.
func runPlan(ctx context.Context, w io.Writer, out, format string, client *party.Client, req party.JointRequest, a aggregate.Assumptions, t aggregate.Targets) error {
	p, err := client.Plan(ctx, req, a, t)
	if err != nil {
		return err
	}
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return inputErrorf("query: %w", err)
		}
		if err := writePlan(f, format, p); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return writePlan(w, format, p)
}

// predictedDoc is the planner's prediction of one cell (docs/results.md,
// "Planning a query").
type predictedDoc struct {
	NoiseStd          float64  `json:"noise_std"`
	NoiseHalfWidth    float64  `json:"noise_halfwidth"`
	HalfWidth         float64  `json:"halfwidth"`
	PSuppressed       float64  `json:"p_suppressed"`
	EpsilonForTarget  *float64 `json:"epsilon_for_target,omitempty"`
	TargetUnreachable bool     `json:"target_unreachable,omitempty"`
}

// planCellDoc is a cell of a plan: the cell, its value on the assumed
// data, and the prediction.
type planCellDoc struct {
	Statistic string   `json:"statistic"`
	X         string   `json:"x,omitempty"`
	Y         string   `json:"y,omitempty"`
	Group     string   `json:"group,omitempty"`
	Value     *float64 `json:"assumed_value"`
	N         float64  `json:"n"`
	predictedDoc
	Reason string `json:"reason,omitempty"`
}

// plannedColumnDoc is the model a column was planned with.
type plannedColumnDoc struct {
	Column string  `json:"column"`
	Lo     float64 `json:"lo"`
	Hi     float64 `json:"hi"`
	Mean   float64 `json:"mean"`
	SD     float64 `json:"sd"`
	Model  string  `json:"model"`
	// Grouped says the column's values were spread over the groups a
	// rate or the correlations cut it into as an earlier release's counts
	// were, or drawn within each group of the correlations from the means
	// and variances that release gave it there.
	Grouped bool `json:"grouped,omitempty"`
}

// planBasisDoc is what a plan assumed.
type planBasisDoc struct {
	N       float64            `json:"n"`
	Columns []plannedColumnDoc `json:"columns"`
	// GroupRates says the groups of a rate were planned at the rates an
	// earlier release gave them.
	GroupRates bool `json:"group_rates,omitempty"`
}

type planDoc struct {
	Owners       []string `json:"owners"`
	MinGroupSize int      `json:"min_group_size"`
	Exact        bool     `json:"exact"`
	Epsilon      float64  `json:"epsilon"`
	Delta        float64  `json:"delta"`
	// Charged is always false: a plan costs nothing.
	Charged bool `json:"charged"`
	// Refusal is why an owner's policy would refuse the query, and
	// RefusedBy that owner.
	Refusal            string        `json:"refusal,omitempty"`
	RefusedBy          string        `json:"refused_by,omitempty"`
	Assumed            planBasisDoc  `json:"assumed"`
	EpsilonForTargets  *float64      `json:"epsilon_for_targets,omitempty"`
	TargetsUnreachable bool          `json:"targets_unreachable,omitempty"`
	Cells              []planCellDoc `json:"cells"`
}

func predicted(c aggregate.PlannedCell) predictedDoc {
	d := predictedDoc{NoiseStd: c.NoiseStd, NoiseHalfWidth: c.NoiseHalfWidth, HalfWidth: c.HalfWidth, PSuppressed: c.PSuppressed}
	d.EpsilonForTarget, d.TargetUnreachable = epsilonDoc(c.EpsilonForTarget)
	return d
}

// epsilonDoc is an ε for a target: absent without one (0), unreachable
// when +Inf.
func epsilonDoc(eps float64) (*float64, bool) {
	switch {
	case eps == 0:
		return nil, false
	case math.IsInf(eps, 1):
		return nil, true
	}
	return &eps, false
}

func basisDoc(p *aggregate.AccuracyPlan) planBasisDoc {
	b := planBasisDoc{N: p.N, GroupRates: p.RatesAssumed}
	for _, c := range p.Columns {
		b.Columns = append(b.Columns, plannedColumnDoc{Column: c.Ref.String(), Lo: c.Lo, Hi: c.Hi, Mean: c.Mean, SD: c.SD, Model: c.Source, Grouped: c.Grouped})
	}
	return b
}

func toPlanDoc(p *party.JointPlan) planDoc {
	d := planDoc{Owners: p.Owners, MinGroupSize: p.MinGroupSize, Exact: p.Plan.Exact, Epsilon: p.Plan.Epsilon, Delta: p.Plan.Delta,
		Refusal: p.Refusal, RefusedBy: p.RefusedBy, Assumed: basisDoc(p.Plan)}
	d.EpsilonForTargets, d.TargetsUnreachable = epsilonDoc(p.Plan.EpsilonForTargets)
	for _, c := range p.Plan.Cells {
		cd := planCellDoc{Statistic: c.Statistic, X: c.X, Y: c.Y, Group: c.Group, N: c.N, predictedDoc: predicted(c), Reason: c.Reason}
		if c.Reason == "" {
			cd.Value = finite(c.Value)
		}
		d.Cells = append(d.Cells, cd)
	}
	return d
}

// attachPredicted puts r's predicted figures beside its realised cells.
func attachPredicted(d *resultDoc, r *party.JointResult) {
	p := r.Predicted
	if p == nil || len(p.Cells) != len(d.Cells) {
		return
	}
	for i := range d.Cells {
		c, pc := &d.Cells[i], p.Cells[i]
		if c.Statistic != pc.Statistic || c.X != pc.X || c.Y != pc.Y || c.Group != pc.Group {
			return
		}
		if pc.Reason == "" {
			pd := predicted(pc)
			c.Predicted = &pd
		}
	}
	b := basisDoc(p)
	d.Prediction = &b
}

func fmtEps(p *float64, unreachable bool) string {
	switch {
	case unreachable:
		return "none ≤ 1000"
	case p == nil:
		return ""
	}
	return strconv.FormatFloat(*p, 'g', 3, 64)
}

func writePlan(w io.Writer, format string, p *party.JointPlan) error {
	d := toPlanDoc(p)
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"statistic", "x", "y", "group", "assumed_value", "n", "noise_std", "noise_halfwidth", "halfwidth", "p_suppressed", "epsilon_for_target", "reason"})
		for _, c := range d.Cells {
			cw.Write([]string{c.Statistic, c.X, c.Y, c.Group, fmtNum(c.Value), strconv.FormatFloat(c.N, 'f', 1, 64),
				strconv.FormatFloat(c.NoiseStd, 'g', 4, 64), strconv.FormatFloat(c.NoiseHalfWidth, 'g', 4, 64), strconv.FormatFloat(c.HalfWidth, 'g', 4, 64),
				strconv.FormatFloat(c.PSuppressed, 'g', 3, 64), fmtEps(c.EpsilonForTarget, c.TargetUnreachable), c.Reason})
		}
		cw.Flush()
		return cw.Error()
	case "table":
		mode := fmt.Sprintf("ε = %g, δ = %g per owner", d.Epsilon, d.Delta)
		if d.Exact {
			mode = "exact (validation mode, no noise)"
		}
		fmt.Fprintf(w, "plan of the query at %s: owners %s; %s; cells below %d people suppressed\n", d.Owners[0], strings.Join(d.Owners, ", "), mode, d.MinGroupSize)
		fmt.Fprintf(w, "nothing was charged; %s recorded the plan in its audit log\n", d.Owners[0])
		if d.Refusal != "" {
			fmt.Fprintf(w, "%s would refuse this query: %s\n", cmp.Or(d.RefusedBy, d.Owners[0]), d.Refusal)
		}
		fmt.Fprintf(w, "assumed: %.0f people behind the query; the columns, clipped to their bounds:\n", d.Assumed.N)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		uniform := false
		for _, c := range d.Assumed.Columns {
			model := c.Model
			if c.Grouped {
				model += ", groups as released"
			}
			fmt.Fprintf(tw, "  %s\t[%g, %g]\tmean %.4g\tSD %.4g\t%s\n", c.Column, c.Lo, c.Hi, c.Mean, c.SD, model)
			uniform = uniform || c.Model == aggregate.ModelUniform
		}
		tw.Flush()
		if d.Assumed.GroupRates {
			fmt.Fprintln(w, "each group of a rate at the rate the earlier release gave it")
		}
		if uniform {
			fmt.Fprintln(w, "uniform: spread evenly over the bounds; a column bunched in part of its range has a smaller SD and gets more noise (--assume, --prior)")
		}
		switch {
		case d.TargetsUnreachable:
			fmt.Fprintln(w, "some target is met at no ε up to 1000")
		case d.EpsilonForTargets != nil:
			fmt.Fprintf(w, "every target is met at ε = %.3g (δ = %g)\n", *d.EpsilonForTargets, d.Delta)
		}
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "STATISTIC\tX\tY\tGROUP\tASSUMED VALUE\tN\tNOISE STD\t± NOISE\t± 95% CI\tP(SUPPRESSED)\tε FOR TARGET")
		for _, c := range d.Cells {
			if c.Reason != "" {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t(undefined: %s)\t%.0f\t\t\t\t%.2g\t\n", c.Statistic, c.X, c.Y, c.Group, c.Reason, c.N, c.PSuppressed)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.0f\t%.3g\t%.3g\t%.3g\t%.2g\t%s\n", c.Statistic, c.X, c.Y, c.Group, fmtNum(c.Value), c.N,
				c.NoiseStd, c.NoiseHalfWidth, c.HalfWidth, c.PSuppressed, fmtEps(c.EpsilonForTarget, c.TargetUnreachable))
		}
		return tw.Flush()
	}
	return usageErrorf("query --plan: --format must be table, json or csv, not %q", format)
}

// predictedCSVHeader names the predicted columns of a result in CSV.
var predictedCSVHeader = []string{"predicted_noise_std", "predicted_noise_halfwidth", "predicted_halfwidth", "p_suppressed", "epsilon_for_target"}

func predictedCSV(p *predictedDoc) []string {
	if p == nil {
		return make([]string, len(predictedCSVHeader))
	}
	return []string{strconv.FormatFloat(p.NoiseStd, 'g', 4, 64), strconv.FormatFloat(p.NoiseHalfWidth, 'g', 4, 64),
		strconv.FormatFloat(p.HalfWidth, 'g', 4, 64), strconv.FormatFloat(p.PSuppressed, 'g', 3, 64), fmtEps(p.EpsilonForTarget, p.TargetUnreachable)}
}
