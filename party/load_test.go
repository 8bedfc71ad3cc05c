package party_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"google.golang.org/protobuf/proto"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
	"github.com/jointly-dev/jointly/party/synth"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// nodeConfig renders a node configuration whose source block points at a
// generated world's retailer file in the given format.
func nodeConfig(t *testing.T, dir, format, policy string) party.Config {
	t.Helper()
	var src string
	switch format {
	case "sqlite":
		src = fmt.Sprintf("source \"sqlite\" {\n  path = %q\n  table = \"customers\"\n", filepath.Join(dir, "retailer.sqlite"))
	default:
		src = fmt.Sprintf("source %q {\n  path = %q\n", format, filepath.Join(dir, "retailer."+format))
	}
	for _, c := range []string{"spend_diet_aids", "spend_alcohol", "spend_pharmacy"} {
		src += fmt.Sprintf("  column %q {\n    type = \"numeric\"\n    lo = 0\n    hi = 5000\n  }\n", c)
	}
	src += "}\n"
	text := partytest.RetailerHCL(filepath.Join(t.TempDir(), "data")) + src + "\n" + policy
	path := filepath.Join(t.TempDir(), "node.hcl")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := party.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestLoadTableFromEverySource(t *testing.T) {
	ctx := context.Background()
	var tables []*party.Table
	for _, format := range []string{"csv", "sqlite", "parquet"} {
		dir := t.TempDir()
		if _, err := synth.Generate(ctx, synth.Options{Dir: dir, Customers: 400, Overlap: 0.5, Seed: 11, Format: format}); err != nil {
			t.Fatal(err)
		}
		cfg := nodeConfig(t, dir, format, `policy {
  exclude = ["spend_pharmacy"]
}`)
		tab, err := party.LoadTable(ctx, &cfg, hclog.NewNullLogger())
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		tables = append(tables, tab)
	}
	for i := 1; i < len(tables); i++ {
		if !reflect.DeepEqual(tables[0].Keys, tables[i].Keys) || !reflect.DeepEqual(tables[0].Values, tables[i].Values) {
			t.Fatalf("source %d yields another table than the CSV source", i)
		}
	}
	tab := tables[0]
	// Excluded columns are never read; consenting records only.
	if _, ok := tab.Values["spend_pharmacy"]; ok {
		t.Fatal("an excluded column was read")
	}
	if len(tab.Values["spend_alcohol"]) != len(tab.Keys) || len(tab.Keys) == 0 || len(tab.Keys) >= 400 {
		t.Fatalf("%d records of 400, %d values", len(tab.Keys), len(tab.Values["spend_alcohol"]))
	}
	for _, k := range tab.Keys {
		if s := string(k); s != strings.ToLower(strings.TrimSpace(s)) || !strings.Contains(s, "@") {
			t.Fatal("join keys are not normalized e-mail addresses")
		}
	}
	if lo, hi, ok := tab.ColumnBounds("spend_alcohol"); !ok || lo != 0 || hi != 5000 {
		t.Fatalf("bounds %v %v %v", lo, hi, ok)
	}
}

func TestSourceConfigErrors(t *testing.T) {
	cfgText := `name = "r"
federation = "f"
listen = "127.0.0.1:1"
data_dir = "d"
insecure_loopback = true
peer "i" {
  address = "127.0.0.1:2"
}
source "csv" {
  path = "x.csv"
  consent_column = "agreed"
  column "a" {
    type = "numeric"
    lo = 5
    hi = 1
  }
}
`
	_, err := party.ParseConfig("node.hcl", []byte(cfgText))
	if err == nil || !strings.Contains(err.Error(), "node.hcl:9") || !strings.Contains(err.Error(), "consent_column") {
		t.Fatalf("consent column mismatch: %v", err)
	}
	_, err = party.ParseConfig("node.hcl", []byte(strings.Replace(cfgText, `consent_column = "agreed"`, "", 1)))
	if err == nil || !strings.Contains(err.Error(), "node.hcl:12: source: invalid config: source.csv.column.a: lo must be below hi: lo = 5, hi = 1") {
		t.Fatalf("bad bounds: %v, want it at the column's line", err)
	}
	_, err = party.ParseConfig("node.hcl", []byte(strings.Replace(cfgText, `consent_column = "agreed"`, `identifiers = ["id", "card"]`, 1)))
	if err == nil || !strings.Contains(err.Error(), "node.hcl:9") || !strings.Contains(err.Error(), `identifiers: "card" is not email, phone or id`) {
		t.Fatalf("unknown identifier kind: %v", err)
	}
	cfg, err := party.ParseConfig("node.hcl", []byte(strings.Replace(strings.Replace(cfgText, `consent_column = "agreed"`, "", 1), "lo = 5", "lo = 0", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := party.LoadTable(context.Background(), &cfg, hclog.NewNullLogger()); err == nil || !strings.Contains(err.Error(), "x.csv") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestNonConsentingNeverMatched: a node loaded from a generated world sends
// exactly as many blinded identifiers as it has consenting records.
func TestNonConsentingNeverMatched(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := synth.Generate(ctx, synth.Options{Dir: dir, Customers: 300, Overlap: 0.5, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	m := synth.DefaultModel()
	r, i := partytest.LoadTable(t, synth.RetailerSource(dir, "csv", false, m)), partytest.LoadTable(t, synth.InsurerSource(dir, "csv", m))
	consenting := func(file string) int {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		header := strings.Split(lines[0], ",")
		col := -1
		for j, h := range header {
			if h == "consent" {
				col = j
			}
		}
		n := 0
		for _, l := range lines[1:] {
			if strings.TrimSpace(strings.Split(l, ",")[col]) == "true" {
				n++
			}
		}
		return n
	}
	if len(r.Keys) != consenting("retailer.csv") || len(i.Keys) != consenting("insurer.csv") {
		t.Fatalf("tables hold %d and %d records; the files have %d and %d consenting", len(r.Keys), len(i.Keys), consenting("retailer.csv"), consenting("insurer.csv"))
	}
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	before := len(c.Transcripts[0].Messages())
	info, _, err := c.Nodes[0].Match(ctx, partytest.NodeName(1))
	if err != nil {
		t.Fatal(err)
	}
	if info.Records != len(r.Keys) {
		t.Fatalf("matched %d records, %d consenting", info.Records, len(r.Keys))
	}
	// Points sent by node0 in its first list: exactly its consenting records.
	var blinded int
	for _, m := range c.Transcripts[0].Messages()[before:] {
		var f pb.MatchFrame
		if proto.Unmarshal(m, &f) == nil && f.GetPoints() != nil && f.GetPoints().Message == 1 {
			blinded += len(f.GetPoints().Points) / 32
		}
	}
	if blinded != len(r.Keys) {
		t.Fatalf("sent %d blinded identifiers for %d consenting records", blinded, len(r.Keys))
	}
}

// TestExcludedColumnNeverSent: a column the policy excludes is not read, so
// none of its values appears in any message, in any encoding, while the
// node answers queries over its other columns.
func TestExcludedColumnNeverSent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := synth.Generate(ctx, synth.Options{Dir: dir, Customers: 300, Overlap: 0.5, Seed: 8}); err != nil {
		t.Fatal(err)
	}
	m := synth.DefaultModel()
	r := partytest.LoadTable(t, synth.RetailerSource(dir, "csv", false, m), "spend_pharmacy")
	i := partytest.LoadTable(t, synth.InsurerSource(dir, "csv", m))
	if _, ok := r.Values["spend_pharmacy"]; ok {
		t.Fatal("the excluded column was read")
	}
	// The excluded column's raw values, from the file.
	b, err := os.ReadFile(filepath.Join(dir, "retailer.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	col := -1
	for j, h := range strings.Split(lines[0], ",") {
		if h == "spend_pharmacy" {
			col = j
		}
	}
	patterns := map[string]bool{}
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if col >= len(f) {
			continue // quoted phone numbers shift no numeric column before it
		}
		v, err := strconv.ParseFloat(f[len(f)-len(strings.Split(lines[0], ","))+col], 64)
		if err != nil || v < 1 {
			continue
		}
		var buf [8]byte
		binary.LittleEndian.PutUint64(buf[:], math.Float64bits(v))
		patterns[string(buf[:])] = true
		for fb := 0; fb <= 24; fb++ {
			if e := int64(math.Round(v * math.Exp2(float64(fb)))); e >= 1<<20 {
				binary.LittleEndian.PutUint64(buf[:], uint64(e))
				patterns[string(buf[:])] = true
			}
		}
	}
	if len(patterns) < 50 {
		t.Fatalf("only %d pharmacy values found", len(patterns))
	}
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	req := party.JointRequest{
		X:            []aggregate.ColumnRef{{Owner: partytest.NodeName(0), Name: "spend_diet_aids"}, {Owner: partytest.NodeName(0), Name: "spend_alcohol"}},
		Y:            []aggregate.ColumnRef{{Owner: partytest.NodeName(1), Name: "claims_diabetes"}},
		Correlations: true, Purpose: "research", Exact: true,
	}
	if _, err := c.Dial(t, 0).Joint(ctx, req); err != nil {
		t.Fatal(err)
	}
	for k, rec := range c.Transcripts {
		for _, msg := range rec.Messages() {
			for off := 0; off+8 <= len(msg); off++ {
				if patterns[string(msg[off:off+8])] {
					t.Fatalf("%s sent a value of the excluded column", c.Configs[k].Name)
				}
			}
		}
	}
}
