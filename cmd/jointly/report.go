package main

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jointly-dev/jointly/aggregate"
)

// The HTML report of a joint query (--format html, and the demo's
// result.html): one self-contained page, no script and no external asset,
// that a researcher can read on a screen 1,280 px wide or print on A4
// landscape. It has the question and its cost first, then the correlation
// matrix as a heatmap whose every cell prints r and its interval, the rates
// as forest plots of relative risks (inline SVG), and every cell in a
// compact table. The page template is in report_html.go, the plots'
// drawing in report_svg.go.

// heatColumns is the most columns one heatmap panel holds: eight cells of
// r and interval and the row labels fit the printable width of A4
// landscape (about 1,040 CSS px), and so 1,280 px; a wider matrix is cut
// into panels.
const heatColumns = 8

// reportPage is what the template renders.
type reportPage struct {
	QueryID, Purpose, Time string
	Query, File            string
	// QueryBlocks are the query file's paragraphs (its blocks, split at
	// blank lines), each kept whole in one column of the page.
	QueryBlocks       []string
	Mode, Cost, Union string
	Exact             bool
	MinGroupSize      int
	Owners            []ownerRow
	Next              string
	Columns           []columnGroup

	Heat          []heatPanel
	RowLegend     []axisLabel
	ColLegend     []axisLabel
	RowAxis       string
	ColAxis       string
	HeatFootnotes []footnote
	Forests       []forestBlock
	Models        []modelBlock
	Cells         []cellRow
	// HasStep marks a result that says each column's resolution.
	HasStep bool
	// Warnings are the cells' cautions (a regression's condition), once
	// per group.
	Warnings       []string
	HasGroup, HasP bool
	HasCI          bool
	// HasPlanned marks a result that carries the accuracy planner's
	// prediction of its cells (jointly query --target-halfwidth, --assume).
	HasPlanned bool
}

type ownerRow struct {
	Name, Role string
	Left       string // "ε 2, δ 9.9e-06", or "" when the result does not say
}

// columnGroup is the columns of one owner (or pool).
type columnGroup struct {
	Owner   string
	Columns []columnRow
}

type columnRow struct {
	Name, Range string
	Step        string // the resolution the values were encoded at, if the result says
	// Clipped is the share of the common records whose value the bounds
	// clipped, Warn marks it above aggregate.ClipWarnShare.
	Clipped string
	Warn    bool
}

// axisLabel is a column of the heatmap: the short label it is shown with
// and its full name.
type axisLabel struct {
	Short, Full string
}

type heatPanel struct {
	Caption string
	Cols    []axisLabel
	Rows    []heatRow
}

type heatRow struct {
	Label axisLabel
	Cells []heatCell
}

type heatCell struct {
	Value, CI   string
	Sig         bool
	Style       template.CSS
	Suppressed  bool
	Mark        string // footnote mark of the suppression reason
	Title       string
	Unavailable bool // the pair is not in the result
}

type footnote struct {
	Mark, Text string
}

// cellRow is a row of the table of every cell.
type cellRow struct {
	Stat, X, Group  string
	Y               template.HTML
	Value, CI, P, N string
	Noise           string
	// Planned is the predicted half-width of the 95 % interval.
	Planned    string
	Suppressed bool
	Reason     string
	Sig        bool
}

// paragraphs splits text at blank lines, each paragraph without its
// line ends' trailing blank lines.
func paragraphs(text string) []string {
	var out []string
	var cur strings.Builder
	for line := range strings.Lines(text) {
		if strings.TrimSpace(line) == "" {
			if cur.Len() > 0 {
				out = append(out, strings.TrimRight(cur.String(), "\n"))
				cur.Reset()
			}
			continue
		}
		cur.WriteString(line)
	}
	if cur.Len() > 0 {
		out = append(out, strings.TrimRight(cur.String(), "\n"))
	}
	return out
}

// writeHTMLReport renders q as a self-contained HTML page.
func writeHTMLReport(w io.Writer, q *queryResult) error {
	return reportTemplate.Execute(w, newReportPage(q))
}

func newReportPage(q *queryResult) reportPage {
	r := q.JointResult
	p := reportPage{QueryID: r.QueryID, Purpose: r.Purpose, Query: q.Query, File: q.File, Mode: resultMode(r), Union: unionText(r),
		Exact: r.Exact, MinGroupSize: r.MinGroupSize, Next: nextQueryText(r)}
	p.QueryBlocks = paragraphs(q.Query)
	if !q.Received.IsZero() {
		p.Time = receivedText(q.Received)
	}
	if r.Exact {
		p.Cost = "none: an exact validation release, without differential-privacy noise"
		if r.Epsilon > 0 {
			p.Cost = fmt.Sprintf("ε = %g, δ = %g charged at each owner, for an exact validation release without differential-privacy noise", r.Epsilon, r.Delta)
		}
	} else {
		p.Cost = fmt.Sprintf("ε = %g, δ = %g charged at each owner; every owner added its own differential-privacy noise", r.Epsilon, r.Delta)
	}
	for k, o := range r.Owners {
		row := ownerRow{Name: o, Role: "owner of the y columns"}
		if k == 0 {
			row.Role = "evaluator, owner of the x columns"
		} else if len(r.Owners) > 2 {
			row.Role = "pooled owner of the y columns"
		}
		if b, ok := r.BudgetLeft[o]; ok {
			row.Left = fmt.Sprintf("ε %.4g, δ %.3g", b.Epsilon, b.Delta)
		}
		p.Owners = append(p.Owners, row)
	}
	clipped := clippedCells(r)
	for _, c := range r.Columns {
		if n := len(p.Columns); n == 0 || p.Columns[n-1].Owner != c.Ref.Owner {
			p.Columns = append(p.Columns, columnGroup{Owner: c.Ref.Owner})
		}
		g := &p.Columns[len(p.Columns)-1]
		row := columnRow{Name: c.Ref.Name, Range: fmt.Sprintf("[%g, %g]", c.Lo, c.Hi)}
		row.Clipped, row.Warn = columnClippedText(c, clipped)
		if len(c.Levels) > 0 {
			row.Range = rangeText(r, c)
		} else if u, ok := r.Resolution[c.Ref.String()]; ok {
			row.Step, p.HasStep = strconv.FormatFloat(u, 'g', -1, 64), true
		}
		g.Columns = append(g.Columns, row)
	}
	p.heatmap(r.Cells)
	p.Forests = forests(r.Cells)
	p.Models = models(r.Cells, r.Columns)
	p.cellTable(r.Cells, predictions(q))
	return p
}

// heatmap lays out the Pearson cells as a matrix: x columns down, y
// columns across, cut into panels of heatColumns; correlations grouped by
// a column get one matrix per group, captioned with it.
func (p *reportPage) heatmap(cells []aggregate.Cell) {
	var xs, ys, groups []string
	byPair := map[[3]string]*aggregate.Cell{}
	for i := range cells {
		c := &cells[i]
		if c.Statistic != aggregate.CellPearson {
			continue
		}
		if !slices.Contains(xs, c.X) {
			xs = append(xs, c.X)
		}
		if !slices.Contains(ys, c.Y) {
			ys = append(ys, c.Y)
		}
		if !slices.Contains(groups, c.Group) {
			groups = append(groups, c.Group)
		}
		byPair[[3]string{c.Group, c.X, c.Y}] = c
	}
	if len(xs) == 0 {
		return
	}
	rows, cols := axisLabels(xs), axisLabels(ys)
	p.RowLegend, p.ColLegend = rows, cols
	p.RowAxis, p.ColAxis = axisOwner(xs), axisOwner(ys)
	marks := map[string]string{}
	for _, g := range groups {
		for start := 0; start < len(ys); start += heatColumns {
			end := min(start+heatColumns, len(ys))
			panel := heatPanel{Caption: groupCaption(cells, g), Cols: cols[start:end]}
			if len(ys) > heatColumns {
				panel.Caption = strings.TrimPrefix(panel.Caption+fmt.Sprintf(", columns %d–%d of %d", start+1, end, len(ys)), ", ")
			}
			for i, x := range xs {
				row := heatRow{Label: rows[i]}
				for j := start; j < end; j++ {
					row.Cells = append(row.Cells, p.heatCell(byPair[[3]string{g, x, ys[j]}], marks))
				}
				panel.Rows = append(panel.Rows, row)
			}
			p.Heat = append(p.Heat, panel)
		}
	}
}

// groupCaption names a group of grouped correlations, "column: label"
// with the column its count cell names, with that group's people; empty
// for the correlations over everyone.
func groupCaption(cells []aggregate.Cell, group string) string {
	if group == "" {
		return ""
	}
	for _, c := range cells {
		if c.Statistic == aggregate.CellCount && c.Group == group && c.X != "" && c.Y == "" {
			return fmt.Sprintf("%s: %s (%s people)", c.X, group, countText(c.N, true))
		}
	}
	return group
}

func (p *reportPage) heatCell(c *aggregate.Cell, marks map[string]string) heatCell {
	switch {
	case c == nil:
		return heatCell{Unavailable: true}
	case c.Suppressed:
		reason := cellReason(c.Reason)
		m, ok := marks[reason]
		if !ok {
			m = string(rune('a' + len(marks)))
			marks[reason] = m
			p.HeatFootnotes = append(p.HeatFootnotes, footnote{Mark: m, Text: reason})
		}
		return heatCell{Suppressed: true, Mark: m, Title: fmt.Sprintf("%s × %s: suppressed, %s", c.X, c.Y, reason)}
	}
	v, ci := cellText(c, true)
	in := ""
	if c.Group != "" {
		in = " in " + c.Group
	}
	return heatCell{Value: v, CI: ci, Sig: excludes(c, 0), Style: heatStyle(c.Value),
		Title: fmt.Sprintf("%s × %s%s: r = %s, 95 %% interval %s, n = %s", c.X, c.Y, in, v, ci, countText(c.N, true))}
}

// excludes reports whether c's 95 % interval excludes v.
func excludes(c *aggregate.Cell, v float64) bool {
	return hasInterval(c) && (c.CILow > v || c.CIHigh < v)
}

// heatStyle colours r in [-1, 1] on a diverging red (positive) and blue
// (negative) scale. The intensity is √|r|, so that the small correlations
// most cells hold are tinted, not white (r = 0.05 is a fifth of the way);
// text turns white on the darkest cells.
func heatStyle(r float64) template.CSS {
	t := math.Sqrt(math.Min(1, math.Abs(r)))
	to := [3]float64{178, 24, 43} // red
	if r < 0 {
		to = [3]float64{33, 102, 172} // blue
	}
	var c [3]int
	for i := range c {
		c[i] = int(math.Round(255 + t*(to[i]-255)))
	}
	fg := "#111"
	if t > 0.62 {
		fg = "#fff"
	}
	return template.CSS(fmt.Sprintf("background:rgb(%d,%d,%d);color:%s", c[0], c[1], c[2], fg))
}

// heatScale is the colour legend of the heatmap.
func heatScale() []heatCell {
	var out []heatCell
	for _, r := range []float64{-1, -0.5, -0.2, -0.05, 0, 0.05, 0.2, 0.5, 1} {
		out = append(out, heatCell{Value: fmt.Sprintf("%g", r), Style: heatStyle(r)})
	}
	return out
}

// axisLabels gives the columns of an axis short labels: without the owner,
// without a first word they share with another column ("claims_" of
// claims_diabetes and claims_liver), cut to 14 characters; a label that
// would repeat another keeps more.
func axisLabels(names []string) []axisLabel {
	first := map[string]int{}
	bare := make([]string, len(names))
	for i, n := range names {
		bare[i] = short(n)
		if w, _, ok := strings.Cut(bare[i], "_"); ok {
			first[w]++
		}
	}
	out := make([]axisLabel, len(names))
	seen := map[string]int{}
	for i, n := range names {
		s := bare[i]
		if w, rest, ok := strings.Cut(s, "_"); ok && first[w] > 1 && rest != "" {
			s = rest
		}
		if r := []rune(s); len(r) > 14 {
			s = string(r[:13]) + "…"
		}
		seen[s]++
		out[i] = axisLabel{Short: s, Full: n}
	}
	for i := range out {
		if seen[out[i].Short] > 1 {
			out[i].Short = fmt.Sprintf("%s (%d)", out[i].Short, i+1)
		}
	}
	return out
}

// axisOwner names the owner of an axis's columns, if they have one.
func axisOwner(names []string) string {
	owner, _, _ := strings.Cut(names[0], ".")
	for _, n := range names {
		if o, _, _ := strings.Cut(n, "."); o != owner {
			return ""
		}
	}
	return owner
}

// cellTable fills the table of every cell, leaving out the columns no
// cell uses; predicted are the planner's predictions, one per cell or
// none.
func (p *reportPage) cellTable(cells []aggregate.Cell, predicted []*predictedDoc) {
	for i := range cells {
		c := &cells[i]
		row := cellRow{Stat: cellLabel(c), X: c.X, Y: breakable(c.Y), Group: c.Group,
			N: countText(c.N, true), Noise: noiseText(c.NoiseStd, true)}
		if i < len(predicted) && predicted[i] != nil {
			row.Planned, p.HasPlanned = plannedText(c, predicted[i], true), true
		}
		p.HasGroup = p.HasGroup || c.Group != ""
		if c.Suppressed {
			row.Suppressed, row.Reason = true, cellReason(c.Reason)
		} else {
			row.Value, row.CI = cellText(c, true)
			p.HasCI = p.HasCI || row.CI != ""
			switch c.Statistic {
			case aggregate.CellChiSquare:
				row.P, p.HasP = pLabel(c.P), true
				row.Sig = c.P < 0.05
			case aggregate.CellPearson, aggregate.CellOLSCoef:
				row.Sig = excludes(c, 0)
			case aggregate.CellRelativeRisk:
				row.Sig = excludes(c, 1)
			}
		}
		p.Cells = append(p.Cells, row)
		if w := cellWarning(c); w != "" && !slices.Contains(p.Warnings, w) {
			p.Warnings = append(p.Warnings, w)
		}
	}
}

// modelBlock is one regression of the report: its coefficients, one row
// each, and its fit.
type modelBlock struct {
	Model, Outcome string
	Rows           []cellRow
	R2, N          string
}

// models gathers the cells of every regression of cells, in order: the
// intercept and each coefficient as a row (a categorical predictor's
// levels named by their level, against its first of columns), R² and the
// people behind the fit below.
func models(cells []aggregate.Cell, columns []aggregate.ColumnInfo) []modelBlock {
	reference := func(col string) string {
		for _, c := range columns {
			if c.Ref.String() == col && len(c.Levels) > 0 {
				return c.Levels[0]
			}
		}
		return "the first level"
	}
	var out []modelBlock
	at := map[string]int{}
	for i := range cells {
		c := &cells[i]
		if c.Statistic != aggregate.CellOLSIntercept && c.Statistic != aggregate.CellOLSCoef && c.Statistic != aggregate.CellR2 {
			continue
		}
		k, ok := at[c.Group]
		if !ok {
			k, at[c.Group] = len(out), len(out)
			out = append(out, modelBlock{Model: c.Group, Outcome: c.Y})
		}
		m := &out[k]
		if c.Statistic == aggregate.CellR2 {
			m.N = countText(c.N, true)
			m.R2 = "suppressed: " + cellReason(c.Reason)
			if !c.Suppressed {
				m.R2 = fmt.Sprintf("%.3f", c.Value)
			}
			continue
		}
		row := cellRow{Stat: "intercept", X: c.X, N: countText(c.N, true), Noise: noiseText(c.NoiseStd, true)}
		if c.Statistic == aggregate.CellOLSCoef {
			row.Stat = c.X
			if col, level, found := strings.Cut(c.X, "="); found {
				row.Stat = col + ": " + level + " (against " + reference(col) + ")"
			}
		}
		if c.Suppressed {
			row.Suppressed, row.Reason = true, cellReason(c.Reason)
		} else {
			row.Value, row.CI = cellText(c, true)
			row.Sig = c.Statistic == aggregate.CellOLSCoef && excludes(c, 0)
		}
		m.Rows = append(m.Rows, row)
	}
	return out
}

// cellWarning words a cell's caution with what it is about, or "".
func cellWarning(c *aggregate.Cell) string {
	if c.Warning == "" {
		return ""
	}
	about := c.Group
	if about == "" {
		about = c.Y
	}
	return fmt.Sprintf("%s (condition number %.3g): %s", about, c.Condition, c.Warning)
}

// breakable escapes a name and lets the browser break it only after the
// slash of a rate's events/exposure: a column name stays whole, and so
// does every number.
func breakable(s string) template.HTML {
	parts := strings.Split(s, "/")
	for i := range parts {
		parts[i] = template.HTMLEscapeString(parts[i])
	}
	return template.HTML(strings.Join(parts, "/<wbr>"))
}

// receivedText is how the report writes a time.
func receivedText(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
