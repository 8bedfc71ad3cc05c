package main

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/party"
)

// The HTML report of a joint query (--format html): one self-contained
// page with the correlation matrix as a heatmap (red positive, blue
// negative, the 95 % interval on hover, cells whose interval excludes 0 in
// bold) and every cell in a table below.

type heatCell struct {
	Text, Title string
	Style       template.CSS
	Bold        bool
}

type heatRow struct {
	Name  string
	Cells []heatCell
}

type reportPage struct {
	Owners, Mode, Budget string
	NextQuery            string
	Union                string
	MinGroupSize         int
	Ys                   []string
	Rows                 []heatRow
	Cells                []resultCell
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{"num": fmtNum}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Jointly query result</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f4f4f4}
td.name,th.name{text-align:left}
.heat td{min-width:4.5em}
.note{color:#555;font-size:.9em}
</style></head><body>
<h1>Joint query result</h1>
<p>Owners: {{.Owners}}; {{.Union}}; {{.Mode}}; cells below {{.MinGroupSize}} people suppressed.</p>
{{if .Budget}}<p>Privacy budget left for the querier: {{.Budget}}.{{if .NextQuery}} {{.NextQuery}}.{{end}}</p>{{end}}
{{if .Rows}}<h2>Correlation matrix (Pearson r)</h2>
<p class="note">Red is positive, blue negative; hover for the 95 % interval, which includes the privacy noise. Bold: the interval excludes 0 (by chance alone about 1 cell in 20).</p>
<table class="heat"><tr><th class="name"></th>{{range .Ys}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><td class="name">{{.Name}}</td>{{range .Cells}}<td title="{{.Title}}" style="{{.Style}}">{{if .Bold}}<b>{{.Text}}</b>{{else}}{{.Text}}{{end}}</td>{{end}}</tr>
{{end}}</table>{{end}}
<h2>All cells</h2>
<table><tr><th class="name">statistic</th><th class="name">x</th><th class="name">y</th><th class="name">group</th><th>value</th><th>95% CI</th><th>p</th><th>n</th><th>noise std</th></tr>
{{range .Cells}}<tr><td class="name">{{.Label}}</td><td class="name">{{.X}}</td><td class="name">{{.Y}}</td><td class="name">{{.Group}}</td>{{if .Suppressed}}<td colspan="3">suppressed{{if .Reason}}: {{.Reason}}{{end}}</td>{{else}}<td>{{num .Value}}</td><td>{{if .CILow}}[{{num .CILow}}, {{num .CIHigh}}]{{end}}</td><td>{{num .P}}</td>{{end}}<td>{{printf "%.0f" .N}}</td><td>{{printf "%.3g" .NoiseStd}}</td></tr>
{{end}}</table>
</body></html>
`))

// heatStyle colours r in [-1, 1]: white at 0, red towards +1, blue towards -1.
func heatStyle(r float64) template.CSS {
	a := math.Min(1, math.Abs(r))
	fade := int(math.Round(255 * (1 - a)))
	if r >= 0 {
		return template.CSS(fmt.Sprintf("background:rgb(255,%d,%d)", fade, fade))
	}
	return template.CSS(fmt.Sprintf("background:rgb(%d,%d,255)", fade, fade))
}

// writeHTMLReport renders r as a self-contained HTML page.
func writeHTMLReport(w io.Writer, r *party.JointResult, mode string) error {
	d := toDoc(r)
	page := reportPage{Owners: strings.Join(r.Owners, ", "), Mode: mode, Union: unionText(r), MinGroupSize: r.MinGroupSize, Cells: d.Cells}
	page.Budget, page.NextQuery = budgetLeftText(r), nextQueryText(r)
	var xs []string
	byPair := map[[2]string]*aggregate.Cell{}
	for i := range r.Cells {
		c := &r.Cells[i]
		if c.Statistic != aggregate.CellPearson {
			continue
		}
		if !slices.Contains(xs, c.X) {
			xs = append(xs, c.X)
		}
		if !slices.Contains(page.Ys, c.Y) {
			page.Ys = append(page.Ys, c.Y)
		}
		byPair[[2]string{c.X, c.Y}] = c
	}
	for _, x := range xs {
		row := heatRow{Name: x}
		for _, y := range page.Ys {
			c := byPair[[2]string{x, y}]
			switch {
			case c == nil || c.Suppressed || math.IsNaN(c.Value):
				row.Cells = append(row.Cells, heatCell{Text: "–", Style: template.CSS("background:#eee")})
			default:
				row.Cells = append(row.Cells, heatCell{
					Text:  fmt.Sprintf("%+.3f", c.Value),
					Title: fmt.Sprintf("95%% CI [%.3f, %.3f], n = %.0f", c.CILow, c.CIHigh, c.N),
					Style: heatStyle(c.Value),
					Bold:  c.CILow > 0 || c.CIHigh < 0,
				})
			}
		}
		page.Rows = append(page.Rows, row)
	}
	return reportTemplate.Execute(w, page)
}
