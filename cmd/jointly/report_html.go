package main

import (
	"html/template"

	"github.com/jointly-dev/jointly/aggregate"
)

// reportTemplate is the result report's page. Numbers never wrap
// (white-space: nowrap, tabular figures); names may, after a dot or a
// slash. Nothing needs a script: intervals are printed in every cell, and
// the title attributes only repeat them. Colours print (print-color-adjust),
// and @page asks for A4 landscape.
var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{"scale": heatScale, "clipWarn": func() float64 { return 100 * aggregate.ClipWarnShare }}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Joint query result{{if .QueryID}} {{.QueryID}}{{end}}</title>
<style>
*{box-sizing:border-box;-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:#1b1b1b;margin:0 auto;max-width:1200px;padding:16px 24px}
h1{font-size:22px;margin:4px 0 8px}
h2{font-size:17px;margin:28px 0 6px;padding-bottom:2px;border-bottom:1px solid #ccc}
h3{font-size:14px;margin:18px 0 4px}
table{border-collapse:collapse}
th,td{padding:3px 8px;border-bottom:1px solid #ddd;vertical-align:top;text-align:left}
th{font-weight:600;background:#f3f3f3}
.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.nowrap{white-space:nowrap}
.note{color:#555;font-size:13px;max-width:980px;margin:4px 0}
code{font-size:13px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0 0 8px}
dl.meta dt{font-weight:600}
dl.meta dd{margin:0}
pre.query{background:#f6f6f6;border:1px solid #ddd;padding:8px 12px;margin:4px 0;font-size:12px;white-space:pre-wrap;overflow-wrap:anywhere;column-width:310px;column-gap:24px;column-rule:1px solid #e4e4e4}
pre.query .blk{display:block;break-inside:avoid}
pre.query .blk:not(:last-child){padding-bottom:1.2em}
.groups{display:flex;flex-wrap:wrap;gap:8px 32px;align-items:flex-start}
table.heat{table-layout:fixed;margin:6px 0 2px}
table.heat th{background:none;border:0;font-size:12px;font-weight:600}
table.heat th.corner{width:150px}
table.heat th.col{width:104px;text-align:center;vertical-align:bottom;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
table.heat th.row{text-align:right;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;vertical-align:middle}
table.heat td{width:104px;height:40px;padding:2px;text-align:center;vertical-align:middle;border:1px solid #fff;white-space:nowrap;font-variant-numeric:tabular-nums}
table.heat td .r{display:block;font-size:13px;line-height:16px}
table.heat td .ci{display:block;font-size:10.5px;line-height:14px}
table.heat td.sig .r{font-weight:700}
table.heat td.supp{background:#ececec;color:#555;font-size:11px}
table.heat td.none{background:#fafafa;color:#999}
table.scale td{width:52px;height:22px;text-align:center;font-size:11px;border:1px solid #fff;padding:0}
.panel{break-inside:avoid}
.legend{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:0 16px;font-size:12px;margin:4px 0;max-width:1100px}
.legend span{overflow-wrap:anywhere}
.legend b{font-weight:600}
table.forest td,table.forest th{vertical-align:middle}
table.forest td.plot,table.forest th.plot{padding:0 4px;width:308px}
table.forest tr.ref td{color:#444}
svg{display:block}
svg text{font-size:10px;fill:#333;font-family:inherit}
.forest-block{break-inside:avoid;margin-bottom:10px}
table.cells{font-size:12px}
table.cells th,table.cells td{padding:1px 6px}
table.cells div.group{max-width:220px}
table.cells td.sig,.sig-text{font-weight:700}
td.supp,.supp{color:#8a4b00}
td.warn{color:#a30000;font-weight:600}
@page{size:A4 landscape;margin:10mm}
@media print{
body{max-width:none;padding:0;font-size:12px}
h2{break-after:avoid}
tr{break-inside:avoid}
thead{display:table-header-group}
table.cells{font-size:10.5px}
table.cells th,table.cells td{padding:1px 4px}
table.heat td{height:34px}
.keep{break-inside:avoid}
}
</style></head><body>
<h1>Joint query result</h1>
<dl class="meta">
{{if .QueryID}}<dt>Query id</dt><dd><code>{{.QueryID}}</code> (the owners' audit logs record it under this id)</dd>{{end}}
{{if .Time}}<dt>Answered</dt><dd>{{.Time}}</dd>{{end}}
{{if .Purpose}}<dt>Purpose</dt><dd>{{.Purpose}}</dd>{{end}}
<dt>Privacy cost</dt><dd>{{.Cost}}</dd>
<dt>Records</dt><dd>{{.Union}}; cells with fewer than {{.MinGroupSize}} people are suppressed</dd>
</dl>
<table>
<thead><tr><th>Data owner</th><th>Role</th><th class="num">Privacy budget left for the querier</th></tr></thead>
<tbody>{{range .Owners}}<tr><td>{{.Name}}</td><td>{{.Role}}</td><td class="num">{{if .Left}}{{.Left}}{{else}}not reported{{end}}</td></tr>
{{end}}</tbody></table>
{{if .Next}}<p class="note">{{.Next}}.</p>{{end}}

{{if .Query}}<h2>Question</h2>
<p class="note">The query file{{if .File}} <code>{{.File}}</code>{{end}} as written.</p>
<pre class="query">{{range .QueryBlocks}}<span class="blk">{{.}}</span>{{end}}</pre>{{end}}

{{if .Columns}}<h2>Columns and bounds</h2>
<p class="note">Each value outside its column's declared range is clipped to the range before anything is computed, so a statistic describes the clipped values. The share of the common records whose value was clipped is released with the result, with differential-privacy noise; above {{clipWarn}} % a column's statistics lean visibly toward its bounds.</p>
<div class="groups">{{range .Columns}}<table>
<thead><tr><th>Column of {{.Owner}}</th><th class="num">Declared range</th>{{if $.HasStep}}<th class="num">Resolution</th>{{end}}<th>Values clipped</th></tr></thead>
<tbody>{{range .Columns}}<tr><td>{{.Name}}</td><td class="num">{{.Range}}</td>{{if $.HasStep}}<td class="num">{{.Step}}</td>{{end}}<td class="num{{if .Warn}} warn{{end}}">{{.Clipped}}{{if .Warn}} ⚠{{end}}</td></tr>
{{end}}</tbody></table>{{end}}</div>
{{end}}

{{if .Heat}}<div class="keep"><h2>Correlations (Pearson r)</h2>
<p class="note">Each cell prints r and, below it, its 95 % interval, which includes the sampling error and the differential-privacy noise.
<b>Bold with *</b>: the interval excludes 0 (by chance alone about 1 cell in 20 does). Rows are {{if .RowAxis}}{{.RowAxis}}'s{{else}}the x{{end}} columns, columns {{if .ColAxis}}{{.ColAxis}}'s{{else}}the y columns{{end}}; full names below.</p>
<table class="scale"><tr>{{range scale}}<td style="{{.Style}}">{{.Value}}</td>{{end}}</tr></table>
{{range .Heat}}<div class="panel">{{if .Caption}}<h3>{{.Caption}}</h3>{{end}}
<table class="heat"><thead><tr><th class="corner"></th>{{range .Cols}}<th class="col" title="{{.Full}}">{{.Short}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr><th class="row" title="{{.Label.Full}}">{{.Label.Short}}</th>{{range .Cells}}{{if .Unavailable}}<td class="none">–</td>{{else if .Suppressed}}<td class="supp" title="{{.Title}}">suppressed<sup>{{.Mark}}</sup></td>{{else}}<td class="{{if .Sig}}sig{{end}}" style="{{.Style}}" title="{{.Title}}"><span class="r">{{.Value}}{{if .Sig}}*{{end}}</span><span class="ci">{{.CI}}</span></td>{{end}}{{end}}</tr>
{{end}}</tbody></table></div>
{{end}}</div>
{{range .HeatFootnotes}}<p class="note"><sup>{{.Mark}}</sup> suppressed: {{.Text}}</p>{{end}}
<h3>Rows</h3><div class="legend">{{range .RowLegend}}<span><b>{{.Short}}</b> {{.Full}}</span>{{end}}</div>
<h3>Columns</h3><div class="legend">{{range .ColLegend}}<span><b>{{.Short}}</b> {{.Full}}</span>{{end}}</div>
{{end}}

{{if .Forests}}<h2>Rates and relative risks</h2>
<p class="note">Events per year of exposure (or per the unit each title names) in each group, and the relative risk of each group against the first (the reference, ◇), on a log scale:
a square is the estimate, its line the 95 % interval (sampling error and privacy noise); the dashed line is no difference (1). <b>Bold</b>: the interval excludes 1.</p>
{{range .Forests}}<div class="forest-block"><h3>{{.Events}} {{.Unit}}, by {{.By}}</h3>
<table class="forest"><thead><tr><th>Group</th><th class="num">People</th><th class="num">Rate</th><th class="num">95 % interval</th><th class="num">Relative risk</th><th class="num">95 % interval</th><th class="plot">{{.Axis}}</th></tr></thead>
<tbody>{{range .Rows}}<tr{{if .Ref}} class="ref"{{end}}><td class="nowrap">{{.Group}}</td><td class="num">{{.N}}</td>{{if .Suppressed}}<td colspan="5" class="supp">suppressed: {{.Suppressed}}</td>{{else}}<td class="num">{{.Rate}}</td><td class="num">{{.RCI}}</td>{{if .RRReason}}<td colspan="3" class="supp">suppressed: {{.RRReason}}</td>{{else}}<td class="num{{if .Sig}} sig-text{{end}}">{{.RR}}{{if .Ref}} (reference){{end}}</td><td class="num">{{if not .Ref}}{{.RRCI}}{{end}}</td><td class="plot">{{.Plot}}</td>{{end}}{{end}}</tr>
{{end}}</tbody></table></div>
{{end}}{{end}}

{{if .Models}}<h2>Regressions</h2>
<p class="note">Least squares of each outcome on its predictors, which may be either owner's columns: a coefficient is the change in the outcome per unit of its predictor with the others held fixed;
a categorical predictor has one per level, its difference from the first level. Intervals are 95 % and include the privacy noise; <b>bold</b>: the interval excludes 0.</p>
{{range .Models}}<div class="forest-block"><h3>{{.Outcome}}</h3><p class="note">{{.Model}}</p>
<table class="cells"><thead><tr><th>Term</th><th class="num">Coefficient</th><th class="num">95 % interval</th><th class="num">People</th><th class="num">Noise SD</th></tr></thead>
<tbody>{{range .Rows}}<tr><td class="nowrap">{{.Stat}}</td>{{if .Suppressed}}<td colspan="2" class="supp">suppressed: {{.Reason}}</td>{{else}}<td class="num{{if .Sig}} sig{{end}}">{{.Value}}</td><td class="num">{{.CI}}</td>{{end}}<td class="num">{{.N}}</td><td class="num">{{.Noise}}</td></tr>
{{end}}</tbody></table>
<p class="note">R² {{.R2}}, over {{.N}} people.</p></div>
{{end}}{{end}}

<h2>Every cell</h2>
<p class="note">Statistics: <code>n</code> people behind the query, a group or a table cell; <code>mean</code>, <code>variance</code>; <code>pearson_r</code> correlation;
<code>rate</code> events per year of exposure, or per the unit its label names; <code>relative_risk</code> against the first group; <code>ols_intercept</code>, <code>ols_coef</code>, <code>r2</code> least squares;
<code>chi2</code> test of independence with its p-value. Values carry the digits their interval supports; <b>bold</b>: the interval of an r or a coefficient excludes 0, of a relative risk 1, or p &lt; 0.05.
Noise SD is the standard deviation of the privacy noise in the value.{{if .HasPlanned}} Planned ± is the half-width of the 95 % interval the accuracy planner predicted before the query ran.{{end}} The JSON output has every value in full precision.</p>
<table class="cells">
<thead><tr><th>Statistic</th><th>x</th><th>y</th>{{if .HasGroup}}<th>Group</th>{{end}}<th class="num">Value</th>{{if .HasCI}}<th class="num">95 % interval</th>{{end}}{{if .HasP}}<th class="num">p</th>{{end}}<th class="num">People</th><th class="num">Noise SD</th>{{if .HasPlanned}}<th class="num">Planned ±</th>{{end}}</tr></thead>
<tbody>{{$p := .}}{{range .Cells}}<tr><td class="nowrap">{{.Stat}}</td><td class="nowrap">{{.X}}</td><td class="name">{{.Y}}</td>{{if $p.HasGroup}}<td><div class="group">{{.Group}}</div></td>{{end}}{{if .Suppressed}}<td colspan="{{if and $p.HasCI $p.HasP}}3{{else if or $p.HasCI $p.HasP}}2{{else}}1{{end}}" class="supp">suppressed: {{.Reason}}</td>{{else}}<td class="num{{if .Sig}} sig{{end}}">{{.Value}}</td>{{if $p.HasCI}}<td class="num">{{.CI}}</td>{{end}}{{if $p.HasP}}<td class="num">{{.P}}</td>{{end}}{{end}}<td class="num">{{.N}}</td><td class="num">{{.Noise}}</td>{{if $p.HasPlanned}}<td class="num">{{.Planned}}</td>{{end}}</tr>
{{end}}</tbody></table>
{{if .Warnings}}<h2>Warnings</h2>
<ul>{{range .Warnings}}<li>{{.}}</li>
{{end}}</ul>{{end}}
</body></html>
`))
