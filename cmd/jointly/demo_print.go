package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/synth"
)

// The demo's printed result: the planted effects next to what the query
// recovered, the clipped shares, the rates and the correlation matrix.

// printPlanted prints, for each planted effect, the truth next to what the
// encrypted query recovered, then the whole correlation matrix.
func printPlanted(w io.Writer, res *party.JointResult, truth *synth.Truth, xOwner, yOwner string, plan *aggregate.AccuracyPlan) {
	planned := plannedCells(plan)
	cell := func(stat, x, y, group string) *aggregate.Cell {
		for i := range res.Cells {
			c := &res.Cells[i]
			if c.Statistic == stat && c.X == x && c.Y == y && c.Group == group {
				return c
			}
		}
		return nil
	}
	mode := fmt.Sprintf("differentially private (ε = %g, δ = %g at each owner); 95%% intervals include the noise", res.Epsilon, res.Delta)
	if res.Exact {
		mode = "exact (validation mode, no noise); 95% intervals are the sampling error alone"
	}
	fmt.Fprintf(w, "   Planted effects, %s\n   (planned: the 95 %% interval's half-width the planner predicted; got: this release's):\n\n", mode)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "   spend on\tclaims\tplanted β\ttrue r (unclipped)\trecovered r\t95% CI\tplanned\tgot\t")
	pairR := map[string]float64{}
	for _, p := range truth.Pairs {
		pairR[p.Category+"/"+p.Claim] = p.R
	}
	for _, q := range truth.Quartiles {
		c := cell(aggregate.CellPearson, xOwner+".spend_"+q.Category, yOwner+".claims_"+q.Claim, "")
		if c == nil {
			fmt.Fprintf(tw, "   %s\t%s\t%+.2f\t%.3f\t(excluded by policy)\t\t\n", q.Category, q.Claim, q.Beta, pairR[q.Category+"/"+q.Claim])
			continue
		}
		fmt.Fprintf(tw, "   %s\t%s\t%+.2f\t%.3f\t%.3f\t[%.3f, %.3f]\t%s\t\n", q.Category, q.Claim, q.Beta, pairR[q.Category+"/"+q.Claim], c.Value, c.CILow, c.CIHigh, planned(*c))
	}
	tw.Flush()
	printClipped(w, res)

	// The rates as released: per the unit each cell carries (per year of
	// exposure, which the insurer declares in months), as in result.json.
	band := yOwner + ".age_band"
	per := ""
	for _, c := range res.Cells {
		if c.Statistic == aggregate.CellRate {
			per = c.Per
			break
		}
	}
	if per == "" {
		per = "unit of exposure"
	}
	rateRow := func(tw io.Writer, lead string, c aggregate.Cell) {
		rr := cell(aggregate.CellRelativeRisk, c.X, c.Y, c.Group)
		rrText := ""
		if rr != nil && !rr.Suppressed {
			rrText = fmt.Sprintf("%.2f [%.2f, %.2f]", rr.Value, rr.CILow, rr.CIHigh)
		}
		if c.Suppressed {
			fmt.Fprintf(tw, "   %s%s\t%.0f\t(suppressed: %s)\t\t\t%s\t\n", lead, c.Group, c.N, c.Reason, planned(c))
			return
		}
		fmt.Fprintf(tw, "   %s%s\t%.0f\t%.3f\t[%.3f, %.3f]\t%s\t%s\t\n", lead, c.Group, c.N, c.Value, c.CILow, c.CIHigh, rrText, planned(c))
	}
	fmt.Fprintf(w, "\n   Claims per %s by spend group (relative risk against the lowest group):\n\n", per)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   spend on\tclaims\tgroup ($)\tpeople\trate per %s\t95%% CI\trelative risk\tplanned\tgot\t\n", per)
	for _, c := range res.Cells {
		if c.Statistic == aggregate.CellRate && c.X != band {
			rateRow(tw, short(c.X)+"\t"+short(strings.Split(c.Y, "/")[0])+"\t", c)
		}
	}
	tw.Flush()

	fmt.Fprintf(w, "\n   Diabetes claims per %s by age band (a categorical column, grouped by its levels;\n   relative risk against the first):\n\n", per)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   age band\tpeople\trate per %s\t95%% CI\trelative risk\tplanned\tgot\t\n", per)
	for _, c := range res.Cells {
		if c.Statistic == aggregate.CellRate && c.X == band {
			rateRow(tw, "", c)
		}
	}
	tw.Flush()

	printAdjusted(w, res)

	// The whole matrix.
	var xs, ys []string
	for _, c := range res.Cells {
		if c.Statistic == aggregate.CellPearson {
			if !slices.Contains(xs, c.X) {
				xs = append(xs, c.X)
			}
			if !slices.Contains(ys, c.Y) {
				ys = append(ys, c.Y)
			}
		}
	}
	fmt.Fprintf(w, "\n   Pearson r, every category × claim type (* where the 95%% interval excludes 0;\n   by chance alone about 1 cell in 20 gets one):\n\n")
	tw = tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "   \t")
	for _, y := range ys {
		fmt.Fprintf(tw, "%s\t", strings.TrimPrefix(short(y), "claims_"))
	}
	fmt.Fprintln(tw)
	for _, x := range xs {
		fmt.Fprintf(tw, "   %s\t", strings.TrimPrefix(short(x), "spend_"))
		for _, y := range ys {
			if c := cell(aggregate.CellPearson, x, y, ""); c != nil && !c.Suppressed {
				mark := " "
				if c.CILow > 0 || c.CIHigh < 0 {
					mark = "*"
				}
				fmt.Fprintf(tw, "%+.3f%s\t", c.Value, mark)
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// printClipped prints the share of the common customers whose value each
// column's bounds clipped, as the result released it: where it is large,
// r is pulled toward 0 (the "true r (unclipped)" above is the unclipped
// data's).
func printClipped(w io.Writer, res *party.JointResult) {
	var parts []string
	for _, c := range res.Cells {
		if c.Statistic != aggregate.CellClipped || c.Suppressed {
			continue
		}
		text := fmt.Sprintf("%s %.1f %%", strings.TrimPrefix(strings.TrimPrefix(short(c.X+c.Y), "spend_"), "claims_"), 100*math.Max(c.Value, 0))
		if c.Warning != "" {
			text += " ⚠"
		}
		parts = append(parts, text)
	}
	if len(parts) == 0 {
		return
	}
	fmt.Fprintf(w, "\n   Values clipped to the declared bounds, share of the common customers (released with the result;\n   ⚠ above %g %%, where a column's statistics lean toward its bounds):\n", 100*aggregate.ClipWarnShare)
	line := "  "
	for _, p := range parts {
		if len(line)+len(p) > 100 {
			fmt.Fprintln(w, line)
			line = "  "
		}
		line += " " + p + ";"
	}
	fmt.Fprintln(w, strings.TrimSuffix(line, ";"))
}

// printAdjusted prints the regression of diabetes claims on diet-aid
// spend and the age band: the spend's effect with the insurer's own age
// band held fixed, which neither owner could fit alone.
func printAdjusted(w io.Writer, res *party.JointResult) {
	var cells []aggregate.Cell
	for _, c := range res.Cells {
		if strings.Contains(c.Group, " ~ ") {
			cells = append(cells, c)
		}
	}
	if len(cells) == 0 {
		return
	}
	fmt.Fprintf(w, "\n   Diabetes claims per policyholder on diet-aid spend, adjusted for the insurer's age band\n   (least squares over both owners' columns; each band against 18-29):\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "   term\tcoefficient\t95% CI\t")
	for _, c := range cells {
		name, scale := "", 1.0
		switch {
		case c.Statistic == aggregate.CellOLSIntercept:
			name = "intercept (18-29, no spend)"
		case c.Statistic == aggregate.CellOLSCoef && strings.Contains(c.X, "="):
			_, level, _ := strings.Cut(c.X, "=")
			name = "age band " + level
		case c.Statistic == aggregate.CellOLSCoef:
			name, scale = "diet-aid spend, per $100", 100
		case c.Statistic == aggregate.CellR2 && !c.Suppressed:
			fmt.Fprintf(tw, "   R²\t%.3f\t(over %.0f people)\t\n", c.Value, c.N)
			continue
		default:
			continue
		}
		if c.Suppressed {
			fmt.Fprintf(tw, "   %s\t(suppressed: %s)\t\t\n", name, c.Reason)
			continue
		}
		fmt.Fprintf(tw, "   %s\t%+.3f\t[%.3f, %.3f]\t\n", name, scale*c.Value, scale*c.CILow, scale*c.CIHigh)
	}
	tw.Flush()
}
