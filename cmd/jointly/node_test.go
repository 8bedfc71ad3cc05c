package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/party/partytest"
)

// TestNodeCommandUnknownExclusion: `jointly node` refuses a configuration
// whose policy excludes a name the source does not read, naming the file,
// the line, the name and the columns there are.
func TestNodeCommandUnknownExclusion(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "retailer.csv")
	if err := os.WriteFile(data, []byte("email,phone,consent,spend_diet_aids,spend_pharmacy\na@example.com,2125550101,true,12.50,80.00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := partytest.RetailerHCL(filepath.Join(dir, "data")) + fmt.Sprintf(`source "csv" {
  path = %q
  column "spend_diet_aids" {
    type = "numeric"
    lo   = 0
    hi   = 3000
  }
  column "spend_pharmacy" {
    type = "numeric"
    lo   = 0
    hi   = 6250
  }
}
policy {
  exclude = ["spend_pharmacy", "spend_diet_aidz"]
}
`, data)
	path := filepath.Join(dir, "node.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := newRootCmd()
	cmd.SetArgs([]string{"node", "--config", path})
	cmd.SetOut(&strings.Builder{})
	cmd.SetErr(&strings.Builder{})
	err := cmd.Execute()
	if err == nil {
		t.Fatal("the node started")
	}
	for _, w := range []string{path + ":23: exclude:", `"spend_diet_aidz"`, "columns: spend_diet_aids, spend_pharmacy"} {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not say %q", err, w)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Fatal("the node created its data directory before refusing")
	}
}
