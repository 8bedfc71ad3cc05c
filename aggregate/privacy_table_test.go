package aggregate

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/crypto"
)

// updateDocs rewrites the planner's table in docs/privacy.md.
var updateDocs = flag.Bool("update", false, "rewrite the planner's table in docs/privacy.md")

// The table of docs/privacy.md, "How much ε a precision needs", between
// these markers, is the planner's.
const (
	tableStart = "<!-- privacy-table: go test ./aggregate -run TestPrivacyTable -update -->\n"
	tableEnd   = "<!-- /privacy-table -->\n"
	privacyDoc = "../docs/privacy.md"
)

// privacyTable plans the reference queries of docs/privacy.md at each size
// and returns the table of the ε each target needs.
func privacyTable(t *testing.T) string {
	params := crypto.MustParameters(crypto.PresetCoef13)
	spend, claims := ColumnRef{"retailer", "spend"}, ColumnRef{"insurer", "claims"}
	exposure, tier := ColumnRef{"insurer", "exposure_months"}, ColumnRef{"retailer", "tier"}
	corr := Request{X: []ColumnInfo{{Ref: spend, Lo: 0, Hi: 500}}, Y: []ColumnInfo{{Ref: claims, Lo: 0, Hi: 4}},
		Correlations: true, Epsilon: 1, Delta: 1e-7}
	rate := Request{X: []ColumnInfo{{Ref: tier, Lo: 0, Hi: 2, Levels: []string{"low", "mid", "high"}}},
		Y:     []ColumnInfo{{Ref: claims, Lo: 0, Hi: 4}, {Ref: exposure, Lo: 0, Hi: 12, Unit: "months"}},
		Rates: []RateRequest{{Events: claims, Exposure: exposure, By: tier}}, Epsilon: 1, Delta: 1e-7}
	skewed := map[ColumnRef]ColumnModel{spend: {Mean: 100, SD: 90}, claims: {Mean: 0.2, SD: 0.5}}
	rateCols := map[ColumnRef]ColumnModel{claims: {Mean: 0.2, SD: 0.5}, exposure: {Mean: 11, SD: 2.5}}
	onR := Targets{CellPearson: {HalfWidth: 0.05}}
	onRate := Targets{CellRate: {HalfWidth: 0.1, Relative: true}}

	// plan returns the ε the query's targets need, and the half-width of
	// the first targeted cell's interval without noise (at ε = 1000, its
	// noise is negligible), relative to its value for a rate.
	plan := func(req Request, a Assumptions, tg Targets) (eps, sampling float64) {
		p, err := PlanAccuracy(params, req, a, tg)
		if err != nil {
			t.Fatal(err)
		}
		req.Epsilon = 1000
		q, err := PlanAccuracy(params, req, a, tg)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range q.Cells {
			if tgt, ok := tg[c.Statistic]; ok {
				sampling = math.Sqrt(math.Max(c.HalfWidth*c.HalfWidth-c.NoiseHalfWidth*c.NoiseHalfWidth, 0))
				if tgt.Relative {
					sampling /= c.Value
				}
				if p.Cells[i].Reason != "" {
					t.Fatalf("%s undefined: %s", c.Statistic, p.Cells[i].Reason)
				}
				break
			}
		}
		return p.EpsilonForTargets, sampling
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', 2, 64) }
	var b strings.Builder
	b.WriteString("| people behind the query | ε for ±0.05 on r, columns spread evenly | ε for ±0.05 on r, skewed columns | ε for ±10 % on a rate | the sampling error alone, r / rate |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, n := range []float64{1e4, 1e5, 1e6} {
		even, sr := plan(corr, Assumptions{N: n}, onR)
		skew, _ := plan(corr, Assumptions{N: n, Columns: skewed}, onR)
		rt, srate := plan(rate, Assumptions{N: n, Columns: rateCols}, onRate)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | ±%s / ±%s %% |\n", strconv.FormatFloat(n, 'f', -1, 64), num(even), num(skew), num(rt),
			num(sr), num(100*srate))
	}
	return b.String()
}

// TestPrivacyTable checks that the table of docs/privacy.md is what the
// planner gives today; with -update it writes it there.
func TestPrivacyTable(t *testing.T) {
	table := privacyTable(t)
	doc, err := os.ReadFile(privacyDoc)
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(doc, []byte(tableStart)), bytes.Index(doc, []byte(tableEnd))
	if i < 0 || j < i {
		t.Fatalf("%s has no planner table between %q and %q", privacyDoc, tableStart, tableEnd)
	}
	have := string(doc[i+len(tableStart) : j])
	if have == table {
		return
	}
	if !*updateDocs {
		t.Fatalf("the planner's table in %s is out of date; run go test ./aggregate -run TestPrivacyTable -update\nhave:\n%swant:\n%s", privacyDoc, have, table)
	}
	out := append(append(append([]byte(nil), doc[:i+len(tableStart)]...), table...), doc[j:]...)
	if err := os.WriteFile(privacyDoc, out, 0o644); err != nil {
		t.Fatal(err)
	}
}
