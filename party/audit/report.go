package audit

import (
	"fmt"
	"html/template"
	"io"
	"sort"
	"time"
)

// query is one row of the transparency report: one submission of a query
// id (a replayed id is a row of its own, refused).
type query struct {
	ID       string
	Querier  string
	Purpose  string
	Epsilon  float64
	Delta    float64
	Received time.Time
	Released time.Time
	Status   string // see the status constants
	Reason   string
	Charged  bool
	// Releases counts the release events of this query at the log's
	// owner: the noisy counts the owners decrypt together, then the result
	// to the requester.
	Releases int
}

// Query outcomes, as the report words them.
const (
	statusReleased = "released"
	statusRefused  = "refused"
	statusReceived = "received, no decision"
	statusAdmitted = "admitted, nothing charged"
	statusCharged  = "charged, running"
	statusAborted  = "aborted after charge"
)

type querierTotal struct {
	Querier  string
	Released int
	Refused  int
	// Charged is how many queries were charged; Epsilon and Delta add up
	// their costs, as the budget ledger does.
	Charged  int
	Releases int
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
	Releases  int
	Queries   []query
	Totals    []querierTotal
	Activity  []activity
}

// Report writes a self-contained HTML transparency report of the log in r:
// every query with who asked, for what purpose, at what privacy cost and
// when, whether it was answered or refused (and why), the privacy cost per
// querier, and the federation's other activity. Every figure is counted
// from the log's own events (a charge is an allow decision, a release a
// release event), so the report cannot disagree with the log. It does not
// verify signatures; run Verify on the same log for that (the report
// prints the head a reader can check against).
func Report(r io.Reader, w io.Writer) error {
	events, head, err := ReadEvents(r)
	if err != nil {
		return err
	}
	d := summarize(events)
	d.Generated, d.Head = time.Now().UTC(), head
	if err := reportTemplate.Execute(w, d); err != nil {
		return fmt.Errorf("audit: render report: %w", err)
	}
	return nil
}

// summarize folds the events into the report's rows and totals.
func summarize(events []Event) reportData {
	d := reportData{Events: len(events)}
	var rows []*query
	latest := make(map[string]*query) // query id → its latest submission
	actors := make(map[string]bool)
	for _, e := range events {
		actors[e.Actor] = true
		if e.QueryID == "" {
			d.Activity = append(d.Activity, activity{Time: e.Time, Kind: e.Kind, Actor: e.Actor, Detail: e.Detail})
			continue
		}
		q, ok := latest[e.QueryID]
		if !ok || e.Kind == KindQueryReceived {
			q = &query{ID: e.QueryID, Status: statusReceived, Received: e.Time}
			latest[e.QueryID] = q
			rows = append(rows, q)
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
		switch e.Kind {
		case KindPolicyDecision:
			switch e.Detail[DetailDecision] {
			case DecisionRefuse:
				q.Status, q.Reason = statusRefused, e.Detail[DetailReason]
			case DecisionAdmit:
				if q.Status == statusReceived {
					q.Status = statusAdmitted
				}
			case DecisionAllow:
				q.Charged = true
				if q.Status == statusReceived || q.Status == statusAdmitted {
					q.Status = statusCharged
				}
			}
		case KindQueryAborted:
			if q.Status != statusReleased {
				q.Status, q.Reason = statusAborted, e.Detail[DetailReason]
			}
		case KindRelease:
			q.Releases++
			d.Releases++
			if stage := e.Detail[DetailStage]; stage == "" || stage == StageResult {
				q.Status, q.Released = statusReleased, e.Time
			}
		}
	}
	totals := make(map[string]*querierTotal)
	for _, q := range rows {
		d.Queries = append(d.Queries, *q)
		t, ok := totals[q.Querier]
		if !ok {
			t = &querierTotal{Querier: q.Querier}
			totals[q.Querier] = t
		}
		t.Releases += q.Releases
		switch q.Status {
		case statusReleased:
			t.Released++
		case statusRefused:
			t.Refused++
		}
		if q.Charged {
			t.Charged++
			t.Epsilon += q.Epsilon
			t.Delta += q.Delta
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
	return d
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"num": func(f float64) string { return fmt.Sprintf("%.4g", f) },
	"statusClass": func(s string) string {
		switch s {
		case statusReleased:
			return "released"
		case statusRefused:
			return "refused"
		case statusAborted:
			return "aborted"
		}
		return "pending"
	},
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
.released { color: #1a6b1a; } .refused { color: #a11; } .aborted { color: #a60; } .pending { color: #777; }
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
<p class="note">Generated {{when .Generated}} from {{.Events}} audit events, of which {{.Releases}} releases.
The audit log is signed and hash-chained; its last entry is <code>{{.Head.Seq}}:{{.Head.Hash}}</code>,
which anyone holding the log and the node's certificate can check with <code>jointly audit verify</code>.</p>

<h2>Queries</h2>
{{if .Queries}}<table>
<tr><th>Received</th><th>Query</th><th>Requested by</th><th>Purpose</th><th>ε</th><th>δ</th><th>Outcome</th><th>Releases</th><th>Answered</th></tr>
{{range .Queries}}<tr>
<td>{{when .Received}}</td><td><code>{{.ID}}</code></td><td>{{.Querier}}</td><td>{{.Purpose}}</td>
<td class="num">{{num .Epsilon}}</td><td class="num">{{num .Delta}}</td>
<td class="{{statusClass .Status}}">{{.Status}}{{if .Reason}}: {{.Reason}}{{end}}</td><td class="num">{{.Releases}}</td><td>{{when .Released}}</td>
</tr>
{{end}}</table>{{else}}<p>No queries have been received.</p>{{end}}

<h2>Privacy cost per requester</h2>
{{if .Totals}}<table>
<tr><th>Requester</th><th>Answered</th><th>Refused</th><th>Charged</th><th>Releases</th><th>Total ε spent</th><th>Total δ spent</th></tr>
{{range .Totals}}<tr><td>{{.Querier}}</td><td class="num">{{.Released}}</td><td class="num">{{.Refused}}</td><td class="num">{{.Charged}}</td><td class="num">{{.Releases}}</td><td class="num">{{num .Epsilon}}</td><td class="num">{{num .Delta}}</td></tr>
{{end}}</table>
<p class="note">Totals add the costs of every charged query (basic composition), an upper bound on the privacy loss; they equal the node's budget ledger.
A query is charged once, when every check passed, and releases at most once: a query charged but not answered (for example because another owner refused it or a node failed) still counts.</p>{{else}}<p>None.</p>{{end}}

<h2>Other activity</h2>
{{if .Activity}}<table>
<tr><th>Time</th><th>Event</th><th>By</th><th>Details</th></tr>
{{range .Activity}}<tr><td>{{when .Time}}</td><td>{{.Kind}}</td><td>{{.Actor}}</td><td>{{range $k, $v := .Detail}}{{$k}}: {{$v}}<br>{{end}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
</body>
</html>
`))
