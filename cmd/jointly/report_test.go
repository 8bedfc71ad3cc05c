package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/ledger"
)

// wideResult is a result with more y columns than a heatmap panel holds,
// suppressed cells of two kinds, and a rate whose second group is
// suppressed.
func wideResult() *queryResult {
	r := &party.JointResult{QueryID: "0123456789abcdef0123456789abcdef", Purpose: "research", Owners: []string{"retailer", "insurer"},
		BudgetLeft: map[string]ledger.Budget{"retailer": {Epsilon: 2, Delta: 9.9e-6}, "insurer": {Epsilon: 2, Delta: 9.9e-6}},
		UnionSize:  70000, MinGroupSize: 10, Epsilon: 8, Delta: 1e-7}
	for k := range 3 {
		r.Columns = append(r.Columns, aggregate.ColumnInfo{Ref: aggregate.ColumnRef{Owner: "retailer", Name: fmt.Sprintf("spend_category_%d", k)}, Hi: 500})
	}
	for j := range 11 {
		r.Columns = append(r.Columns, aggregate.ColumnInfo{Ref: aggregate.ColumnRef{Owner: "insurer", Name: fmt.Sprintf("claims_type_%d", j)}, Hi: 4})
	}
	for k := range 3 {
		for j := range 11 {
			c := aggregate.Cell{Statistic: aggregate.CellPearson, X: r.Columns[k].Ref.String(), Y: r.Columns[3+j].Ref.String(), N: 21000,
				Value: 0.01 * float64(k*11+j-16), NoiseStd: 0.02, Epsilon: 8}
			c.CILow, c.CIHigh = c.Value-0.04, c.Value+0.04
			switch {
			case j == 10:
				c = aggregate.Cell{Statistic: c.Statistic, X: c.X, Y: c.Y, N: 21000, Suppressed: true, Reason: "pearson: y: stats: zero or negative variance"}
			case k == 2 && j == 9:
				c = aggregate.Cell{Statistic: c.Statistic, X: c.X, Y: c.Y, N: 4, Suppressed: true, Reason: "noisy count below min_group_size"}
			}
			r.Cells = append(r.Cells, c)
		}
	}
	y := "insurer.claims_type_0/insurer.exposure_months"
	r.Cells = append(r.Cells,
		aggregate.Cell{Statistic: aggregate.CellRate, X: "retailer.spend_category_0", Y: y, Group: "[0,50)", N: 15000, Value: 0.0197, CILow: 0.0188, CIHigh: 0.0206},
		aggregate.Cell{Statistic: aggregate.CellRelativeRisk, X: "retailer.spend_category_0", Y: y, Group: "[0,50)", N: 15000, Value: 1, CILow: 1, CIHigh: 1},
		aggregate.Cell{Statistic: aggregate.CellRate, X: "retailer.spend_category_0", Y: y, Group: "[50,200)", N: 6, Suppressed: true, Reason: "noisy count below min_group_size"},
		aggregate.Cell{Statistic: aggregate.CellRelativeRisk, X: "retailer.spend_category_0", Y: y, Group: "[50,200)", N: 6, Suppressed: true, Reason: "noisy count below min_group_size"},
		aggregate.Cell{Statistic: aggregate.CellRate, X: "retailer.spend_category_0", Y: y, Group: "[200,500]", N: 5000, Value: 0.0538, CILow: 0.0512, CIHigh: 0.0565},
		aggregate.Cell{Statistic: aggregate.CellRelativeRisk, X: "retailer.spend_category_0", Y: y, Group: "[200,500]", N: 5000, Value: 2.74, CILow: 2.56, CIHigh: 2.93},
	)
	return &queryResult{JointResult: r, Query: "purpose = \"research\"\n", File: "q.hcl", Received: time.Date(2026, 11, 28, 10, 2, 0, 0, time.UTC)}
}

// TestResultReportLayout: a matrix wider than a panel is cut into panels,
// every label is abbreviated with its full name in the legend, each
// suppression reason is a footnote, the forest plot draws the groups that
// have a value, and the table leaves out the columns no cell uses.
func TestResultReportLayout(t *testing.T) {
	q := wideResult()
	p := newReportPage(q)
	if len(p.Heat) != 2 || len(p.Heat[0].Cols) != heatColumns || len(p.Heat[1].Cols) != 3 || p.Heat[1].Caption != "columns 9–11 of 11" {
		t.Fatalf("panels: %d, columns %d and %d", len(p.Heat), len(p.Heat[0].Cols), len(p.Heat[len(p.Heat)-1].Cols))
	}
	if l := p.ColLegend[0]; l.Short != "type_0" || l.Full != "insurer.claims_type_0" {
		t.Errorf("column label %+v, want type_0 for insurer.claims_type_0", l)
	}
	if len(p.HeatFootnotes) != 2 || p.HeatFootnotes[0].Text != "pearson: y: zero or negative variance" {
		t.Errorf("footnotes %+v", p.HeatFootnotes)
	}
	if len(p.Forests) != 1 || len(p.Forests[0].Rows) != 3 || p.Forests[0].Rows[1].Suppressed == "" || p.Forests[0].Rows[2].Plot == "" || !p.Forests[0].Rows[2].Sig {
		t.Errorf("forest %+v", p.Forests)
	}
	if !p.HasGroup || !p.HasCI || p.HasP {
		t.Errorf("table columns: group %v, interval %v, p %v; want the p column left out", p.HasGroup, p.HasCI, p.HasP)
	}
	var out bytes.Buffer
	if err := writeHTMLReport(&out, q); err != nil {
		t.Fatal(err)
	}
	html := out.String()
	for _, want := range []string{"0123456789abcdef0123456789abcdef", "2026-11-28 10:02:00 UTC", "ε 2, δ 9.9e-06", "spend_category_0", "[0, 500]",
		"<h3>columns 9–11 of 11</h3>", "suppressed<sup>b</sup>", "claims_type_0 per unit of exposure_months, by retailer.spend_category_0",
		"1.00 (reference)", "[2.56, 2.93]", "suppressed: noisy count below min_group_size", "0.01970", "[0.01880, 0.02060]"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, unwanted := range []string{"<script", "http://", "https://", "<th class=\"num\">p</th>", "stats: "} {
		if strings.Contains(html, unwanted) {
			t.Errorf("report has %q", unwanted)
		}
	}
}

// TestResultReportGroupedCorrelations: correlations grouped by a column
// get one matrix per group, captioned with the column, the group and its
// people, each with that group's r.
func TestResultReportGroupedCorrelations(t *testing.T) {
	r := &party.JointResult{QueryID: "0123456789abcdef0123456789abcdef", Purpose: "research", Owners: []string{"retailer", "insurer"},
		UnionSize: 70000, MinGroupSize: 10, Epsilon: 4, Delta: 1e-7}
	by := "insurer.age_band"
	for k, band := range []string{"18-29", "65+"} {
		r.Cells = append(r.Cells,
			aggregate.Cell{Statistic: aggregate.CellCount, X: by, Group: band, N: float64(1000 * (k + 1)), Value: float64(1000 * (k + 1))},
			aggregate.Cell{Statistic: aggregate.CellPearson, X: "retailer.spend_diet_aids", Y: "insurer.claims_diabetes", Group: band,
				N: float64(1000 * (k + 1)), Value: 0.1 + 0.2*float64(k), CILow: 0.05 + 0.2*float64(k), CIHigh: 0.15 + 0.2*float64(k)})
	}
	q := &queryResult{JointResult: r, Query: "purpose = \"research\"\n", File: "q.hcl"}
	p := newReportPage(q)
	if len(p.Heat) != 2 || p.Heat[0].Caption != by+": 18-29 (1000 people)" || p.Heat[1].Caption != by+": 65+ (2000 people)" {
		t.Fatalf("panels %+v, want one per age band", p.Heat)
	}
	if v := p.Heat[1].Rows[0].Cells[0].Value; v != "0.300" {
		t.Errorf("r in 65+ shown as %q, want 0.300", v)
	}
}

func TestAxisLabels(t *testing.T) {
	got := axisLabels([]string{"insurer.claims_diabetes", "insurer.claims_cardiovascular_and_stroke", "insurer.exposure_months", "other.claims_diabetes"})
	want := []string{"diabetes (1)", "cardiovascula…", "exposure_mont…", "diabetes (4)"}
	for i := range want {
		if got[i].Short != want[i] {
			t.Errorf("label %d: %q, want %q", i, got[i].Short, want[i])
		}
	}
}

// TestResultReportWarningsAndSteps: a regression's warning (with its
// condition number) and the columns' resolutions reach the HTML report, as
// they reach the table and the JSON.
func TestResultReportWarningsAndSteps(t *testing.T) {
	q := wideResult()
	q.Resolution = map[string]float64{"retailer.spend_category_0": 0.01}
	q.Cells = append(q.Cells, aggregate.Cell{Statistic: aggregate.CellOLSCoef, X: "retailer.spend_category_1", Y: "insurer.claims_type_0",
		Group: "insurer.claims_type_0 ~ spend_category_1 + spend_category_2", N: 21000, Value: 0.5, CILow: 0.1, CIHigh: 0.9,
		Condition: 3.2e7, Warning: "the predictors are nearly collinear"})
	var out bytes.Buffer
	if err := writeHTMLReport(&out, q); err != nil {
		t.Fatal(err)
	}
	html := out.String()
	for _, want := range []string{"<h2>Warnings</h2>", "condition number 3.2e", "the predictors are nearly collinear", "<th class=\"num\">Resolution</th>", "<td class=\"num\">0.01</td>"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
