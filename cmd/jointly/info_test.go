package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/source"
	"github.com/jointly-dev/jointly/party/synth"
)

// TestInfoCommand: jointly info over real gRPC with mutual TLS lists the
// owners, the columns with their bounds, units and levels, and the querier's
// budget, as a table and as JSON.
func TestInfoCommand(t *testing.T) {
	dir := t.TempDir()
	model := synth.DefaultModel()
	if _, err := synth.Generate(context.Background(), synth.Options{Dir: dir, Customers: 200, Overlap: 0.5, Seed: 5, Format: synth.FormatCSV}); err != nil {
		t.Fatal(err)
	}
	c := partytest.Configure(t, 2, partytest.Options{})
	retailer, insurer := synth.RetailerSource(dir, synth.FormatCSV, false, model), synth.InsurerSource(dir, synth.FormatCSV, model)
	for i := range retailer.Columns {
		if col := &retailer.Columns[i]; col.Name == "spend_alcohol" {
			col.Hi, col.AutoBounds = nil, &source.AutoBounds{Within: []float64{0, 1e6}, Epsilon: 1}
		}
	}
	c.Configs[0].Source, c.Configs[1].Source = &retailer, &insurer
	c.Configs[1].Queriers[0].Epsilon, c.Configs[1].Queriers[0].Delta = 10, 1e-7 // room for one query at the default δ
	for k := range c.Configs {
		c.StartNode(t, k)
	}
	c.WaitSetup(t)
	tlsDir := filepath.Join(c.PKIDir, partytest.Querier)
	info := func(t *testing.T, extra ...string) string {
		t.Helper()
		code, out := runCLI(t, append([]string{"info", "--node", c.Nodes[1].Addr(), "--tls-dir", tlsDir}, extra...)...)
		if code != exitOK {
			t.Fatalf("exit %d\n%s", code, out)
		}
		return out
	}
	table := info(t)
	for _, want := range []string{
		"node node1 of federation testfed", "setup done", "data owners: node0, node1",
		"age_band", "categorical", strings.Join(model.AgeBands, ", "), "exposure_months", "numeric",
		"privacy budget of researcher here: ε 10 of 10 left, δ 1e-07 of 1e-07 left\n",
	} {
		if !strings.Contains(table, want) {
			t.Fatalf("the table does not say %q:\n%s", want, table)
		}
	}
	if !regexp.MustCompile(`exposure_months +numeric +0 +12 +months`).MatchString(table) {
		t.Fatalf("the table does not give exposure_months its unit:\n%s", table)
	}
	for _, args := range [][]string{{"--format", "json"}, {"--json"}} {
		var d infoDoc
		if err := json.Unmarshal([]byte(info(t, args...)), &d); err != nil {
			t.Fatal(err)
		}
		k := slices.IndexFunc(d.Columns, func(c infoColumnDoc) bool { return c.Name == "age_band" })
		if d.Node != "node1" || k < 0 || d.Columns[k].Type != "categorical" || !slices.Equal(d.Columns[k].Levels, model.AgeBands) ||
			d.Columns[k].Hi == nil || *d.Columns[k].Hi != float64(len(model.AgeBands)-1) || d.Budget == nil || d.Budget.DeltaLeft != 1e-7 || d.Budget.Status != "ok" {
			t.Fatalf("%v: %+v", args, d)
		}
		if k := slices.IndexFunc(d.Columns, func(c infoColumnDoc) bool { return c.Name == "exposure_months" }); k < 0 || d.Columns[k].Unit != "months" {
			t.Fatalf("%v: exposure_months without its unit: %+v", args, d.Columns)
		}
	}

	// node0 estimated the bounds of spend_alcohol: the table and the JSON
	// say so.
	code, out := runCLI(t, "info", "--node", c.Nodes[0].Addr(), "--tls-dir", tlsDir)
	if want := "spend_alcohol: hi estimated by the node from its data with differential privacy (ε 1, the 0.98 quantile)\n"; code != exitOK || !strings.Contains(out, want) {
		t.Fatalf("node0's info does not say %q: exit %d\n%s", want, code, out)
	}
	if !regexp.MustCompile(`spend_alcohol +numeric +0 +[0-9.]+ `).MatchString(out) {
		t.Fatalf("node0's info does not give spend_alcohol its bounds:\n%s", out)
	}
	if code, out = runCLI(t, "info", "--node", c.Nodes[0].Addr(), "--tls-dir", tlsDir, "--json"); code != exitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	var d infoDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	for _, col := range d.Columns {
		if e := col.Estimated; (col.Name == "spend_alcohol") != (e != nil) || e != nil && *e != (infoEstimateDoc{Epsilon: 1, Quantile: 0.98, Bounds: "hi"}) {
			t.Fatalf("column %s: estimated %+v", col.Name, e)
		}
	}

	// One query at the default δ spends node1's δ.
	q := writeFile(t, "query.hcl", dpQuery)
	if code, out := runCLI(t, "query", "--node", c.Nodes[0].Addr(), "--file", q, "--tls-dir", tlsDir); code != exitOK {
		t.Fatalf("query: exit %d\n%s", code, out)
	}
	if out := info(t); !strings.Contains(out, "ε 9 of 10 left, δ 0 of 1e-07 left (δ spent)") {
		t.Fatalf("after the query:\n%s", out)
	}
	if code, out := runCLI(t, "info", "--node", closedAddr(t), "--tls-dir", tlsDir); code != exitUnavailable {
		t.Fatalf("unreachable: exit %d\n%s", code, out)
	}
	if code, out := runCLI(t, "info", "--node", c.Nodes[1].Addr(), "--tls-dir", tlsDir, "--format", "xml"); code != exitUsage {
		t.Fatalf("--format xml: exit %d\n%s", code, out)
	}
}

// TestInfoSegmenting: a node's segmenting purposes and proxy threshold are
// printed for the reader and kept in the JSON.
func TestInfoSegmenting(t *testing.T) {
	d := toInfoDoc(&party.NodeInfo{Node: "insurer", Owners: []string{"insurer"}, Segmenting: []string{"underwriting"}, ProxyThreshold: 0.3})
	var b strings.Builder
	if err := writeInfo(&b, d, "researcher"); err != nil {
		t.Fatal(err)
	}
	if want := "purposes that segment people here: underwriting; a grouping column whose association with a protected column exceeds 0.3 is refused for them"; !strings.Contains(b.String(), want) {
		t.Errorf("info output lacks %q:\n%s", want, b.String())
	}
	js, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"segmenting":["underwriting"],"proxy_threshold":0.3`) {
		t.Errorf("info JSON %s", js)
	}
}
