package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// The transparency report: what a node's audit log says was done with the
// data it holds, for a data-protection officer and for customers. One
// Transparency value is rendered two ways, as a self-contained HTML page
// (report_html.go) and as JSON with the same content for programs.

// Budget is a requester's lifetime privacy budget at the log's owner, as
// the owner's configuration sets it. The log does not record budgets, so
// the report shows them only when it is given them.
type Budget struct {
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
}

// ReportOptions are what a report needs besides the log.
type ReportOptions struct {
	// Budgets are the requesters' budgets at the log's owner (the node's
	// configured queriers); with them the report shows what each has left.
	Budgets map[string]Budget
	// Now is when the report is generated; zero means now.
	Now time.Time
}

// Transparency is the content of a transparency report. Every figure is
// counted from the log's own events (a charge is an allow decision, a
// release a release event), so the report cannot disagree with the log;
// budgets come from ReportOptions.
type Transparency struct {
	Generated time.Time `json:"generated"`
	// Owners are the nodes that wrote the log (one, normally).
	Owners []string `json:"owners"`
	// Head is the log's last line, SEQ:HASH, which `jointly audit verify
	// --anchor` checks a later copy of the log against.
	Head     string `json:"head"`
	Events   int    `json:"events"`
	Releases int    `json:"releases"`
	// BudgetsKnown reports whether the requesters' budgets were given.
	BudgetsKnown bool             `json:"budgets_known"`
	Queries      []QueryRecord    `json:"queries"`
	Requesters   []RequesterTotal `json:"requesters"`
	Activity     []ActivityRecord `json:"activity"`
}

// QueryRecord is one submission of a query id (a replayed id is a record
// of its own, refused).
type QueryRecord struct {
	ID        string    `json:"query_id"`
	Received  time.Time `json:"received,omitzero"`
	Answered  time.Time `json:"answered,omitzero"`
	Requester string    `json:"requester"`
	Purpose   string    `json:"purpose"`
	// Columns are the owner's columns the query used, as the owner
	// recorded them when it received the query.
	Columns []string `json:"columns"`
	Epsilon float64  `json:"epsilon"`
	Delta   float64  `json:"delta"`
	// Outcome is one of the Outcome constants; Reason says why a query
	// was refused or aborted, in plain words, and ReasonLogged as the log
	// has it.
	Outcome      string `json:"outcome"`
	Reason       string `json:"reason,omitempty"`
	ReasonLogged string `json:"reason_logged,omitempty"`
	// Charged reports an allow decision: the query's cost is spent.
	Charged bool `json:"charged"`
	// Releases counts the query's release events at the log's owner: the
	// noisy counts the owners decrypt together, then the result to the
	// requester.
	Releases int `json:"releases"`
}

// Query outcomes, as the report words them.
const (
	OutcomeReleased = "released"
	OutcomeRefused  = "refused"
	OutcomeReceived = "received, no decision"
	OutcomeAdmitted = "admitted, nothing charged"
	OutcomeCharged  = "charged, running"
	OutcomeAborted  = "aborted after charge"
	// OutcomeWithheld is a charged query whose result this owner refused
	// to release after the charge: its proxy check found a grouping column
	// standing in for a protected one (docs/governance.md, "Proxy checks").
	OutcomeWithheld = "withheld after charge"
)

// RequesterTotal is what one requester asked and spent at the log's owner.
type RequesterTotal struct {
	Requester string `json:"requester"`
	Queries   int    `json:"queries"`
	Released  int    `json:"released"`
	Refused   int    `json:"refused"`
	// Charged is how many queries were charged; EpsilonSpent and
	// DeltaSpent add up their costs, as the budget ledger does.
	Charged      int     `json:"charged"`
	Releases     int     `json:"releases"`
	EpsilonSpent float64 `json:"epsilon_spent"`
	DeltaSpent   float64 `json:"delta_spent"`
	// Budget and Left are set when the report was given the budgets; a
	// requester without one there has none (nil Budget, and Left nil).
	Budget *Budget `json:"budget,omitempty"`
	Left   *Budget `json:"left,omitempty"`
}

// ActivityRecord is an event that is not about a query (setup, matching,
// the budget ledger), in plain words.
type ActivityRecord struct {
	Time  time.Time `json:"time"`
	Event string    `json:"event"`
	Text  string    `json:"text"`
	Kind  Kind      `json:"kind"`
}

// Summarize reads a log and counts what it records.
func Summarize(r io.Reader, opts ReportOptions) (*Transparency, error) {
	events, head, err := ReadEvents(r)
	if err != nil {
		return nil, err
	}
	t := summarize(events, opts.Budgets)
	t.Generated, t.Head = opts.Now, head.String()
	if t.Generated.IsZero() {
		t.Generated = time.Now()
	}
	t.Generated = t.Generated.UTC()
	return t, nil
}

// Report writes the HTML transparency report of the log in r, without
// budgets. It does not verify signatures; run Verify on the same log for
// that (the report prints the head a reader can check against).
func Report(r io.Reader, w io.Writer) error {
	t, err := Summarize(r, ReportOptions{})
	if err != nil {
		return err
	}
	return t.WriteHTML(w)
}

// WriteJSON writes t as indented JSON.
func (t *Transparency) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(t); err != nil {
		return fmt.Errorf("audit: report: %w", err)
	}
	return nil
}

// summarize folds the events into the report's records and totals.
func summarize(events []Event, budgets map[string]Budget) *Transparency {
	t := &Transparency{Events: len(events), BudgetsKnown: budgets != nil}
	var rows []*QueryRecord
	latest := make(map[string]*QueryRecord) // query id → its latest submission
	actors := make(map[string]bool)
	for _, e := range events {
		actors[e.Actor] = true
		if e.QueryID == "" {
			t.Activity = append(t.Activity, activityRecord(e))
			continue
		}
		q, ok := latest[e.QueryID]
		if !ok || e.Kind == KindQueryReceived {
			q = &QueryRecord{ID: e.QueryID, Outcome: OutcomeReceived, Received: e.Time}
			latest[e.QueryID] = q
			rows = append(rows, q)
		}
		if q.Requester == "" {
			q.Requester = e.Querier
		}
		if q.Purpose == "" {
			q.Purpose = e.Purpose
		}
		if e.Epsilon != 0 || e.Delta != 0 {
			q.Epsilon, q.Delta = e.Epsilon, e.Delta
		}
		switch e.Kind {
		case KindQueryReceived:
			if cols := e.Detail["columns"]; cols != "" {
				q.Columns = strings.Split(cols, ",")
			}
		case KindPolicyDecision:
			switch e.Detail[DetailDecision] {
			case DecisionRefuse:
				q.Outcome = OutcomeRefused
				if q.Charged {
					q.Outcome = OutcomeWithheld
				}
				q.setReason(e.Detail[DetailReason])
			case DecisionAdmit:
				if q.Outcome == OutcomeReceived {
					q.Outcome = OutcomeAdmitted
				}
			case DecisionAllow:
				q.Charged = true
				if q.Outcome == OutcomeReceived || q.Outcome == OutcomeAdmitted {
					q.Outcome = OutcomeCharged
				}
			}
		case KindQueryAborted:
			if q.Outcome != OutcomeReleased && q.Outcome != OutcomeWithheld {
				q.Outcome = OutcomeAborted
				q.setReason(e.Detail[DetailReason])
			}
		case KindRelease:
			q.Releases++
			t.Releases++
			if stage := e.Detail[DetailStage]; stage == "" || stage == StageResult {
				q.Outcome, q.Answered = OutcomeReleased, e.Time
			}
		}
	}
	totals := make(map[string]*RequesterTotal)
	for _, q := range rows {
		if q.Columns == nil {
			q.Columns = []string{}
		}
		t.Queries = append(t.Queries, *q)
		tot, ok := totals[q.Requester]
		if !ok {
			tot = &RequesterTotal{Requester: q.Requester}
			totals[q.Requester] = tot
		}
		tot.Queries++
		tot.Releases += q.Releases
		switch q.Outcome {
		case OutcomeReleased:
			tot.Released++
		case OutcomeRefused, OutcomeWithheld:
			tot.Refused++
		}
		if q.Charged {
			tot.Charged++
			tot.EpsilonSpent += q.Epsilon
			tot.DeltaSpent += q.Delta
		}
	}
	// A requester with a budget and no query yet is listed too.
	for name := range budgets {
		if _, ok := totals[name]; !ok {
			totals[name] = &RequesterTotal{Requester: name}
		}
	}
	for _, tot := range totals {
		if b, ok := budgets[tot.Requester]; ok {
			tot.Budget = &b
			tot.Left = &Budget{Epsilon: max(0, b.Epsilon-tot.EpsilonSpent), Delta: max(0, b.Delta-tot.DeltaSpent)}
		}
		t.Requesters = append(t.Requesters, *tot)
	}
	sort.Slice(t.Requesters, func(i, j int) bool { return t.Requesters[i].Requester < t.Requesters[j].Requester })
	for a := range actors {
		t.Owners = append(t.Owners, a)
	}
	sort.Strings(t.Owners)
	if t.Queries == nil {
		t.Queries = []QueryRecord{}
	}
	return t
}

// setReason records why a query was refused or aborted: in plain words,
// and as logged.
func (q *QueryRecord) setReason(logged string) {
	q.ReasonLogged = logged
	q.Reason = plainReason(logged)
}
