package audit

import (
	"fmt"
	"html/template"
	"io"
	"sort"
	"time"
)

// query is one row of the transparency report.
type query struct {
	ID       string
	Querier  string
	Purpose  string
	Epsilon  float64
	Delta    float64
	Received time.Time
	Released time.Time
	Status   string // released, refused or open
	Reason   string
}

type querierTotal struct {
	Querier  string
	Released int
	Refused  int
	Epsilon  float64
	Delta    float64
}

type activity struct {
	Time   time.Time
	Kind   Kind
	Actor  string
	Detail map[string]string
}

type reportData struct {
	Generated time.Time
	Actors    []string
	Head      Head
	Events    int
	Queries   []query
	Totals    []querierTotal
	Activity  []activity
}

// Report writes a self-contained HTML transparency report of the log in r:
// every query with who asked, for what purpose, at what privacy cost and
// when, whether it was answered or refused (and why), the privacy cost per
// querier, and the federation's other activity. It does not verify
// signatures; run Verify on the same log for that (the report prints the
// head a reader can check against).
func Report(r io.Reader, w io.Writer) error {
	events, head, err := ReadEvents(r)
	if err != nil {
		return err
	}
	d := reportData{Generated: time.Now().UTC(), Head: head, Events: len(events)}
	byID := make(map[string]*query)
	var order []string
	get := func(e Event) *query {
		q, ok := byID[e.QueryID]
		if !ok {
			q = &query{ID: e.QueryID, Status: "open"}
			byID[e.QueryID] = q
			order = append(order, e.QueryID)
		}
		if q.Querier == "" {
			q.Querier = e.Querier
		}
		if q.Purpose == "" {
			q.Purpose = e.Purpose
		}
		if e.Epsilon != 0 || e.Delta != 0 {
			q.Epsilon, q.Delta = e.Epsilon, e.Delta
		}
		return q
	}
	actors := make(map[string]bool)
	for _, e := range events {
		actors[e.Actor] = true
		if e.QueryID == "" {
			d.Activity = append(d.Activity, activity{Time: e.Time, Kind: e.Kind, Actor: e.Actor, Detail: e.Detail})
			continue
		}
		q := get(e)
		switch e.Kind {
		case KindQueryReceived:
			q.Received = e.Time
		case KindPolicyDecision:
			if e.Detail[DetailDecision] == DecisionRefuse {
				q.Status, q.Reason = "refused", e.Detail[DetailReason]
			}
		case KindRelease:
			q.Status, q.Released = "released", e.Time
		}
		if q.Received.IsZero() {
			q.Received = e.Time
		}
	}
	totals := make(map[string]*querierTotal)
	for _, id := range order {
		q := byID[id]
		d.Queries = append(d.Queries, *q)
		t, ok := totals[q.Querier]
		if !ok {
			t = &querierTotal{Querier: q.Querier}
			totals[q.Querier] = t
		}
		switch q.Status {
		case "released":
			t.Released++
			t.Epsilon += q.Epsilon
			t.Delta += q.Delta
		case "refused":
			t.Refused++
		}
	}
	for _, t := range totals {
		d.Totals = append(d.Totals, *t)
	}
	sort.Slice(d.Totals, func(i, j int) bool { return d.Totals[i].Querier < d.Totals[j].Querier })
	for a := range actors {
		d.Actors = append(d.Actors, a)
	}
	sort.Strings(d.Actors)
	if err := reportTemplate.Execute(w, d); err != nil {
		return fmt.Errorf("audit: render report: %w", err)
	}
	return nil
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"num": func(f float64) string { return fmt.Sprintf("%.4g", f) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Jointly transparency report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.released { color: #1a6b1a; } .refused { color: #a11; } .open { color: #777; }
code { font-size: .8rem; word-break: break-all; }
p.note { color: #555; font-size: .9rem; }
</style>
</head>
<body>
<h1>Transparency report</h1>
<p>This report lists every analysis run on customer data held by {{range $i, $a := .Actors}}{{if $i}}, {{end}}<strong>{{$a}}</strong>{{end}}
through the Jointly federation: who asked, for what purpose, and how much privacy it cost.
Results are aggregates over many customers with differential-privacy noise; no individual record is ever shared.
The privacy cost ε (epsilon) measures how much any one customer's data can influence a result: smaller is more private.</p>
<p class="note">Generated {{when .Generated}} from {{.Events}} audit events.
The audit log is signed and hash-chained; its last entry is <code>{{.Head.Seq}}:{{.Head.Hash}}</code>,
which anyone holding the log and the node's certificate can check with <code>jointly audit verify</code>.</p>

<h2>Queries</h2>
{{if .Queries}}<table>
<tr><th>Received</th><th>Query</th><th>Requested by</th><th>Purpose</th><th>ε</th><th>δ</th><th>Outcome</th><th>Answered</th></tr>
{{range .Queries}}<tr>
<td>{{when .Received}}</td><td><code>{{.ID}}</code></td><td>{{.Querier}}</td><td>{{.Purpose}}</td>
<td class="num">{{num .Epsilon}}</td><td class="num">{{num .Delta}}</td>
<td class="{{.Status}}">{{.Status}}{{if .Reason}}: {{.Reason}}{{end}}</td><td>{{when .Released}}</td>
</tr>
{{end}}</table>{{else}}<p>No queries have been received.</p>{{end}}

<h2>Privacy cost per requester</h2>
{{if .Totals}}<table>
<tr><th>Requester</th><th>Answered</th><th>Refused</th><th>Total ε spent</th><th>Total δ spent</th></tr>
{{range .Totals}}<tr><td>{{.Querier}}</td><td class="num">{{.Released}}</td><td class="num">{{.Refused}}</td><td class="num">{{num .Epsilon}}</td><td class="num">{{num .Delta}}</td></tr>
{{end}}</table>
<p class="note">Totals add the costs of answered queries (basic composition), an upper bound on the privacy loss.</p>{{else}}<p>None.</p>{{end}}

<h2>Other activity</h2>
{{if .Activity}}<table>
<tr><th>Time</th><th>Event</th><th>By</th><th>Details</th></tr>
{{range .Activity}}<tr><td>{{when .Time}}</td><td>{{.Kind}}</td><td>{{.Actor}}</td><td>{{range $k, $v := .Detail}}{{$k}}: {{$v}}<br>{{end}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
</body>
</html>
`))
