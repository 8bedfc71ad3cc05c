package queryfile

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
)

// Format writes req as a query file, the HCL a researcher would have
// written for it: for a request built by a program (the demo's), so that
// its report can show the question as a file. Parse of the text gives req
// back, for a request that Parse returned (one correlation block names the
// correlation columns; a rate or table by a categorical column has no
// buckets).
func Format(req party.JointRequest) []byte {
	var b strings.Builder
	if req.Evaluator != "" {
		fmt.Fprintf(&b, "evaluator = %s\n", quote(req.Evaluator))
	}
	fmt.Fprintf(&b, "purpose = %s\n", quote(req.Purpose))
	if req.Exact {
		b.WriteString("exact   = true\n")
	}
	if req.Epsilon != 0 || !req.Exact {
		fmt.Fprintf(&b, "epsilon = %s\n", formatNumber(req.Epsilon))
	}
	if req.Delta != 0 && req.Delta != DefaultDelta {
		fmt.Fprintf(&b, "delta   = %s\n", formatNumber(req.Delta))
	}
	if p := req.Pool; p != nil {
		fmt.Fprintf(&b, "\npool %s {\n  owners = %s\n}\n", quote(p.Name), formatList(p.Owners))
	}
	if req.Correlations {
		xs, ys := req.CorrelationX, req.CorrelationY
		if len(xs)+len(ys) == 0 { // every x × y pair but the group-by column
			isBy := func(r aggregate.ColumnRef) bool { return r == req.CorrelationBy }
			xs, ys = slices.DeleteFunc(slices.Clone(req.X), isBy), slices.DeleteFunc(slices.Clone(req.Y), isBy)
		}
		fmt.Fprintf(&b, "\ncorrelation {\n  x = %s\n  y = %s\n", formatRefs(xs), formatRefs(ys))
		if req.CorrelationBy != (aggregate.ColumnRef{}) {
			fmt.Fprintf(&b, "  by = %s\n", quote(req.CorrelationBy.String()))
			if len(req.CorrelationEdges) > 0 {
				fmt.Fprintf(&b, "  buckets = %s\n", formatNumbers(req.CorrelationEdges))
			}
		}
		b.WriteString("}\n")
	}
	for _, r := range req.Rates {
		fmt.Fprintf(&b, "\nrate {\n  events   = %s\n  exposure = %s\n  by       = %s\n", quote(r.Events.String()), quote(r.Exposure.String()), quote(r.By.String()))
		if len(r.Edges) > 0 { // none group a categorical column by its levels
			fmt.Fprintf(&b, "  buckets  = %s\n", formatNumbers(r.Edges))
		}
		if r.Per != "" {
			fmt.Fprintf(&b, "  per      = %s\n", quote(r.Per))
		}
		b.WriteString("}\n")
	}
	for _, r := range req.Regressions {
		fmt.Fprintf(&b, "\nregression {\n  outcome    = %s\n  predictors = %s\n}\n", quote(r.Outcome.String()), formatRefs(r.Predictors))
	}
	for _, c := range req.Contingencies {
		fmt.Fprintf(&b, "\ncontingency {\n  x         = %s\n", quote(c.X.String()))
		if len(c.XEdges) > 0 {
			fmt.Fprintf(&b, "  x_buckets = %s\n", formatNumbers(c.XEdges))
		}
		fmt.Fprintf(&b, "  y         = %s\n", quote(c.Y.String()))
		if len(c.YEdges) > 0 {
			fmt.Fprintf(&b, "  y_buckets = %s\n", formatNumbers(c.YEdges))
		}
		b.WriteString("}\n")
	}
	return []byte(b.String())
}

// quote writes s as an HCL string literal: escapes as HCL reads them,
// and template sequences (${, %{) doubled so that they stay literal.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, r)
		case (r == '$' || r == '%') && strings.HasPrefix(s[i+1:], "{"):
			b.WriteRune(r)
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// formatNumber writes f as HCL reads it back exactly.
func formatNumber(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func formatNumbers(fs []float64) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = formatNumber(f)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// formatList writes a list on one line, or one item a line (indented
// for a block's attribute) when one line would be long.
func formatList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	if line := "[" + strings.Join(q, ", ") + "]"; len(line) <= 60 {
		return line
	}
	return "[\n    " + strings.Join(q, ",\n    ") + ",\n  ]"
}

func formatRefs(refs []aggregate.ColumnRef) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.String()
	}
	return formatList(s)
}
