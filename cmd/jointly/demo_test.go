package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/crypto"
)

func TestDemo(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo")
	var buf bytes.Buffer
	o := demoOptions{customers: 400, seed: 3, out: out, preset: crypto.PresetTest, epsilon: 8, format: "table"}
	if err := runDemo(context.Background(), &buf, hclog.NewNullLogger(), o); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	text := buf.String()
	for _, want := range []string{"in common (truth:", "the e-mail alone finds", `the insurer computed the pairing (match_graph = "self")`, "the accuracy planner, before the query", "every r to ±0.05", "got  ", "Planted effects, differentially private", "diet_aids", "relative risk", "adjusted for the insurer's age band", "diet-aid spend, per $100", "age band 65+", "underwriting refused: yes", "audit log verified",
		"Claims per year by spend group", "Diabetes claims per year by age band", "\n   18-29 ", "\n   65+ "} {
		if !strings.Contains(text, want) {
			t.Fatalf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "✗") {
		t.Fatalf("a check failed:\n%s", text)
	}
	for _, f := range []string{"retailer-transparency.html", "insurer-transparency.html", "world/truth.json", "result.json", "result.html"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatal(err)
		}
	}
	// A second run, exact, clears its own output directory; a foreign one is refused.
	buf.Reset()
	o.exact = true
	if err := runDemo(context.Background(), &buf, hclog.NewNullLogger(), o); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if !strings.Contains(buf.String(), "exact (validation mode, no noise)") {
		t.Fatalf("exact run:\n%s", buf.String())
	}
	// Two insurers pooled: three owners, the matched customers of both add
	// up to the truth, and every owner is charged and reports.
	buf.Reset()
	pooled := o
	pooled.insurers, pooled.out = 2, filepath.Join(t.TempDir(), "pooled")
	if err := runDemo(context.Background(), &buf, hclog.NewNullLogger(), pooled); err != nil {
		t.Fatalf("pooled run: %v\n%s", err, buf.String())
	}
	for _, want := range []string{"in common with the insurers together", `each insurer computed the pairing`, "both insurers, pooled", "insurer_south spent ε"} {
		if !strings.Contains(buf.String(), want) {
			t.Fatalf("pooled output lacks %q:\n%s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), "✗") {
		t.Fatalf("a check failed:\n%s", buf.String())
	}
	for _, f := range []string{"insurer_north-transparency.html", "insurer_south-transparency.html", "result.json"} {
		if _, err := os.Stat(filepath.Join(pooled.out, f)); err != nil {
			t.Fatal(err)
		}
	}
	pooled.insurers = 3
	if err := runDemo(context.Background(), &buf, hclog.NewNullLogger(), pooled); err == nil || !strings.Contains(err.Error(), "--insurers") {
		t.Fatalf("--insurers 3: %v", err)
	}
	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, "precious.txt"), []byte("x"), 0o644)
	o.out = foreign
	if err := runDemo(context.Background(), &buf, hclog.NewNullLogger(), o); err == nil || !strings.Contains(err.Error(), "not made by the demo") {
		t.Fatalf("foreign --out: %v", err)
	}
}
