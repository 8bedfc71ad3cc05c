package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/ledger"
	"github.com/jointly-dev/jointly/party/source"
)

// infoDoc is the JSON form of `jointly info`.
type infoDoc struct {
	Node       string          `json:"node"`
	Federation string          `json:"federation"`
	Preset     string          `json:"preset"`
	Version    string          `json:"version"`
	SetupDone  bool            `json:"setup_done"`
	Owners     []string        `json:"owners"`
	Columns    []infoColumnDoc `json:"columns"`
	// Segmenting are the purposes the node treats as segmenting people,
	// for which it refuses a grouping column that is a proxy of one of its
	// protected columns above ProxyThreshold (docs/governance.md).
	Segmenting     []string `json:"segmenting,omitempty"`
	ProxyThreshold float64  `json:"proxy_threshold,omitempty"`
	// Budget is the caller's budget at the node; null when the node does
	// not admit the caller as a querier.
	Budget *infoBudgetDoc `json:"budget"`
}

type infoColumnDoc struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Lo     *float64 `json:"lo,omitempty"`
	Hi     *float64 `json:"hi,omitempty"`
	Step   *float64 `json:"step,omitempty"`
	Levels []string `json:"levels,omitempty"`
	Unit   string   `json:"unit,omitempty"`
	Tags   []string `json:"tags,omitempty"`
	// Estimated is set when the node estimated the bounds from its data
	// (auto_bounds) rather than declaring them.
	Estimated *infoEstimateDoc `json:"estimated,omitempty"`
}

// infoEstimateDoc says how a node estimated a column's bounds.
type infoEstimateDoc struct {
	Epsilon  float64 `json:"epsilon"`
	Quantile float64 `json:"quantile"`
	// Bounds is "hi" (lo declared) or "lo and hi".
	Bounds string `json:"bounds"`
}

type infoBudgetDoc struct {
	Querier     string  `json:"querier"`
	Epsilon     float64 `json:"epsilon"`
	Delta       float64 `json:"delta"`
	EpsilonLeft float64 `json:"epsilon_left"`
	DeltaLeft   float64 `json:"delta_left"`
	// Status is jointly budget's: "ok", "ε spent", "δ spent" or "ε and δ
	// spent".
	Status string `json:"status"`
}

func toInfoDoc(i *party.NodeInfo) infoDoc {
	d := infoDoc{Node: i.Node, Federation: i.Federation, Preset: i.Preset, Version: i.Version, SetupDone: i.SetupDone, Owners: i.Owners}
	if len(i.Segmenting) > 0 {
		d.Segmenting, d.ProxyThreshold = slices.Clone(i.Segmenting), i.ProxyThreshold
	}
	for _, c := range i.Columns {
		col := infoColumnDoc{Name: c, Type: source.TypeNumeric, Unit: i.Units[c], Tags: i.Tags[c]}
		if b, ok := i.Bounds[c]; ok {
			col.Lo, col.Hi = &b[0], &b[1]
		}
		if s, ok := i.Steps[c]; ok {
			col.Step = &s
		}
		if levels, ok := i.Levels[c]; ok {
			col.Type, col.Levels = source.TypeCategorical, levels
		}
		if e, ok := i.Estimated[c]; ok {
			col.Estimated = &infoEstimateDoc{Epsilon: e.Epsilon, Quantile: e.Quantile, Bounds: "hi"}
			if e.Lo {
				col.Estimated.Bounds = "lo and hi"
			}
		}
		d.Columns = append(d.Columns, col)
	}
	if b := i.Budget; b != nil {
		d.Budget = &infoBudgetDoc{Querier: b.Querier, Epsilon: b.Budget.Epsilon, Delta: b.Budget.Delta, EpsilonLeft: b.Left.Epsilon, DeltaLeft: b.Left.Delta,
			Status: accountStatus(ledger.Account{Querier: b.Querier, Budget: b.Budget, Remaining: b.Left})}
	}
	return d
}

// writeInfo prints a node's description for a reader.
func writeInfo(w io.Writer, d infoDoc, querier string) error {
	setup := "setup done"
	if !d.SetupDone {
		setup = "setup not finished: queries wait for it"
	}
	fmt.Fprintf(w, "node %s of federation %s (preset %s, version %s; %s)\n", d.Node, d.Federation, d.Preset, d.Version, setup)
	fmt.Fprintf(w, "data owners: %s\n\n", strings.Join(d.Owners, ", "))
	if len(d.Columns) == 0 {
		fmt.Fprintln(w, "no columns")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "COLUMN\tTYPE\tLO\tHI\tSTEP\tUNIT\tTAGS\tLEVELS")
		for _, c := range d.Columns {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Type, fmtNum(c.Lo), fmtNum(c.Hi), fmtNum(c.Step), c.Unit, strings.Join(c.Tags, ","), strings.Join(c.Levels, ", "))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, c := range d.Columns {
			if e := c.Estimated; e != nil {
				q := fmt.Sprintf("the %.4g quantile", e.Quantile)
				if e.Bounds != "hi" {
					q = fmt.Sprintf("the %.4g and %.4g quantiles", 1-e.Quantile, e.Quantile)
				}
				fmt.Fprintf(w, "%s: %s estimated by the node from its data with differential privacy (ε %g, %s)\n", c.Name, e.Bounds, e.Epsilon, q)
			}
		}
	}
	if len(d.Segmenting) > 0 {
		fmt.Fprintf(w, "purposes that segment people here: %s; a grouping column whose association with a protected column exceeds %g is refused for them\n",
			strings.Join(d.Segmenting, ", "), d.ProxyThreshold)
	}
	fmt.Fprintln(w)
	b := d.Budget
	if b == nil {
		fmt.Fprintf(w, "no privacy budget here for %s: the node does not admit it as a querier\n", querier)
		return nil
	}
	fmt.Fprintf(w, "privacy budget of %s here: ε %.4g of %.4g left, δ %.3g of %.3g left", b.Querier, b.EpsilonLeft, b.Epsilon, b.DeltaLeft, b.Delta)
	if b.Status != "ok" {
		fmt.Fprintf(w, " (%s)", b.Status)
	}
	fmt.Fprintln(w)
	return nil
}

// newInfoCmd is `jointly info`: what a node offers, and the caller's
// budget there.
func newInfoCmd() *cobra.Command {
	var format string
	var asJSON bool
	var conn nodeFlags
	cmd := &cobra.Command{
		Use:   "info --node ADDR",
		Short: "Show a node's data owners, columns and your privacy budget there",
		Long: `Ask a node to describe itself: its federation and data owners, the columns
a query may name with their declared bounds, units and tags (the levels
of a categorical column, whose values are the levels' indices), and the privacy
budget the calling querier has left there, ε and δ.

It connects as jointly query does (--tls-dir, or --insecure with --name)
and spends no budget. --format json (or --json) prints the same for
machines.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				format = "json"
			}
			if format != "table" && format != "json" {
				return usageErrorf("info: --format must be table or json, not %q", format)
			}
			client, querier, err := conn.dial()
			if err != nil {
				return err
			}
			defer client.Close()
			ctx := commandContext(cmd)
			claim := ""
			if conn.insecure {
				claim = querier
			}
			info, err := client.InfoFor(ctx, claim)
			if err != nil {
				return err
			}
			d := toInfoDoc(info)
			if format == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(d)
			}
			return writeInfo(cmd.OutOrStdout(), d, querier)
		},
	}
	conn.register(cmd, 30*time.Second, "deadline of the call")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().BoolVar(&asJSON, "json", false, "the same as --format json")
	return cmd
}
