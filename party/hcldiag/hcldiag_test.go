package hcldiag

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

func TestFormat(t *testing.T) {
	at := func(line int) *hcl.Range {
		return &hcl.Range{Filename: "node.hcl", Start: hcl.Pos{Line: line, Column: 1}, End: hcl.Pos{Line: line, Column: 2}}
	}
	for _, tc := range []struct {
		name  string
		diags hcl.Diagnostics
		want  string
	}{
		{"none", nil, ""},
		{"summary only", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Broken"}}, "Broken"},
		{"with detail", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Broken", Detail: "the reason."}}, "Broken: the reason."},
		{"with position", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Broken", Detail: "the reason.", Subject: at(3)}}, "node.hcl:3: Broken: the reason."},
		{"several", hcl.Diagnostics{
			{Severity: hcl.DiagError, Summary: "First", Subject: at(1)},
			{Severity: hcl.DiagError, Summary: "Second", Detail: "why."},
		}, "node.hcl:1: First; Second: why."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Format(tc.diags); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestFormatParserDiagnostics checks the position of a real parser error.
func TestFormatParserDiagnostics(t *testing.T) {
	_, diags := hclparse.NewParser().ParseHCL([]byte("name = \"a\"\npurpose = \n"), "query.hcl")
	if !diags.HasErrors() {
		t.Fatal("parsed a malformed file")
	}
	got := Format(diags)
	if want := "query.hcl:2: "; !strings.HasPrefix(got, want) {
		t.Fatalf("got %q, want it to start with %q", got, want)
	}
}
