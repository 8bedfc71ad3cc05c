package hcldiag

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Format renders diags as "file:line: summary: detail" joined by "; ". A
// diagnostic without a subject has no position; one without a detail
// stops at its summary.
func Format(diags hcl.Diagnostics) string {
	parts := make([]string, 0, len(diags))
	for _, d := range diags {
		s := d.Summary
		if d.Detail != "" {
			s += ": " + d.Detail
		}
		if d.Subject != nil {
			s = fmt.Sprintf("%s:%d: %s", d.Subject.Filename, d.Subject.Start.Line, s)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
