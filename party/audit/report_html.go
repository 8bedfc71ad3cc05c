package audit

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WriteHTML writes t as a self-contained HTML page: no script, no external
// asset, readable on a 1,280 px screen and printed on A4 landscape.
func (t *Transparency) WriteHTML(w io.Writer) error {
	if err := reportTemplate.Execute(w, t); err != nil {
		return fmt.Errorf("audit: render report: %w", err)
	}
	return nil
}

// Answered counts the queries whose result was released to their
// requester.
func (t *Transparency) Answered() int {
	n := 0
	for _, q := range t.Queries {
		if q.Outcome == OutcomeReleased || !q.Answered.IsZero() { // a refused replay of its id keeps it answered
			n++
		}
	}
	return n
}

// small writes a small number such as δ compactly and without an exponent
// a reader must decode: 1×10⁻⁷, 9.9×10⁻⁶.
func small(f float64) string {
	if f == 0 || math.Abs(f) >= 0.01 {
		return strconv.FormatFloat(f, 'g', 4, 64)
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(f, 'e', 2, 64), "e")
	mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
	n, _ := strconv.Atoi(exp)
	return mant + "×10" + superscript(n)
}

func superscript(n int) string {
	const digits = "⁰¹²³⁴⁵⁶⁷⁸⁹"
	var b strings.Builder
	if n < 0 {
		b.WriteString("⁻")
		n = -n
	}
	for _, c := range strconv.Itoa(n) {
		b.WriteString(string([]rune(digits)[c-'0']))
	}
	return b.String()
}

// outcomeWords explains each outcome, in the order the report lists them.
var outcomeWords = []struct{ Outcome, Words string }{
	{OutcomeReleased, "the result went to the requester."},
	{OutcomeRefused, "an owner's policy or the requester's budget said no, and nothing was charged for it."},
	{OutcomeAdmitted, "this owner agreed, but another owner refused or the query stopped before any charge."},
	{OutcomeAborted, "the query was charged and stopped before its result was released; the charge stands."},
	{OutcomeWithheld, "the query was charged, and this owner then refused to release its result because a column it grouped people by stood in for a protected one (a proxy check on noisy values); the charge stands."},
	{OutcomeCharged, "charged and still running when the report was made."},
	{OutcomeReceived, "received, and stopped before this owner decided anything."},
}

// outcomes explains the outcomes that queries have.
func outcomes(queries []QueryRecord) []struct{ Outcome, Words string } {
	var out []struct{ Outcome, Words string }
	for _, o := range outcomeWords {
		if slices.ContainsFunc(queries, func(q QueryRecord) bool { return q.Outcome == o.Outcome }) {
			out = append(out, o)
		}
	}
	return out
}

// outcomeClass is the colour of an outcome.
func outcomeClass(o string) string {
	switch o {
	case OutcomeReleased:
		return "released"
	case OutcomeRefused:
		return "refused"
	case OutcomeAborted, OutcomeWithheld:
		return "aborted"
	}
	return "pending"
}

// epsScaleSVG draws ε on a log scale from 0.01 to 100, shaded by the
// readings of epsilonScale, with each requester's total ε spent marked.
func epsScaleSVG(t *Transparency) template.HTML {
	const width, left, right = 640, 20, 620
	x := func(eps float64) float64 {
		eps = math.Min(math.Max(eps, 0.01), 100)
		return left + (math.Log10(eps)+2)/4*(right-left)
	}
	var marks []RequesterTotal
	for _, r := range t.Requesters {
		if r.EpsilonSpent > 0 {
			marks = append(marks, r)
		}
	}
	top := 16 * len(marks)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="privacy cost ε on a scale from 0.01 to 100">`, width, top+46, width, top+46)
	for _, z := range []struct {
		from, to float64
		fill     string
	}{{0.01, 1, "#cde7cd"}, {1, 5, "#f1e4ad"}, {5, 100, "#f0c4b4"}} {
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="12" fill="%s"/>`, x(z.from), top+8, x(z.to)-x(z.from), z.fill)
	}
	for _, tick := range []float64{0.01, 0.1, 1, 10, 100} {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#555"/><text x="%.1f" y="%d" text-anchor="middle">ε %g</text>`,
			x(tick), top+8, x(tick), top+24, x(tick), top+38, tick)
	}
	for i, r := range marks {
		y := 12 + 16*i
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#222" stroke-width="2"/>`, x(r.EpsilonSpent), y-2, x(r.EpsilonSpent), top+20)
		anchor := "start"
		tx := x(r.EpsilonSpent) + 5
		if tx > right-160 {
			anchor, tx = "end", x(r.EpsilonSpent)-5
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="%s">%s: ε %s spent</text>`, tx, y+2, anchor,
			template.HTMLEscapeString(r.Requester), strconv.FormatFloat(r.EpsilonSpent, 'g', 4, 64))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"day":          func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"clock":        func(t time.Time) string { return t.UTC().Format("15:04:05 UTC") },
	"eps":          func(f float64) string { return strconv.FormatFloat(f, 'g', 4, 64) },
	"small":        small,
	"outcomeClass": outcomeClass,
	"outcomes":     outcomes,
	"join":         func(s []string) string { return strings.Join(s, ", ") },
	"scale":        func() any { return epsilonScale },
	"epsScale":     epsScaleSVG,
	"list": func(s []string) string {
		switch len(s) {
		case 0:
			return ""
		case 1:
			return s[0]
		}
		return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Transparency report{{if .Owners}} of {{list .Owners}}{{end}}</title>
<style>
*{box-sizing:border-box;-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:#1b1b1b;margin:0 auto;max-width:1200px;padding:16px 24px}
h1{font-size:22px;margin:4px 0 8px}
h2{font-size:17px;margin:26px 0 6px;padding-bottom:2px;border-bottom:1px solid #ccc}
p{max-width:900px;margin:6px 0}
table{border-collapse:collapse;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#f3f3f3;font-weight:600}
th.num,td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.nowrap{white-space:nowrap}
.note{color:#555;font-size:13px}
code{font-size:12px}
code.id{display:inline-block;max-width:8.6em;word-break:break-all;font-size:11px;line-height:1.25}
td.cols{font-size:12px;max-width:330px}
td.outcome{max-width:260px}
.released{color:#1a6b1a}.refused{color:#a11}.aborted{color:#a35a00}.pending{color:#666}
.why{display:block;color:#333;font-size:12px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:6px 0}
dl.meta dt{font-weight:600}
dl.meta dd{margin:0}
svg text{font-size:11px;fill:#333;font-family:inherit}
.missing{color:#777}
@page{size:A4 landscape;margin:10mm}
@media print{body{max-width:none;padding:0;font-size:12px} h2{break-after:avoid} tr{break-inside:avoid} thead{display:table-header-group} .keep{break-inside:avoid}}
</style>
</head>
<body>
<h1>Transparency report{{if .Owners}} of {{list .Owners}}{{end}}</h1>
<p>This report lists every analysis run on the customer data held by {{if .Owners}}<strong>{{list .Owners}}</strong>{{else}}this data owner{{end}}
through the Jointly federation: who asked, for what purpose, which columns of this data it used, how much privacy it cost, and what happened.
Answers are statistics over many customers with random noise added (differential privacy); no customer's record is ever shared.</p>
<dl class="meta">
<dt>Generated</dt><dd>{{when .Generated}}</dd>
<dt>Source</dt><dd>{{.Events}} entries of the signed audit log: {{len .Queries}} queries, of which {{.Answered}} answered ({{.Releases}} releases: each answered query's noisy counts, then its result)</dd>
<dt>Last entry</dt><dd><code>{{.Head}}</code>: with the log and this owner's certificate, anyone can check with <code>jointly audit verify</code> that the log was not changed.</dd>
</dl>

<h2>What the privacy cost means</h2>
<div class="keep">
<p>Every answer has random noise added before it leaves the owners. The privacy cost <strong>ε</strong> (epsilon) measures how much any one customer's record can change an answer:
with or without that record, any answer becomes at most e<sup>ε</sup> times more or less likely. Smaller is more private.
Costs add up: each requester's total ε over all its queries is what its budget caps.</p>
<table>
<thead><tr><th class="num">ε of a query</th><th class="num">one record can make an answer up to</th><th>a common reading</th></tr></thead>
<tbody>{{range scale}}<tr><td class="num">{{.Epsilon}}</td><td class="num">{{.Factor}} more likely</td><td>{{.Words}}</td></tr>
{{end}}</tbody></table>
{{epsScale .}}
<p class="note"><strong>δ</strong> (delta) is the small probability that this guarantee does not hold. It should be far smaller than one divided by the number of customers: a δ of 1×10⁻⁷ is one in ten million.</p>
</div>

<h2>Privacy budget per requester</h2>
{{if .Requesters}}<table>
<thead><tr><th>Requester</th><th class="num">Queries</th><th class="num">Released</th><th class="num">Refused</th><th class="num">Charged</th>
<th class="num">ε spent</th><th class="num">ε budget</th><th class="num">ε left</th><th class="num">δ spent</th><th class="num">δ budget</th><th class="num">δ left</th></tr></thead>
<tbody>{{range .Requesters}}<tr><td>{{.Requester}}</td><td class="num">{{.Queries}}</td><td class="num">{{.Released}}</td><td class="num">{{.Refused}}</td><td class="num">{{.Charged}}</td>
<td class="num">{{eps .EpsilonSpent}}</td>{{if .Budget}}<td class="num">{{eps .Budget.Epsilon}}</td><td class="num">{{eps .Left.Epsilon}}</td>{{else}}<td class="num missing">{{if $.BudgetsKnown}}none{{else}}—{{end}}</td><td class="num missing">—</td>{{end}}
<td class="num">{{small .DeltaSpent}}</td>{{if .Budget}}<td class="num">{{small .Budget.Delta}}</td><td class="num">{{small .Left.Delta}}</td>{{else}}<td class="num missing">{{if $.BudgetsKnown}}none{{else}}—{{end}}</td><td class="num missing">—</td>{{end}}</tr>
{{end}}</tbody></table>
<p class="note">Spent adds up the costs of every charged query, an upper bound on the privacy loss; it equals the owner's budget ledger. A query is charged once, when every owner has checked it, and releases at most once: a query charged and then stopped (for example because a node failed) still counts.
{{if .BudgetsKnown}}Budgets are the owner's current configuration; a requester the configuration does not list has none and can ask nothing.{{else}}Budgets are not in the log: this report was made without the owner's configuration (jointly audit report --config NODE.hcl shows them).{{end}}</p>
{{else}}<p>No requester has a budget or asked anything.</p>{{end}}

<h2>Queries</h2>
{{if .Queries}}<table>
<thead><tr><th>Received</th><th>Query id</th><th>Requester</th><th>Purpose</th><th>Columns used here</th><th class="num">ε</th><th class="num">δ</th><th>Outcome</th></tr></thead>
<tbody>{{range .Queries}}<tr>
<td class="nowrap">{{if .Received.IsZero}}—{{else}}{{day .Received}}<br>{{clock .Received}}{{end}}</td><td><code class="id">{{.ID}}</code></td><td>{{.Requester}}</td><td>{{.Purpose}}</td>
<td class="cols">{{if .Columns}}{{join .Columns}}{{else}}<span class="missing">not recorded</span>{{end}}</td>
<td class="num">{{eps .Epsilon}}</td><td class="num">{{small .Delta}}</td>
<td class="outcome"><span class="{{outcomeClass .Outcome}}">{{.Outcome}}</span>{{if not .Answered.IsZero}}<span class="why">{{when .Answered}}</span>{{end}}{{if .Reason}}<span class="why">{{.Reason}}</span>{{end}}</td>
</tr>
{{end}}</tbody></table>
<p class="note">{{range outcomes .Queries}}<b>{{.Outcome}}</b>: {{.Words}} {{end}}</p>
{{else}}<p>No queries have been received.</p>{{end}}

<h2>Other activity</h2>
{{if .Activity}}<table>
<thead><tr><th>Time</th><th>Event</th><th>What happened</th></tr></thead>
<tbody>{{range .Activity}}<tr><td class="nowrap">{{when .Time}}</td><td class="nowrap">{{.Event}}</td><td>{{.Text}}</td></tr>
{{end}}</tbody></table>{{else}}<p>None.</p>{{end}}
</body>
</html>
`))
