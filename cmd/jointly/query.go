package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/spf13/cobra"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto/dp"
	"github.com/jointly-dev/jointly/party"
)

// queryFile is the HCL form of a joint query (see docs/results.md).
type queryFile struct {
	Purpose       string            `hcl:"purpose"`
	Epsilon       float64           `hcl:"epsilon,optional"`
	Delta         float64           `hcl:"delta,optional"`
	Exact         bool              `hcl:"exact,optional"`
	Correlations  []correlationSpec `hcl:"correlation,block"`
	Rates         []rateSpec        `hcl:"rate,block"`
	Regressions   []regressionSpec  `hcl:"regression,block"`
	Contingencies []contingencySpec `hcl:"contingency,block"`
	Pools         []poolSpec        `hcl:"pool,block"`
}

// poolSpec pools the y columns of owners with disjoint customers; the
// query's columns name the pool as their node.
type poolSpec struct {
	Name   string   `hcl:"name,label"`
	Owners []string `hcl:"owners"`
}

type regressionSpec struct {
	Outcome    string   `hcl:"outcome"`
	Predictors []string `hcl:"predictors"`
}

type contingencySpec struct {
	X        string    `hcl:"x"`
	XBuckets []float64 `hcl:"x_buckets"`
	Y        string    `hcl:"y"`
	YBuckets []float64 `hcl:"y_buckets"`
}

type correlationSpec struct {
	X []string `hcl:"x"`
	Y []string `hcl:"y"`
}

type rateSpec struct {
	Events   string    `hcl:"events"`
	Exposure string    `hcl:"exposure"`
	By       string    `hcl:"by"`
	Buckets  []float64 `hcl:"buckets"`
}

// parseRef splits "node.column".
func parseRef(s string) (aggregate.ColumnRef, error) {
	owner, name, ok := strings.Cut(s, ".")
	if !ok || owner == "" || name == "" || strings.Contains(name, ".") {
		return aggregate.ColumnRef{}, fmt.Errorf("column %q must be written node.column", s)
	}
	return aggregate.ColumnRef{Owner: owner, Name: name}, nil
}

// loadQuery parses a query file into a joint request for the node named
// evaluator: its columns are x, the other owner's y. owners lists the
// federation's data owners, columns the evaluator's columns.
func loadQuery(path string, src []byte, evaluator string, owners, columns []string) (party.JointRequest, error) {
	var qf queryFile
	parse := hclparse.NewParser().ParseHCL
	if strings.EqualFold(filepath.Ext(path), ".json") {
		parse = hclparse.NewParser().ParseJSON // the same query in HCL's JSON syntax
	}
	f, diags := parse(src, path)
	if !diags.HasErrors() {
		diags = gohcl.DecodeBody(f.Body, nil, &qf)
	}
	if diags.HasErrors() {
		return party.JointRequest{}, errors.New(diagText(diags))
	}
	req := party.JointRequest{Purpose: qf.Purpose, Epsilon: qf.Epsilon, Delta: qf.Delta, Exact: qf.Exact}
	if len(qf.Correlations) == 0 && len(qf.Rates) == 0 && len(qf.Regressions) == 0 && len(qf.Contingencies) == 0 {
		return req, fmt.Errorf("%s: the query selects nothing: add a correlation, rate, regression or contingency block", path)
	}
	if !qf.Exact && qf.Epsilon == 0 {
		return req, fmt.Errorf("%s: epsilon must be positive (or exact = true where every node allows it)", path)
	}
	check := dp.CheckBudget
	if qf.Exact {
		check = dp.CheckExactBudget
	}
	if err := check(qf.Epsilon, qf.Delta); err != nil {
		return req, fmt.Errorf("%s: %w", path, err)
	}
	if len(qf.Pools) > 1 {
		return req, fmt.Errorf("%s: one pool per query (%d declared)", path, len(qf.Pools))
	}
	for _, p := range qf.Pools {
		if slices.Contains(owners, p.Name) {
			return req, fmt.Errorf("%s: pool %q has the name of a node; pick another name", path, p.Name)
		}
		if len(p.Owners) < 2 {
			return req, fmt.Errorf("%s: pool %q needs at least two owners", path, p.Name)
		}
		for k, o := range p.Owners {
			if !slices.Contains(owners, o) || o == evaluator || slices.Contains(p.Owners[:k], o) {
				return req, fmt.Errorf("%s: pool %q: %q is not another data owner, or is listed twice (data owners: %s; the query goes to %s)", path, p.Name, o, strings.Join(owners, ", "), evaluator)
			}
		}
		req.Pool = &party.Pool{Name: p.Name, Owners: p.Owners}
	}
	var xs, ys []aggregate.ColumnRef
	add := func(s string) (aggregate.ColumnRef, error) {
		r, err := parseRef(s)
		if err != nil {
			return r, fmt.Errorf("%s: %w", path, err)
		}
		if !slices.Contains(owners, r.Owner) && (req.Pool == nil || r.Owner != req.Pool.Name) {
			return r, fmt.Errorf("%s: unknown node %q in %q (data owners: %s)", path, r.Owner, s, strings.Join(owners, ", "))
		}
		if r.Owner == evaluator {
			if !slices.Contains(columns, r.Name) {
				return r, fmt.Errorf("%s: node %s has no column %q (columns: %s)", path, r.Owner, r.Name, strings.Join(columns, ", "))
			}
			if !slices.Contains(xs, r) {
				xs = append(xs, r)
			}
		} else if !slices.Contains(ys, r) {
			ys = append(ys, r)
		}
		return r, nil
	}
	for _, c := range qf.Correlations {
		if len(c.X) == 0 || len(c.Y) == 0 {
			return req, fmt.Errorf("%s: a correlation block needs columns in both x and y", path)
		}
		for _, s := range append(append([]string{}, c.X...), c.Y...) {
			if _, err := add(s); err != nil {
				return req, err
			}
		}
		req.Correlations = true
	}
	for _, r := range qf.Rates {
		ev, err := add(r.Events)
		if err != nil {
			return req, err
		}
		ex, err := add(r.Exposure)
		if err != nil {
			return req, err
		}
		by, err := add(r.By)
		if err != nil {
			return req, err
		}
		if err := checkBuckets(path, r.By, r.Buckets); err != nil {
			return req, err
		}
		req.Rates = append(req.Rates, aggregate.RateRequest{Events: ev, Exposure: ex, By: by, Edges: r.Buckets})
	}
	for _, r := range qf.Regressions {
		outcome, err := add(r.Outcome)
		if err != nil {
			return req, err
		}
		if len(r.Predictors) == 0 {
			return req, fmt.Errorf("%s: the regression of %s has no predictors", path, r.Outcome)
		}
		reg := aggregate.RegressionRequest{Outcome: outcome}
		for _, p := range r.Predictors {
			ref, err := add(p)
			if err != nil {
				return req, err
			}
			reg.Predictors = append(reg.Predictors, ref)
		}
		req.Regressions = append(req.Regressions, reg)
	}
	for _, ct := range qf.Contingencies {
		x, err := add(ct.X)
		if err != nil {
			return req, err
		}
		y, err := add(ct.Y)
		if err != nil {
			return req, err
		}
		if err := checkBuckets(path, ct.X, ct.XBuckets); err != nil {
			return req, err
		}
		if err := checkBuckets(path, ct.Y, ct.YBuckets); err != nil {
			return req, err
		}
		req.Contingencies = append(req.Contingencies, aggregate.ContingencyRequest{X: x, XEdges: ct.XBuckets, Y: y, YEdges: ct.YBuckets})
	}
	// x are the evaluator's columns, y the other owner's or the pool's.
	for _, y := range ys {
		if y.Owner != ys[0].Owner {
			return req, fmt.Errorf("%s: columns of %s and %s: a query joins the node it is sent to with one other owner", path, ys[0].Owner, y.Owner)
		}
	}
	if len(xs) == 0 || len(ys) == 0 {
		return req, fmt.Errorf("%s: the query must use columns of %s (the node it is sent to) and of one other owner or pool", path, evaluator)
	}
	if req.Pool != nil && ys[0].Owner != req.Pool.Name {
		return req, fmt.Errorf("%s: pool %q is declared but the columns are %s's; name pooled columns %s.<column>", path, req.Pool.Name, ys[0].Owner, req.Pool.Name)
	}
	req.X, req.Y = xs, ys
	return req, nil
}

// checkBuckets requires non-empty, strictly increasing bucket edges.
func checkBuckets(path, column string, edges []float64) error {
	if len(edges) == 0 {
		return fmt.Errorf("%s: buckets of %s are empty", path, column)
	}
	for k := 1; k < len(edges); k++ {
		if !(edges[k] > edges[k-1]) {
			return fmt.Errorf("%s: buckets of %s must be strictly increasing, got %v", path, column, edges)
		}
	}
	return nil
}

func diagText(diags hcl.Diagnostics) string {
	var parts []string
	for _, d := range diags {
		s := d.Summary
		if d.Detail != "" {
			s += ": " + d.Detail
		}
		if d.Subject != nil {
			s = fmt.Sprintf("%s:%d: %s", d.Subject.Filename, d.Subject.Start.Line, s)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// resultCell is the JSON and CSV form of a result cell (docs/results.md).
type resultCell struct {
	Statistic  string   `json:"statistic"`
	X          string   `json:"x,omitempty"`
	Y          string   `json:"y,omitempty"`
	Group      string   `json:"group,omitempty"`
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
		rc := resultCell{Statistic: c.Statistic, X: c.X, Y: c.Y, Group: c.Group, N: c.N, NoiseStd: c.NoiseStd, Exact: c.Exact, Epsilon: c.Epsilon, Suppressed: c.Suppressed, Reason: c.Reason}
		if !c.Suppressed {
			rc.Value, rc.CILow, rc.CIHigh = finite(c.Value), finite(c.CILow), finite(c.CIHigh)
			if c.Statistic == aggregate.CellChiSquare {
				rc.P = finite(c.P)
			}
		}
		d.Cells = append(d.Cells, rc)
	}
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
		cw.Write([]string{"statistic", "x", "y", "group", "value", "ci_low", "ci_high", "p", "n", "noise_std", "exact", "epsilon", "suppressed"})
		for _, c := range d.Cells {
			cw.Write([]string{c.Statistic, c.X, c.Y, c.Group, fmtNum(c.Value), fmtNum(c.CILow), fmtNum(c.CIHigh), fmtNum(c.P),
				strconv.FormatFloat(c.N, 'f', 1, 64), strconv.FormatFloat(c.NoiseStd, 'g', 4, 64), strconv.FormatBool(c.Exact),
				strconv.FormatFloat(c.Epsilon, 'g', 4, 64), strconv.FormatBool(c.Suppressed)})
		}
		cw.Flush()
		return cw.Error()
	case "html":
		return writeHTMLReport(w, r, resultMode(r))
	case "table":
		mode := resultMode(r)
		fmt.Fprintf(w, "owners: %s; union of %d records; %s; cells below %d people suppressed\n", strings.Join(r.Owners, ", "), r.UnionSize, mode, r.MinGroupSize)
		var left []string
		for _, o := range r.Owners {
			if b, ok := d.BudgetLeft[o]; ok {
				left = append(left, fmt.Sprintf("%s ε %.4g, δ %.3g", o, b.Epsilon, b.Delta))
			}
		}
		if len(left) > 0 {
			fmt.Fprintf(w, "your privacy budget left: %s\n", strings.Join(left, "; "))
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
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.3g\n", c.Statistic, c.X, c.Y, c.Group, val, ci, c.N, c.NoiseStd)
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
	var node, file, format, out, tlsDir, name, expect string
	var insecure bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "query --node ADDR --file QUERY.hcl",
		Short: "Run a joint query as a researcher and print the result",
		Long: `Send a joint query to a node and print the decrypted result.

The query file (HCL, see docs/results.md) names columns as node.column. The
node the query is sent to evaluates it: its columns are multiplied in
plaintext with the other owner's encrypted columns over the customers both
hold. The result comes back encrypted under a one-time key of this command,
so only this command can read it.

Authentication is mutual TLS with a querier certificate (jointly ca issue
--role querier): --tls-dir holds NAME.crt, NAME.key and ca.crt. --insecure
uses plaintext gRPC, for nodes running with insecure_loopback.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// A bad format is refused before the query spends any budget.
			if !slices.Contains([]string{"table", "json", "csv", "html"}, format) {
				return fmt.Errorf("query: --format must be table, json, csv or html, not %q", format)
			}
			src, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("query: %w", err)
			}
			var client *party.Client
			if insecure {
				client, err = party.Dial(node, timeout)
			} else {
				if tlsDir == "" || name == "" {
					return errors.New("query: --tls-dir and --name are required (or --insecure for a loopback development node)")
				}
				client, err = party.DialTLS(node, tlsDir, name, expect, timeout)
			}
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
			req, err := loadQuery(file, src, info.Node, info.Owners, info.Columns)
			if err != nil {
				return err
			}
			if insecure {
				req.Querier = name
			}
			res, err := client.Joint(ctx, req)
			if err != nil {
				return err
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
	cmd.Flags().StringVar(&node, "node", "", "address of the evaluating node, host:port (required)")
	cmd.Flags().StringVar(&file, "file", "", "query file, HCL (required)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, json, csv or html (a report with the correlation matrix as a heatmap)")
	cmd.Flags().StringVar(&out, "out", "", "write the result to this file instead of standard output")
	cmd.Flags().StringVar(&tlsDir, "tls-dir", "", "directory with the querier's certificate, key and the federation CA")
	cmd.Flags().StringVar(&name, "name", "", "the querier's identity (certificate name)")
	cmd.Flags().StringVar(&expect, "expect-node", "", "require the node's certificate to carry this name")
	cmd.Flags().BoolVar(&insecure, "insecure", false, "plaintext gRPC to a loopback development node")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "deadline of the whole query")
	_ = cmd.MarkFlagRequired("node")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}
