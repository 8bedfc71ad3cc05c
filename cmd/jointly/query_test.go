package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"html"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/synth"
)

func queryCluster(t *testing.T) *partytest.Cluster {
	t.Helper()
	r, i, _ := partytest.World(t, 500, 0.5, 4)
	return partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
}

func runQuery(t *testing.T, c *partytest.Cluster, query string, extra ...string) (string, error) {
	t.Helper()
	name := "query.hcl"
	if strings.HasPrefix(query, "{") {
		name = "query.json" // HCL's JSON syntax
	}
	path := writeFile(t, name, query)
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	args := append([]string{"query", "--node", c.Nodes[0].Addr(), "--file", path,
		"--tls-dir", filepath.Join(c.PKIDir, partytest.Querier), "--name", partytest.Querier, "--expect-node", partytest.NodeName(0)}, extra...)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// goodQuery asks for every kind of statistic of node0's x against node1's
// y, in exact mode: the query file the query-file package's tests parse.
var goodQuery = queryfileTestdata("good.hcl")

// goodJSON is goodQuery in HCL's JSON syntax.
var goodJSON = queryfileTestdata("good.json")

// queryfileTestdata is the text of the file name in the query-file
// package's testdata.
func queryfileTestdata(name string) string {
	b, err := os.ReadFile(filepath.Join("..", "..", "party", "queryfile", "testdata", name))
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestQueryCommand(t *testing.T) {
	c := queryCluster(t)
	out, err := runQuery(t, c, goodQuery, "--format", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var doc struct {
		QueryID    string                                      `json:"query_id"`
		Purpose    string                                      `json:"purpose"`
		Time       time.Time                                   `json:"time"`
		Query      string                                      `json:"query"`
		Owners     []string                                    `json:"owners"`
		Exact      bool                                        `json:"exact"`
		BudgetLeft map[string]struct{ Epsilon, Delta float64 } `json:"budget_left"`
		Columns    []struct {
			Column string
			Lo, Hi float64
		}
		Cells []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !doc.Exact || len(doc.Owners) != 2 || len(doc.Cells) == 0 || len(doc.BudgetLeft) != 2 || doc.BudgetLeft["node1"].Epsilon <= 0 {
		t.Fatalf("result %+v", doc)
	}
	// The result says what it answers: the query as written, its id at the
	// owners, when, and the bounds every column was clipped to.
	if len(doc.QueryID) != 32 || doc.Purpose != "research" || doc.Query != goodQuery || time.Since(doc.Time) > time.Minute ||
		len(doc.Columns) != 5 || doc.Columns[4].Column != "node1.exposure_months" || doc.Columns[4].Hi != 12 {
		t.Fatalf("result header: id %q, purpose %q, time %v, columns %+v, query:\n%s", doc.QueryID, doc.Purpose, doc.Time, doc.Columns, doc.Query)
	}
	var pearson, coefs, chi2 int
	for _, cell := range doc.Cells {
		switch cell["statistic"] {
		case "ols_coef":
			coefs++
		case "chi2":
			chi2++
			if p, ok := cell["p"].(float64); !ok || p < 0 || p > 1 {
				t.Fatalf("chi2 cell without a p-value: %v", cell)
			}
		}
		for _, k := range []string{"statistic", "value", "n", "noise_std", "exact", "epsilon"} {
			if _, ok := cell[k]; !ok {
				t.Fatalf("cell lacks %q: %v", k, cell)
			}
		}
		// The interval is absent where docs/results.md says so, and the
		// exact release carries no noise.
		_, lo := cell["ci_low"]
		_, hi := cell["ci_high"]
		if interval := cell["statistic"] != "r2" && cell["statistic"] != "chi2"; lo != interval || hi != interval {
			t.Fatalf("cell has ci_low %v and ci_high %v: %v", lo, hi, cell)
		}
		if cell["noise_std"] != 0.0 {
			t.Fatalf("exact cell with noise: %v", cell)
		}
		if c, ok := cell["condition"].(float64); strings.HasPrefix(cell["statistic"].(string), "ols_") && !(ok && c >= 1) {
			t.Fatalf("regression cell without its condition number: %v", cell)
		}
		if cell["statistic"] == "pearson_r" {
			pearson++
		}
	}
	// Every x × y pair of the correlation block's columns; the rate's
	// exposure_months gets none.
	if pearson != 4 || coefs != 2 || chi2 != 1 {
		t.Fatalf("%d correlations (want 2 × 2), %d coefficients (want 2), %d chi2 (want 1)", pearson, coefs, chi2)
	}
	// The same query in HCL's JSON syntax gives the same cells.
	jout, err := runQuery(t, c, goodJSON, "--format", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, jout)
	}
	var jdoc struct{ Cells []map[string]any }
	if err := json.Unmarshal([]byte(jout), &jdoc); err != nil || len(jdoc.Cells) != len(doc.Cells) {
		t.Fatalf("JSON query: %d cells, want %d (%v)", len(jdoc.Cells), len(doc.Cells), err)
	}
	for k := range doc.Cells {
		a, _ := jdoc.Cells[k]["value"].(float64)
		b, _ := doc.Cells[k]["value"].(float64)
		if jdoc.Cells[k]["statistic"] != doc.Cells[k]["statistic"] || math.Abs(a-b) > 1e-6*math.Max(1, math.Abs(b)) {
			t.Fatalf("cell %d: %v %v from the JSON query, %v %v from HCL", k, jdoc.Cells[k]["statistic"], a, doc.Cells[k]["statistic"], b)
		}
	}
	// Table and CSV render the question, the budget left and the bounds
	// too; --out writes the file.
	out, err = runQuery(t, c, goodQuery)
	for _, want := range []string{"pearson_r", "exact (validation mode", "your privacy budget left: node0 ε", "question (query.hcl):\n  purpose = \"research\"",
		"node1.exposure_months  [0, 12]", "NOISE SD  PLANNED ±"} {
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("table lacks %q: %v\n%s", want, err, out)
		}
	}
	if !strings.HasPrefix(out, "query ") {
		t.Fatalf("table does not start with the query id:\n%s", out)
	}
	// The HTML report: a heatmap of the correlations, every cell below.
	out, err = runQuery(t, c, goodQuery, "--format", "html")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<!DOCTYPE html>", `<table class="heat">`, "spend_diet_aids", "background:rgb(", "Privacy budget left", "chi2", "<svg", "@page{size:A4 landscape"} {
		if !strings.Contains(out, want) {
			t.Fatalf("HTML report lacks %q:\n%s", want, out)
		}
	}
	if _, err := runQuery(t, c, goodQuery, "--format", "pdf"); err == nil || !strings.Contains(err.Error(), "--format must be") {
		t.Fatalf("--format pdf: %v", err)
	}
	dest := filepath.Join(t.TempDir(), "r.csv")
	if _, err := runQuery(t, c, goodQuery, "--format", "csv", "--out", dest); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	// Comment lines first, then the table, as csv readers with comments
	// (#) read it.
	r := csv.NewReader(bytes.NewReader(b))
	r.Comment = '#'
	rows, err := r.ReadAll()
	if err != nil || len(rows) != len(doc.Cells)+1 || strings.Join(rows[0], ",") != "statistic,x,y,group,value,ci_low,ci_high,p,n,noise_std,exact,epsilon,suppressed,per,predicted_noise_std,predicted_noise_halfwidth,predicted_halfwidth,p_suppressed,epsilon_for_target,reason,condition,warning" {
		t.Fatalf("csv file: %v\n%s", err, b)
	}
	for _, want := range []string{"# query_id: ", "# privacy budget left: node0 ε", "# column node1.exposure_months: values clipped to [0, 12]", "#   exact   = true\n#\n#   correlation {"} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("csv file lacks %q:\n%s", want, b)
		}
	}
}

// levelQuery asks for the diabetes claim rate by the insurer's age band,
// a categorical column, without cut points, and one correlation.
const levelQuery = `purpose = "research"
exact   = true

correlation {
  x = ["node0.spend_diet_aids"]
  y = ["node1.claims_diabetes"]
}

rate {
  events   = "node1.claims_diabetes"
  exposure = "node1.exposure_months"
  by       = "node1.age_band"
}
`

// TestQueryLevelsAndUnits: a rate by a categorical column comes out in
// every format by level name, per year of exposure (declared in months),
// with the same values and the same unit in JSON, CSV, the table and the
// HTML report; the age band and exposure get no mean, variance or r.
func TestQueryLevelsAndUnits(t *testing.T) {
	c := queryCluster(t)
	bands := synth.DefaultModel().AgeBands
	out, err := runQuery(t, c, levelQuery, "--format", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var doc resultDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	rates := map[string]float64{}
	released := map[string]*aggregate.Cell{} // each band's rate, for the reports' digits
	for _, cell := range doc.Cells {
		switch cell.Statistic {
		case "mean", "variance", "pearson_r":
			if col := cell.X + cell.Y; strings.Contains(col, "age_band") || strings.Contains(col, "exposure") {
				t.Errorf("%s of %s released; no correlation asks for it", cell.Statistic, col)
			}
		case "rate":
			if !slices.Contains(bands, cell.Group) || cell.Per != "year" || cell.Value == nil {
				t.Fatalf("rate cell %+v: want a level's name, per year", cell)
			}
			rates[cell.Group] = *cell.Value
			released[cell.Group] = &aggregate.Cell{Statistic: cell.Statistic, Per: cell.Per, Value: *cell.Value, CILow: *cell.CILow, CIHigh: *cell.CIHigh}
		}
	}
	if len(rates) != len(bands) {
		t.Fatalf("rates of %v, want one per age band %v", rates, bands)
	}
	csvOut, err := runQuery(t, c, levelQuery, "--format", "csv")
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(strings.NewReader(csvOut))
	r.Comment = '#' // the lines that say what the table answers
	rows, err := r.ReadAll()
	if err != nil || rows[0][4] != "value" || rows[0][13] != "per" {
		t.Fatalf("csv header %v: %v", rows[0], err)
	}
	n := 0
	for _, row := range rows[1:] {
		if row[0] == "rate" {
			v, err := strconv.ParseFloat(row[4], 64)
			if err != nil || row[13] != "year" || math.Abs(v-rates[row[3]]) > 1e-5*rates[row[3]] {
				t.Fatalf("csv rate of %s = %s per %q, JSON says %v per year", row[3], row[4], row[13], rates[row[3]])
			}
			n++
		}
	}
	table, err := runQuery(t, c, levelQuery)
	if err != nil {
		t.Fatal(err)
	}
	page, err := runQuery(t, c, levelQuery, "--format", "html")
	if err != nil {
		t.Fatal(err)
	}
	page = html.UnescapeString(page)
	// The table and the report write the value in the digits its interval
	// supports (numfmt.go).
	for _, b := range bands {
		v, _ := cellText(released[b], false)
		if !regexp.MustCompile(`rate per year +node1\.age_band +\S+ +` + regexp.QuoteMeta(b) + ` +` + regexp.QuoteMeta(v) + ` `).MatchString(table) {
			t.Errorf("table lacks the rate of %s per year, %s:\n%s", b, v, table)
		}
		v, _ = cellText(released[b], true)
		if !strings.Contains(page, `<td class="nowrap">rate per year</td>`) || !strings.Contains(page, `<td class="nowrap">`+b+`</td>`) || !strings.Contains(page, `<td class="num">`+v+`</td>`) ||
			!strings.Contains(page, "claims_diabetes per year of exposure, by node1.age_band") {
			t.Errorf("HTML report lacks the rate of %s per year, %s", b, v)
		}
	}
	if n != len(bands) {
		t.Fatalf("%d rates in the CSV, want %d", n, len(bands))
	}
	// Cut points on a categorical column are refused, naming it.
	bad := strings.Replace(levelQuery, `by       = "node1.age_band"`, "by       = \"node1.age_band\"\n  buckets  = [0.5, 1.5]", 1)
	if _, err := runQuery(t, c, bad); err == nil || !strings.Contains(err.Error(), "node1.age_band") || !strings.Contains(err.Error(), "categorical") {
		t.Fatalf("cut points on a categorical column: %v", err)
	}

	// The correlation within each age band: r per band in JSON, one
	// matrix per band in the HTML report.
	grouped := strings.Replace(levelQuery, "  y = [\"node1.claims_diabetes\"]\n", "  y = [\"node1.claims_diabetes\"]\n  by = \"node1.age_band\"\n", 1)
	if out, err = runQuery(t, c, grouped, "--format", "json"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	doc = resultDoc{}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	var within []string
	for _, cell := range doc.Cells {
		if cell.Statistic == "pearson_r" {
			if cell.Value == nil || cell.X != "node0.spend_diet_aids" || cell.Y != "node1.claims_diabetes" {
				t.Errorf("grouped r %+v", cell)
			}
			within = append(within, cell.Group)
		}
	}
	if !slices.Equal(within, bands) {
		t.Fatalf("r within %v, want one per age band %v", within, bands)
	}
	if page, err = runQuery(t, c, grouped, "--format", "html"); err != nil {
		t.Fatal(err)
	}
	if page = html.UnescapeString(page); !strings.Contains(page, "<h3>node1.age_band: "+bands[0]+" (") {
		t.Errorf("HTML report lacks the matrix of band %s", bands[0])
	}
}

// TestQueryCommandErrors: the command reports a query file's mistakes as
// party/queryfile words them (its tests cover each rule), those it can
// see in the file alone before it connects, the others with the node's
// owners and columns from its Info, and the node's own refusals.
func TestQueryCommandErrors(t *testing.T) {
	c := queryCluster(t)
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"malformed", "purpose = \n", []string{"query.hcl:1"}},
		{"unknown node", strings.ReplaceAll(goodQuery, "node1.", "node7."), []string{"unknown node", "node7", "node0, node1"}},
		{"third owner", strings.Replace(goodQuery, "node1.claims_liver", "node7.claims_liver", 1), []string{"columns of node1 and node7", "one other owner"}},
		{"unknown own column", strings.Replace(goodQuery, "node0.spend_alcohol", "node0.spend_caviar", 1), []string{"spend_caviar", "spend_diet_aids"}},
		{"unknown peer column", strings.Replace(goodQuery, "node1.claims_liver", "node1.claims_gout", 1), []string{"claims_gout", "claims_diabetes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runQuery(t, c, tc.query)
			if err == nil {
				t.Fatalf("accepted:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestQueryCommandPool runs a pooled query over a retailer and two
// insurers with disjoint policyholders: the result is over the union of
// both insurers' common customers with the retailer.
func TestQueryCommandPool(t *testing.T) {
	r, whole, _ := partytest.World(t, 500, 0.5, 4)
	ia, ib := partytest.Split(whole, func(k int) bool { return k%2 == 0 })
	c := partytest.Start(t, 3, partytest.Options{Datasets: []party.Dataset{r, ia, ib}})
	query := `purpose = "research"
exact   = true

pool "insurers" {
  owners = ["node1", "node2"]
}

correlation {
  x = ["node0.spend_diet_aids"]
  y = ["insurers.claims_diabetes"]
}
`
	out, err := runQuery(t, c, query, "--format", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var doc struct {
		Owners []string `json:"owners"`
		Cells  []struct {
			Statistic string  `json:"statistic"`
			Y         string  `json:"y"`
			N         float64 `json:"n"`
		} `json:"cells"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	common := 0
	keys := map[string]bool{}
	for _, k := range whole.Keys {
		keys[string(k)] = true
	}
	for _, k := range r.Keys {
		if keys[string(k)] {
			common++
		}
	}
	found := false
	for _, cell := range doc.Cells {
		if cell.Statistic == "pearson_r" {
			found = true
			if cell.Y != "insurers.claims_diabetes" || cell.N != float64(common) {
				t.Fatalf("pooled r over %v records of %s, want %d of insurers.claims_diabetes", cell.N, cell.Y, common)
			}
		}
	}
	if !found || strings.Join(doc.Owners, ",") != "node0,node1,node2" {
		t.Fatalf("owners %v, pearson found %v\n%s", doc.Owners, found, out)
	}
}

// TestQueryProgress: --progress json writes one object per report on
// standard error, phase by phase and each ending at its total, and leaves
// standard output to the result; --progress line ends each phase's line.
func TestQueryProgress(t *testing.T) {
	c := queryCluster(t)
	path := filepath.Join(t.TempDir(), "query.hcl")
	if err := os.WriteFile(path, []byte(goodQuery), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(mode string) (string, string) {
		var stdout, stderr bytes.Buffer
		cmd := newRootCmd()
		cmd.SetOut(&stdout)
		cmd.SetErr(&stderr)
		cmd.SetArgs([]string{"query", "--node", c.Nodes[0].Addr(), "--file", path, "--format", "json", "--progress", mode,
			"--tls-dir", filepath.Join(c.PKIDir, partytest.Querier), "--expect-node", partytest.NodeName(0)})
		if err := cmd.Execute(); err != nil {
			t.Fatalf("--progress %s: %v\n%s", mode, err, stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	stdout, stderr := run("json")
	if !json.Valid([]byte(stdout)) {
		t.Fatalf("standard output is not the JSON result:\n%s", stdout)
	}
	type report struct {
		Phase       string
		Done, Total int64
		Unit        string
	}
	last := map[string]report{}
	var phases []string
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var r report
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("progress line %q: %v", line, err)
		}
		if prev, ok := last[r.Phase]; ok && r.Done < prev.Done {
			t.Fatalf("%s went back from %d to %d", r.Phase, prev.Done, r.Done)
		}
		if _, ok := last[r.Phase]; !ok {
			phases = append(phases, r.Phase)
		}
		last[r.Phase] = r
	}
	if strings.Join(phases, ",") != "matching,upload,release" {
		t.Fatalf("phases %v", phases)
	}
	for ph, r := range last {
		if r.Done != r.Total || r.Total == 0 || r.Unit == "" {
			t.Errorf("phase %s ends at %+v", ph, r)
		}
	}
	// The second query reuses the matching: upload and release only.
	_, stderr = run("line")
	if !strings.Contains(stderr, "upload") || !strings.Contains(stderr, "100%") || !strings.HasSuffix(stderr, "\n") {
		t.Fatalf("progress lines %q", stderr)
	}
}
