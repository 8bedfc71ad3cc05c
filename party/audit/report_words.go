package audit

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Plain words for the transparency report: refusal and abort reasons
// without the error chains the log keeps, and the log's other events
// (setup, matching, the budget ledger) as sentences rather than fields.

// reasonNoise are the parts of a logged reason that name the software
// rather than the reason: package prefixes ("party: "), gRPC's framing,
// and the policy sentinel whose owner and reason follow.
var reasonNoise = []*regexp.Regexp{
	regexp.MustCompile(`\b(?:party|ledger|audit|journal|stats|aggregate|crypto|upload|match|pki|queryfile|source|dp): `),
	regexp.MustCompile(`rpc error: code = \w+ desc = `),
	regexp.MustCompile(`refused by policy: `),
}

// reasonCall is the call and peer a node prefixes to a peer's error
// ("upload on insurer: "): the report keeps the peer.
var reasonCall = regexp.MustCompile(`\b(?:abort|admit|hello|info|match|prepare|release|submit|upload) on ([A-Za-z0-9][A-Za-z0-9_-]*): `)

// reasonTwice is a refusal that names its owner twice ("refused by
// insurer: insurer refuses: purpose …").
var reasonTwice = regexp.MustCompile(`refused by ([A-Za-z0-9_-]+): ([A-Za-z0-9_-]+) refuses: `)

// reasonTransport are failures of the connection to a peer, which a reader
// needs in words, not as a dialer's message.
var reasonTransport = []struct {
	re    *regexp.Regexp
	words string
}{
	{regexp.MustCompile(`(?i)connection refused|error while dialing|no such host|node not ready|connection reset|code = Unavailable`), "could not be reached"},
	{regexp.MustCompile(`(?i)deadline exceeded`), "did not answer in time"},
}

// plainReason words a refusal or abort reason for a reader: the owner's
// reason as it gave it, without package prefixes and error chains, and a
// failure to reach a peer as just that.
func plainReason(logged string) string {
	s := logged
	for _, re := range reasonNoise {
		s = re.ReplaceAllString(s, "")
	}
	s = reasonTwice.ReplaceAllStringFunc(s, func(m string) string {
		if sub := reasonTwice.FindStringSubmatch(m); sub[1] == sub[2] {
			return "refused by " + sub[1] + ": "
		}
		return m
	})
	peer := ""
	if m := reasonCall.FindStringSubmatch(s); m != nil {
		peer = m[1]
		s = reasonCall.ReplaceAllString(s, "$1: ")
	}
	for _, t := range reasonTransport {
		if t.re.MatchString(s) {
			if peer == "" {
				return "a node " + t.words
			}
			if i := strings.Index(s, peer+": "); i >= 0 {
				return s[:i] + peer + " " + t.words
			}
			return peer + " " + t.words
		}
	}
	return strings.TrimSpace(s)
}

// activityRecord words an event that is not about a query.
func activityRecord(e Event) ActivityRecord {
	a := ActivityRecord{Time: e.Time, Kind: e.Kind}
	d := e.Detail
	switch e.Kind {
	case KindSetup:
		a.Event = "Federation keys"
		switch d["step"] {
		case "key generation":
			a.Text = "Key generation started with the data owners " + strings.ReplaceAll(d["owners"], ",", ", ") +
				". The federation's decryption key is split between the owners: no one of them can decrypt alone."
		case "collective keys ready":
			a.Text = "The federation's keys are ready: the owners can answer joint queries on encrypted data."
		default:
			a.Text = "Setup: " + d["step"]
		}
	case KindMatching:
		a.Event = "Private matching"
		// No count: the exact number of customers taking part changes by
		// one with one customer's opt-out, so the public report leaves it
		// (and the union's size) to the signed log, as it releases the
		// consent counts only with differential privacy.
		a.Text = "The customer records of this owner were matched"
		if d["peer"] != "" {
			a.Text += " with those of " + d["peer"]
		}
		a.Text += ". Identifiers are exchanged only in blinded form; both sides learn how many customers they have together."
		if kinds := d[DetailJoinKeys]; strings.Contains(kinds, ",") {
			computed, sizes := "this owner", cmp.Or(d["peer"], "the other owner")
			if d["role"] != "A" {
				computed, sizes = sizes, computed
			}
			a.Text += " Customers were matched on " + strings.ReplaceAll(kinds, ",", ", then ") + "; " + computed +
				" computed the pairing and so also learned how many pairs agreed on which identifier, " + sizes + " only the sizes."
		}
	case KindLedgerAnchor:
		a.Event = "Budget ledger"
		switch {
		case d["rebuilt_from_audit_log"] != "":
			a.Text = fmt.Sprintf("The budget ledger was rebuilt from this log: its %s charges were charged again, so no spent budget came back.", d["rebuilt_from_audit_log"])
		default:
			a.Text = fmt.Sprintf("The budget ledger held %s charges this log had not recorded yet; they are recorded here now.", d["unanchored_charges"])
		}
	case KindAuditLoss:
		a.Event = "Lost log events"
		a.Text = fmt.Sprintf("This log was put back from an older copy: %s had seen it reach event %s, and the events after event %s up to that one are lost, "+
			"with the budget they charged. %s was told, and works with this node again.",
			nonEmpty(d[DetailPeer], "another owner"), headSeq(d[DetailWitnessedHead]), headSeq(d["log_head"]), nonEmpty(d[DetailPeer], "That owner"))
	case KindPeerAuditLoss:
		a.Event = "Another owner's lost log events"
		a.Text = fmt.Sprintf("%s's audit log ended before event %s, which this owner had seen; %s recorded that those events are lost, "+
			"with the budget they charged, and this owner works with it again.",
			nonEmpty(d[DetailPeer], "Another owner"), headSeq(d[DetailWitnessedHead]), nonEmpty(d[DetailPeer], "it"))
	case KindBoundsEstimated:
		a.Event = "Column bounds"
		a.Text = boundsText(e)
	case KindConsentCounted:
		a.Event = "Consent"
		a.Text = consentText(e)
	case kindPlan:
		a.Event = "Accuracy plan"
		a.Text = fmt.Sprintf("%s asked how precise a query for %s", nonEmpty(e.Querier, "a requester"), nonEmpty(e.Purpose, "an unstated purpose"))
		if d["columns"] != "" {
			a.Text += " over " + d["columns"] + " columns"
		}
		if d["owners"] != "" {
			a.Text += " of " + strings.ReplaceAll(d["owners"], ",", ", ")
		}
		if d["planned_epsilon"] != "" {
			a.Text += " would be at ε = " + d["planned_epsilon"]
		} else {
			a.Text += " would be"
		}
		a.Text += "; no data was read, nothing charged or released."
		if r := d["would_refuse"]; r != "" {
			a.Text += " This owner would refuse it: " + plainReason(r) + "."
		}
	default:
		a.Event = strings.ReplaceAll(string(e.Kind), "_", " ")
		if a.Event != "" {
			a.Event = strings.ToUpper(a.Event[:1]) + a.Event[1:]
		}
		var parts []string
		for k, v := range d {
			if internalDetail(k) {
				continue
			}
			parts = append(parts, strings.ReplaceAll(k, "_", " ")+": "+v)
		}
		sort.Strings(parts)
		a.Text = strings.Join(parts, "; ")
	}
	return a
}

// boundsText words an estimate of a column's bounds: "The node estimated
// the bounds of column spend_alcohol with ε = 0.1: [0, 2720] …".
func boundsText(e Event) string {
	d := e.Detail
	t := fmt.Sprintf("The node estimated the bounds of column %s with ε = %g", nonEmpty(d[DetailColumn], "?"), e.Epsilon)
	if d["lo"] != "" && d["hi"] != "" {
		t += fmt.Sprintf(": [%s, %s]", d["lo"], d["hi"])
	}
	if q, err := strconv.ParseFloat(d["quantile"], 64); err == nil {
		above := strconv.FormatFloat(100*(1-q), 'g', 3, 64)
		if d["estimated"] == "hi" {
			t += fmt.Sprintf(" (lo as declared; hi chosen so that about %s %% of the values lie above it)", above)
		} else {
			t += fmt.Sprintf(" (chosen so that about %s %% of the values lie below lo and %s %% above hi)", above, above)
		}
	}
	t += ". This spent the owner's own privacy budget, not a requester's"
	if left := d["remaining_epsilon"]; left != "" {
		t += " (ε = " + left + " of it left)"
	}
	return t + ". The bounds are public: every query over the column clips its values to them."
}

// kindPlan is the event of a querier's accuracy planner (party.KindPlan):
// no query id, nothing charged.
const kindPlan Kind = "plan"

func nonEmpty(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// internalDetail reports a detail key only the software needs (digests,
// session ids, protocol roles, chain heads).
func internalDetail(k string) bool {
	for _, s := range []string{"digest", "session", "role", "head"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// epsilonScale is the report's plain-language scale of ε for one query:
// how much more likely any one answer can become because of one person's
// record (e^ε), and a common reading of it.
var epsilonScale = []struct {
	Epsilon       float64
	Factor, Words string
}{
	{0.1, "1.1×", "very strong protection: an answer barely depends on any one person"},
	{1, "2.7×", "strong protection"},
	{3, "20×", "moderate protection"},
	{8, "about 3,000×", "weak protection for a single person: acceptable only for coarse statistics over many people"},
	{16, "about 9 million×", "little protection from the noise alone"},
}

// consentText words a release of the consent counts: how many records each
// purpose may use, as the node released them with noise.
func consentText(e Event) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(e.Detail)) {
		if p, ok := strings.CutPrefix(k, "purpose."); ok {
			parts = append(parts, fmt.Sprintf("%s: about %s", p, e.Detail[k]))
		}
	}
	return fmt.Sprintf("Records this node may use for each purpose, those whose owners consented to it (counted with differential privacy at ε = %g from the node's own budget, so each count is within a few dozen of the truth): %s.",
		e.Epsilon, strings.Join(parts, "; "))
}

// headSeq is the sequence number of a head SEQ:HASH.
func headSeq(h string) string {
	seq, _, _ := strings.Cut(h, ":")
	return nonEmpty(seq, "?")
}
