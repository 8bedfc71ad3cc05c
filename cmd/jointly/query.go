package main

import (
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
	"time"

	"github.com/spf13/cobra"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/queryfile"
)

// resultCell is the JSON and CSV form of a result cell (docs/results.md).
type resultCell struct {
	Statistic  string   `json:"statistic"`
	X          string   `json:"x,omitempty"`
	Y          string   `json:"y,omitempty"`
	Group      string   `json:"group,omitempty"`
	Per        string   `json:"per,omitempty"`
	Value      *float64 `json:"value"`
	CILow      *float64 `json:"ci_low"`
	CIHigh     *float64 `json:"ci_high"`
	P          *float64 `json:"p,omitempty"`
	N          float64  `json:"n"`
	NoiseStd   float64  `json:"noise_std"`
	Exact      bool     `json:"exact"`
	Epsilon    float64  `json:"epsilon"`
	Suppressed bool     `json:"suppressed,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	// Predicted is the accuracy planner's prediction of the cell (plan.go).
	Predicted *predictedDoc `json:"predicted,omitempty"`
}

// budgetDoc is the querier's privacy budget left at one owner.
type budgetDoc struct {
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
}

type resultDoc struct {
	Owners       []string             `json:"owners"`
	BudgetLeft   map[string]budgetDoc `json:"budget_left,omitempty"`
	UnionSize    int                  `json:"union_size"`
	MinGroupSize int                  `json:"min_group_size"`
	Exact        bool                 `json:"exact"`
	Epsilon      float64              `json:"epsilon"`
	Delta        float64              `json:"delta"`
	Cells        []resultCell         `json:"cells"`
	// Prediction is what the cells' predicted figures assume.
	Prediction *planBasisDoc `json:"prediction,omitempty"`
}

// Label names the cell's statistic for a reader, with the unit of a rate
// ("rate per year"): the table and the HTML report print it, JSON and CSV
// carry the unit as its own field.
func (c resultCell) Label() string {
	if c.Per == "" {
		return c.Statistic
	}
	return c.Statistic + " per " + c.Per
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func toDoc(r *party.JointResult) resultDoc {
	d := resultDoc{Owners: r.Owners, UnionSize: r.UnionSize, MinGroupSize: r.MinGroupSize, Exact: r.Exact, Epsilon: r.Epsilon, Delta: r.Delta}
	if len(r.BudgetLeft) > 0 {
		d.BudgetLeft = map[string]budgetDoc{}
		for o, b := range r.BudgetLeft {
			d.BudgetLeft[o] = budgetDoc{Epsilon: b.Epsilon, Delta: b.Delta}
		}
	}
	for _, c := range r.Cells {
		rc := resultCell{Statistic: c.Statistic, X: c.X, Y: c.Y, Group: c.Group, Per: c.Per, N: c.N, NoiseStd: c.NoiseStd, Exact: c.Exact, Epsilon: c.Epsilon, Suppressed: c.Suppressed, Reason: c.Reason}
		if !c.Suppressed {
			rc.Value, rc.CILow, rc.CIHigh = finite(c.Value), finite(c.CILow), finite(c.CIHigh)
			if c.Statistic == aggregate.CellChiSquare {
				rc.P = finite(c.P)
			}
		}
		d.Cells = append(d.Cells, rc)
	}
	attachPredicted(&d, r)
	return d
}

func fmtNum(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'g', 6, 64)
}

func writeResult(w io.Writer, format string, r *party.JointResult) error {
	d := toDoc(r)
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write(append([]string{"statistic", "x", "y", "group", "value", "ci_low", "ci_high", "p", "n", "noise_std", "exact", "epsilon", "suppressed", "per"}, predictedCSVHeader...))
		for _, c := range d.Cells {
			cw.Write(append([]string{c.Statistic, c.X, c.Y, c.Group, fmtNum(c.Value), fmtNum(c.CILow), fmtNum(c.CIHigh), fmtNum(c.P),
				strconv.FormatFloat(c.N, 'f', 1, 64), strconv.FormatFloat(c.NoiseStd, 'g', 4, 64), strconv.FormatBool(c.Exact),
				strconv.FormatFloat(c.Epsilon, 'g', 4, 64), strconv.FormatBool(c.Suppressed), c.Per}, predictedCSV(c.Predicted)...))
		}
		cw.Flush()
		return cw.Error()
	case "html":
		return writeHTMLReport(w, r, resultMode(r))
	case "table":
		mode := resultMode(r)
		fmt.Fprintf(w, "owners: %s; %s; %s; cells below %d people suppressed\n", strings.Join(r.Owners, ", "), unionText(r), mode, r.MinGroupSize)
		if left := budgetLeftText(r); left != "" {
			fmt.Fprintf(w, "your privacy budget left: %s\n", left)
		}
		if next := nextQueryText(r); next != "" {
			fmt.Fprintln(w, next)
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "STATISTIC\tX\tY\tGROUP\tVALUE\t95% CI\tN\tNOISE STD")
		for _, c := range d.Cells {
			val, ci := fmtNum(c.Value), ""
			if c.CILow != nil && c.CIHigh != nil && (*c.CILow != 0 || *c.CIHigh != 0) {
				ci = "[" + fmtNum(c.CILow) + ", " + fmtNum(c.CIHigh) + "]"
			}
			if c.P != nil {
				ci = "p = " + fmtNum(c.P)
			}
			if c.Suppressed {
				val = "(suppressed)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.3g\n", c.Label(), c.X, c.Y, c.Group, val, ci, c.N, c.NoiseStd)
		}
		return tw.Flush()
	}
	return fmt.Errorf("query: --format must be table, json, csv or html, not %q", format)
}

// resultMode describes how a result was released.
func resultMode(r *party.JointResult) string {
	if r.Exact {
		return "exact (validation mode, no noise)"
	}
	return fmt.Sprintf("differentially private, ε = %g, δ = %g per owner", r.Epsilon, r.Delta)
}

func newQueryCmd() *cobra.Command {
	var file, format, out, progress string
	var conn nodeFlags
	var pf planFlags
	cmd := &cobra.Command{
		Use:   "query --node ADDR --file QUERY.hcl",
		Short: "Run a joint query as a researcher and print the result",
		Long: `Send a joint query to a node and print the decrypted result.

The query file (HCL, see docs/results.md) names columns as node.column. The
node the query is sent to evaluates it: its columns are multiplied in
plaintext with the other owner's encrypted columns over the customers both
hold. The result comes back encrypted under a one-time key of this command,
so only this command can read it.

--plan predicts instead, free of charge, how precise every cell would come
out (its noise, the 95 % interval, the chance it is suppressed, and with
--target-halfwidth the ε a target needs), from the public bounds and what
--assume-n, --assume and --prior say of the data; the node records the plan
in its audit log. A query that runs shows the same predicted figures
beside the realised ones (docs/results.md, "Planning a query").

Authentication is mutual TLS with a querier certificate (jointly ca issue
--role querier): --tls-dir holds NAME.crt, NAME.key and ca.crt, and the
certificate says who is asking, so --name is needed only to pick one of
several certificates there. --insecure uses plaintext gRPC, for nodes
running with insecure_loopback, and --name names the querier.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// A bad format is refused before the query spends any budget.
			if !slices.Contains([]string{"table", "json", "csv", "html"}, format) {
				return usageErrorf("query: --format must be table, json, csv or html, not %q", format)
			}
			if !slices.Contains([]string{progressAuto, progressLine, progressJSON, progressNone}, progress) {
				return usageErrorf("query: --progress must be auto, line, json or none, not %q", progress)
			}
			if pf.plan && format == "html" {
				return usageErrorf("query --plan: --format must be table, json or csv")
			}
			assumed, targets, err := pf.parse()
			if err != nil {
				return err
			}
			src, err := os.ReadFile(file)
			if err != nil {
				return inputErrorf("query: %w", err)
			}
			// A mistake in the file is found before anything is sent.
			if _, _, err := queryfile.Check(file, src); err != nil {
				return err
			}
			client, querier, err := conn.dial()
			if err != nil {
				return err
			}
			defer client.Close()
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			info, err := client.Info(ctx)
			if err != nil {
				return err
			}
			// Levels known (if none): Parse checks the node's group-by columns.
			levels := info.Levels
			if levels == nil {
				levels = map[string][]string{}
			}
			req, err := queryfile.Parse(file, src, queryfile.Target{Node: info.Node, Owners: info.Owners, Columns: info.Columns, Levels: levels})
			if err != nil {
				return err
			}
			if conn.insecure {
				req.Querier = querier
			}
			if assumed, err = forQuery(assumed, req, pf.assume); err != nil {
				return err
			}
			if pf.plan {
				return runPlan(ctx, cmd.OutOrStdout(), out, format, client, req, assumed, targets)
			}
			pp := newProgressPrinter(cmd.ErrOrStderr(), progress)
			if pp != nil {
				ctx = party.WithProgress(ctx, pp.report)
			}
			res, err := client.Joint(ctx, req)
			pp.end()
			if err != nil {
				return err
			}
			// The result stands without its prediction: the budget is spent.
			if err := res.Predict(assumed, targets); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "jointly: no prediction beside the result: %v\n", err)
			}
			if out != "" {
				if err := writeResultFile(out, format, res); err != nil {
					return fmt.Errorf("query: %w", err)
				}
				return nil
			}
			return writeResult(cmd.OutOrStdout(), format, res)
		},
	}
	conn.register(cmd, 30*time.Minute, "deadline of the whole query")
	cmd.Flags().StringVar(&file, "file", "", "query file, HCL (required)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, json, csv or html (a report with the correlation matrix as a heatmap)")
	cmd.Flags().StringVar(&out, "out", "", "write the result to this file instead of standard output")
	pf.register(cmd)
	cmd.Flags().StringVar(&progress, "progress", progressAuto, "progress of the query on standard error: auto (a line on a terminal), line, json (one object per report) or none")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// unionText says what the querier knows of the union size: exact in exact
// mode, padded with DP noise otherwise.
func unionText(r *party.JointResult) string {
	if r.Exact {
		return fmt.Sprintf("union of %d records", r.UnionSize)
	}
	return fmt.Sprintf("union padded with DP noise to %d records", r.UnionSize)
}
