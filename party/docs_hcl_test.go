package party_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
)

// TestDocsHCLParses parses every ```hcl block of the documentation, so that
// an example a reader copies is at least valid HCL (a single-line block may
// hold only one attribute, for instance).
func TestDocsHCLParses(t *testing.T) {
	files, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../README.md")
	block := regexp.MustCompile("(?s)```hcl\n(.*?)```")
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for k, m := range block.FindAllSubmatch(data, -1) {
			src := string(m[1])
			// "# ..." marks an elided part; "..." alone would not parse.
			src = strings.ReplaceAll(src, "\n  ...\n", "\n")
			if _, diags := hclparse.NewParser().ParseHCL([]byte(src), filepath.Base(f)); diags.HasErrors() {
				t.Errorf("%s, hcl block %d: %v", f, k+1, diags)
			}
			checked++
		}
	}
	if checked < 10 {
		t.Fatalf("only %d hcl blocks found in the docs", checked)
	}
	t.Logf("%d hcl blocks parse", checked)
}
