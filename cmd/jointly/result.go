package main

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
)

// A joint query's result in the four formats of `jointly query --format`
// (docs/results.md): JSON and CSV for programs, the table for the
// terminal, the HTML report (report.go) for a reader. Every format carries
// the question, the privacy budget spent and left, the columns' bounds and
// each suppressed cell's reason.

// queryResult is a decrypted result with what its reader needs to know
// about the question: the query file as written and when the answer came.
type queryResult struct {
	*party.JointResult
	// Query is the query file's text, File its name.
	Query, File string
	// Received is when the result was decrypted.
	Received time.Time
}

// resultCell is the JSON and CSV form of a result cell (docs/results.md).
type resultCell struct {
	Statistic  string   `json:"statistic"`
	X          string   `json:"x,omitempty"`
	Y          string   `json:"y,omitempty"`
	Group      string   `json:"group,omitempty"`
	Per        string   `json:"per,omitempty"`
	Value      *float64 `json:"value"`
	CILow      *float64 `json:"ci_low"`
	CIHigh     *float64 `json:"ci_high"`
	P          *float64 `json:"p,omitempty"`
	N          float64  `json:"n"`
	NoiseStd   float64  `json:"noise_std"`
	Condition  float64  `json:"condition,omitempty"`
	Warning    string   `json:"warning,omitempty"`
	Exact      bool     `json:"exact"`
	Epsilon    float64  `json:"epsilon"`
	Suppressed bool     `json:"suppressed,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	// Predicted is the accuracy planner's prediction of the cell (plan.go).
	Predicted *predictedDoc `json:"predicted,omitempty"`
}

// MarshalJSON leaves out ci_low and ci_high of the statistics that have no
// interval (r2, chi2), as docs/results.md says; a suppressed cell of any
// other statistic keeps them, as null.
func (c resultCell) MarshalJSON() ([]byte, error) {
	type cell resultCell // without this method
	if (aggregate.Cell{Statistic: c.Statistic}).HasInterval() {
		return json.Marshal(cell(c))
	}
	return json.Marshal(struct {
		cell
		// The shallower fields hide the embedded ones, and omitempty
		// leaves them out.
		CILow  *float64 `json:"ci_low,omitempty"`
		CIHigh *float64 `json:"ci_high,omitempty"`
	}{cell: cell(c)})
}

// budgetDoc is the querier's privacy budget left at one owner.
type budgetDoc struct {
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
}

// columnDoc is a column of the query with the bounds its values were
// clipped to and the resolution they were encoded at: the column's
// declared step, or the power-of-two grid the query chose.
type columnDoc struct {
	Column     string  `json:"column"`
	Lo         float64 `json:"lo"`
	Hi         float64 `json:"hi"`
	Resolution float64 `json:"resolution,omitempty"`
}

type resultDoc struct {
	QueryID      string               `json:"query_id,omitempty"`
	Purpose      string               `json:"purpose,omitempty"`
	Time         string               `json:"time,omitempty"`
	Query        string               `json:"query,omitempty"`
	Owners       []string             `json:"owners"`
	BudgetLeft   map[string]budgetDoc `json:"budget_left,omitempty"`
	UnionSize    int                  `json:"union_size"`
	MinGroupSize int                  `json:"min_group_size"`
	Exact        bool                 `json:"exact"`
	Epsilon      float64              `json:"epsilon"`
	Delta        float64              `json:"delta"`
	Columns      []columnDoc          `json:"columns,omitempty"`
	Cells        []resultCell         `json:"cells"`
	// Prediction is what the cells' predicted figures assume.
	Prediction *planBasisDoc `json:"prediction,omitempty"`
}

// Label names the cell's statistic for a reader, with the unit of a rate
// ("rate per year"): the table and the HTML report print it, JSON and CSV
// carry the unit as its own field.
func (c resultCell) Label() string {
	if c.Per == "" {
		return c.Statistic
	}
	return c.Statistic + " per " + c.Per
}

// cellLabel is Label of an aggregate cell.
func cellLabel(c *aggregate.Cell) string {
	return resultCell{Statistic: c.Statistic, Per: c.Per}.Label()
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func toDoc(q *queryResult) resultDoc {
	r := q.JointResult
	d := resultDoc{QueryID: r.QueryID, Purpose: r.Purpose, Query: q.Query, Owners: r.Owners, UnionSize: r.UnionSize, MinGroupSize: r.MinGroupSize,
		Exact: r.Exact, Epsilon: r.Epsilon, Delta: r.Delta}
	if !q.Received.IsZero() {
		d.Time = q.Received.UTC().Format(time.RFC3339)
	}
	if len(r.BudgetLeft) > 0 {
		d.BudgetLeft = map[string]budgetDoc{}
		for o, b := range r.BudgetLeft {
			d.BudgetLeft[o] = budgetDoc{Epsilon: b.Epsilon, Delta: b.Delta}
		}
	}
	for _, c := range r.Columns {
		d.Columns = append(d.Columns, columnDoc{Column: c.Ref.String(), Lo: c.Lo, Hi: c.Hi, Resolution: r.Resolution[c.Ref.String()]})
	}
	for _, c := range r.Cells {
		rc := resultCell{Statistic: c.Statistic, X: c.X, Y: c.Y, Group: c.Group, Per: c.Per, N: c.N, NoiseStd: c.NoiseStd,
			Condition: c.Condition, Warning: c.Warning, Exact: c.Exact, Epsilon: c.Epsilon, Suppressed: c.Suppressed, Reason: c.Reason}
		if !c.Suppressed {
			rc.Value = finite(c.Value)
			if c.HasInterval() {
				rc.CILow, rc.CIHigh = finite(c.CILow), finite(c.CIHigh)
			}
			if c.Statistic == aggregate.CellChiSquare {
				rc.P = finite(c.P)
			}
		}
		d.Cells = append(d.Cells, rc)
	}
	attachPredicted(&d, r)
	return d
}

func fmtNum(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'g', 6, 64)
}

func writeResult(w io.Writer, format string, q *queryResult) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(toDoc(q))
	case "csv":
		return writeCSV(w, q)
	case "html":
		return writeHTMLReport(w, q)
	case "table":
		return writeTable(w, q)
	}
	return fmt.Errorf("query: --format must be table, json, csv or html, not %q", format)
}

// writeCSV writes one row per cell, after comment lines (#) that say what
// the table answers: the query, its cost, the budget left and the columns'
// bounds. Readers skip them with comment='#' (pandas) or
// comment.char = "#" (R).
func writeCSV(w io.Writer, q *queryResult) error {
	r := q.JointResult
	var head []string
	if r.QueryID != "" {
		head = append(head, "query_id: "+r.QueryID)
	}
	if r.Purpose != "" {
		head = append(head, "purpose: "+r.Purpose)
	}
	if !q.Received.IsZero() {
		head = append(head, "time: "+q.Received.UTC().Format(time.RFC3339))
	}
	head = append(head, "owners: "+strings.Join(r.Owners, ", "), resultMode(r), unionText(r), fmt.Sprintf("cells below %d people suppressed", r.MinGroupSize))
	if left := budgetLeftText(r); left != "" {
		head = append(head, "privacy budget left: "+left)
	}
	if next := nextQueryText(r); next != "" {
		head = append(head, next)
	}
	clipped := clippedCells(r)
	for _, c := range r.Columns {
		share, warn := columnClippedText(c, clipped)
		if len(c.Levels) > 0 {
			head = append(head, fmt.Sprintf("column %s: %s", c.Ref, rangeText(r, c)))
			continue
		}
		head = append(head, fmt.Sprintf("column %s: values clipped to %s; share clipped: %s%s", c.Ref, rangeText(r, c), share, warnMark(warn)))
	}
	if q.Query != "" {
		head = append(head, "question ("+q.File+"):")
		for line := range strings.Lines(strings.TrimRight(q.Query, "\n")) {
			head = append(head, "  "+strings.TrimRight(line, "\r\n"))
		}
	}
	for _, h := range head {
		if _, err := fmt.Fprintln(w, strings.TrimRight("# "+h, " ")); err != nil {
			return err
		}
	}
	cw := csv.NewWriter(w)
	cw.Write(slices.Concat([]string{"statistic", "x", "y", "group", "value", "ci_low", "ci_high", "p", "n", "noise_std", "exact", "epsilon", "suppressed", "per"},
		predictedCSVHeader, []string{"reason", "condition", "warning"}))
	for _, c := range toDoc(q).Cells {
		cw.Write(slices.Concat([]string{c.Statistic, c.X, c.Y, c.Group, fmtNum(c.Value), fmtNum(c.CILow), fmtNum(c.CIHigh), fmtNum(c.P),
			strconv.FormatFloat(c.N, 'f', 1, 64), strconv.FormatFloat(c.NoiseStd, 'g', 4, 64), strconv.FormatBool(c.Exact),
			strconv.FormatFloat(c.Epsilon, 'g', 4, 64), strconv.FormatBool(c.Suppressed), c.Per}, predictedCSV(c.Predicted),
			[]string{c.Reason, strconv.FormatFloat(c.Condition, 'g', 4, 64), c.Warning}))
	}
	cw.Flush()
	return cw.Error()
}

// writeTable prints the result for the terminal: what was asked and what
// it cost, then every cell, its value and interval in the digits the
// interval supports, a suppressed cell with its reason.
func writeTable(w io.Writer, q *queryResult) error {
	r := q.JointResult
	if r.QueryID != "" {
		when := ""
		if !q.Received.IsZero() {
			when = ", answered " + receivedText(q.Received)
		}
		fmt.Fprintf(w, "query %s for %s%s\n", r.QueryID, r.Purpose, when)
	}
	fmt.Fprintf(w, "owners: %s; %s; %s; cells below %d people suppressed\n", strings.Join(r.Owners, ", "), unionText(r), resultMode(r), r.MinGroupSize)
	if left := budgetLeftText(r); left != "" {
		fmt.Fprintf(w, "your privacy budget left: %s\n", left)
	}
	if next := nextQueryText(r); next != "" {
		fmt.Fprintln(w, next)
	}
	if q.Query != "" {
		fmt.Fprintf(w, "\nquestion (%s):\n", q.File)
		for line := range strings.Lines(strings.TrimRight(q.Query, "\n")) {
			fmt.Fprintln(w, strings.TrimRight("  "+line, " \r\n"))
		}
	}
	if len(r.Columns) > 0 {
		fmt.Fprintf(w, "\ncolumns, values clipped to their declared bounds, and the share of the common records clipped:\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		clipped := clippedCells(r)
		for _, c := range r.Columns {
			share, warn := columnClippedText(c, clipped)
			fmt.Fprintf(tw, "  %s\t%s\t%s%s\n", c.Ref, rangeText(r, c), share, warnMark(warn))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	predicted := predictions(q)
	planned := ""
	if predicted != nil {
		planned = "\tPLANNED ±"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATISTIC\tX\tY\tGROUP\tVALUE\t95% CI\tN\tNOISE SD"+planned)
	for i := range r.Cells {
		c := &r.Cells[i]
		val, ci := cellText(c, false)
		if predicted != nil {
			planned = "\t"
			if p := predicted[i]; p != nil {
				planned += plannedText(c, p, false)
			}
		}
		switch {
		case c.Suppressed:
			val = "suppressed: " + cellReason(c.Reason)
		case c.Statistic == aggregate.CellChiSquare:
			ci = pLabel(c.P)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s%s\n", cellLabel(c), c.X, c.Y, c.Group, val, ci, countText(c.N, false), noiseText(c.NoiseStd, false), planned)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeWarnings(w, r.Cells)
}

// writeWarnings prints each distinct warning of the cells once, with what
// it is about: the group (a regression's model), or the column.
func writeWarnings(w io.Writer, cells []aggregate.Cell) error {
	seen := map[string]bool{}
	for _, c := range cells {
		about := cmp.Or(c.Group, c.X+c.Y)
		if c.Warning == "" || seen[about+c.Warning] {
			continue
		}
		seen[about+c.Warning] = true
		if _, err := fmt.Fprintf(w, "warning: %s: %s\n", about, c.Warning); err != nil {
			return err
		}
	}
	return nil
}

// predictions are the planner's predictions of q's cells, in their order,
// or nil when the result carries none.
func predictions(q *queryResult) []*predictedDoc {
	d := toDoc(q)
	if d.Prediction == nil {
		return nil
	}
	out := make([]*predictedDoc, len(d.Cells))
	for i := range d.Cells {
		out[i] = d.Cells[i].Predicted
	}
	return out
}

// plannedText writes a predicted 95 % half-width in c's digits: "±0.021".
func plannedText(c *aggregate.Cell, p *predictedDoc, group bool) string {
	s := cellStyle(c, group)
	if s.place < 2 && c.Statistic != aggregate.CellCount {
		s.place = max(s.place, 1-int(math.Floor(math.Log10(p.HalfWidth))))
	}
	return "±" + s.format(p.HalfWidth)
}

// cellReason words why a cell was suppressed, without the statistics
// package's prefix.
func cellReason(reason string) string {
	return strings.ReplaceAll(reason, "stats: ", "")
}

// resultMode describes how a result was released.
func resultMode(r *party.JointResult) string {
	if r.Exact {
		return "exact (validation mode, no noise)"
	}
	return fmt.Sprintf("differentially private, ε = %g, δ = %g per owner", r.Epsilon, r.Delta)
}

// unionText says what the querier knows of the union size: exact in exact
// mode, padded with DP noise otherwise.
func unionText(r *party.JointResult) string {
	if r.Exact {
		return fmt.Sprintf("union of %d records", r.UnionSize)
	}
	return fmt.Sprintf("union padded with DP noise to %d records", r.UnionSize)
}

// rangeText describes a column's values in a result: its bounds and the
// resolution they were encoded at ("[0, 500], in steps of 0.25"), or a
// categorical column's levels, which are never clipped.
func rangeText(r *party.JointResult, c aggregate.ColumnInfo) string {
	if len(c.Levels) > 0 {
		return "levels " + strings.Join(c.Levels, ", ")
	}
	return fmt.Sprintf("[%g, %g]%s", c.Lo, c.Hi, resolutionText(r, c.Ref))
}

// columnClippedText is clippedText for a column of a result; a
// categorical column's levels are never clipped.
func columnClippedText(c aggregate.ColumnInfo, clipped map[string]*aggregate.Cell) (string, bool) {
	if len(c.Levels) > 0 {
		return "categorical: none clipped", false
	}
	return clippedText(clipped[c.Ref.String()])
}

// resolutionText says at what resolution a column's values were encoded:
// ", in steps of 0.01", or nothing when the result does not say.
func resolutionText(r *party.JointResult, ref aggregate.ColumnRef) string {
	u, ok := r.Resolution[ref.String()]
	if !ok {
		return ""
	}
	return ", in steps of " + strconv.FormatFloat(u, 'g', -1, 64)
}

// clippedCells returns the clipping cell (aggregate.CellClipped) of every
// column the result has one for, by "owner.column".
func clippedCells(r *party.JointResult) map[string]*aggregate.Cell {
	out := map[string]*aggregate.Cell{}
	for i := range r.Cells {
		if c := &r.Cells[i]; c.Statistic == aggregate.CellClipped {
			out[c.X+c.Y] = c
		}
	}
	return out
}

// clippedText says what share of a column's values its bounds clipped:
// "2.1 % (95 % CI 1.4–2.8 %)", the suppression reason, or "not reported"
// when the result has no clipping cell for it. warn marks a share above
// aggregate.ClipWarnShare.
func clippedText(c *aggregate.Cell) (text string, warn bool) {
	switch {
	case c == nil:
		return "not reported", false
	case c.Suppressed:
		return "suppressed: " + cellReason(c.Reason), false
	case c.Exact:
		return percent(c.Value, 3) + " %", c.Warning != ""
	}
	// The noisy share may leave [0, 1]; what is printed does not.
	return fmt.Sprintf("%s %% (95 %% CI %s–%s %%)", percent(c.Value, 2), percent(c.CILow, 2), percent(c.CIHigh, 2)), c.Warning != ""
}

// percent writes share (clamped to [0, 1]) in per cent to digits
// significant digits, without an exponent: a share below 0.001 % is
// "< 0.001", not 5.1e-06.
func percent(share float64, digits int) string {
	p := 100 * clamp01(share)
	switch {
	case p == 0:
		return "0"
	case p < 0.001:
		return "< 0.001"
	}
	s := strconv.FormatFloat(p, 'f', max(0, digits-1-int(math.Floor(math.Log10(p)))), 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// warnMark is the note after a clipped share above aggregate.ClipWarnShare.
func warnMark(warn bool) string {
	if !warn {
		return ""
	}
	return fmt.Sprintf(" (over %g %%: the column's statistics lean toward its bounds; widen them)", 100*aggregate.ClipWarnShare)
}
