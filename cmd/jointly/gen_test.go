package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenCommand(t *testing.T) {
	run := func(dir string, args ...string) string {
		t.Helper()
		cmd := newGenCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append([]string{"--out", dir}, args...))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("jointly gen %v: %v", args, err)
		}
		return out.String()
	}
	a, b := t.TempDir(), t.TempDir()
	msg := run(a, "--customers", "2000", "--overlap", "0.25", "--seed", "9")
	run(b, "--customers", "2000", "--overlap", "0.25", "--seed", "9")
	if !strings.Contains(msg, "500 people on both sides") {
		t.Errorf("summary %q does not report the 500 shared people", msg)
	}
	for _, n := range []string{"retailer.csv", "insurer.csv", "truth.json"} {
		x, err := os.ReadFile(filepath.Join(a, n))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with the same seed", n)
		}
	}
	c := t.TempDir()
	run(c, "--customers", "500", "--format", "parquet", "--transactions")
	for _, n := range []string{"retailer.parquet", "insurer.parquet", "retailer_transactions.parquet", "truth.json"} {
		if _, err := os.Stat(filepath.Join(c, n)); err != nil {
			t.Error(err)
		}
	}

	bad := newGenCmd()
	bad.SetOut(&bytes.Buffer{})
	bad.SetErr(&bytes.Buffer{})
	d := t.TempDir()
	bad.SetArgs([]string{"--out", d, "--format", "xlsx"})
	if err := bad.Execute(); err == nil || !strings.Contains(err.Error(), "format") {
		t.Fatalf("--format xlsx: error %v, want one naming format", err)
	}
	if ents, _ := os.ReadDir(d); len(ents) != 0 {
		t.Fatalf("a failed run left %d files", len(ents))
	}
}
