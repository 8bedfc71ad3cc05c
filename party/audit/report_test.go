package audit

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPlainReason(t *testing.T) {
	for _, tc := range []struct{ logged, want string }{
		{`purpose "underwriting" is not allowed (allowed: research)`, `purpose "underwriting" is not allowed (allowed: research)`},
		{`refused by insurer: purpose "marketing" is not allowed (allowed: research)`, `refused by insurer: purpose "marketing" is not allowed (allowed: research)`},
		{`refused by insurer: party: refused by policy: insurer refuses: column "claims_hiv_related" is excluded by policy`, `refused by insurer: column "claims_hiv_related" is excluded by policy`},
		{`one charge buys one release: ledger: query id already used: q-1 was charged before; a retry is a new query with a new id, charged again`,
			`one charge buys one release: query id already used: q-1 was charged before; a retry is a new query with a new id, charged again`},
		{`privacy budget: ledger: querier has no budget: "mallory"`, `privacy budget: querier has no budget: "mallory"`},
		{`retailer stopped the query: party: upload on insurer: party: node not ready: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:7102: connect: connection refused"`,
			`retailer stopped the query: insurer could not be reached`},
		{`party: release on insurer: context deadline exceeded`, `insurer did not answer in time`},
		{`no release within 40m0s of the charge`, `no release within 40m0s of the charge`},
		{`the node stopped before the query completed`, `the node stopped before the query completed`},
	} {
		if got := plainReason(tc.logged); got != tc.want {
			t.Errorf("plainReason(%q)\n = %q\nwant %q", tc.logged, got, tc.want)
		}
	}
}

// TestTransparencyJSON: the JSON beside the HTML has the same content,
// and reads back to it.
func TestTransparencyJSON(t *testing.T) {
	path := writeLog(t, t.TempDir())
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	tr, err := Summarize(f, ReportOptions{Budgets: map[string]Budget{"alice": {Epsilon: 10, Delta: 1e-5}}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := tr.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var back Transparency
	if err := json.Unmarshal(out.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, tr) {
		t.Fatalf("JSON reads back as\n%+v\nwant\n%+v", back, *tr)
	}
	for _, want := range []string{`"requester": "alice"`, `"epsilon_spent": 0.5`, `"left": {`, `"outcome": "refused"`, `"reason": "purpose not allowed"`, `"generated": "2026-12-01T08:00:00Z"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("JSON lacks %s:\n%s", want, out.String())
		}
	}
	var html bytes.Buffer
	if err := tr.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	// bob has no budget in the configuration: the page says so.
	for _, want := range []string{"alice", "9.5", "none", "alice: ε 0.5 spent", "diet and diabetes study"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, jargon := range []string{"role: ", "crs_digest", "session: ", "ledger_head", "digest: "} {
		if strings.Contains(html.String(), jargon) {
			t.Errorf("HTML has %q", jargon)
		}
	}
}

// TestActivityWords: events that are not queries read as sentences, with
// no protocol field.
func TestActivityWords(t *testing.T) {
	for _, tc := range []struct {
		e    Event
		want string
	}{
		{Event{Kind: KindMatching, Detail: map[string]string{"peer": "insurer", "records": "46031", "role": "A", "session": "0c64"}},
			"The customer records of this owner were matched with those of insurer. Identifiers are exchanged only in blinded form; both sides learn how many customers they have together."},
		{Event{Kind: KindMatching, Detail: map[string]string{"peer": "retailer", "records": "92061", "role": "A", "session": "0c64", "join_keys": "email,phone"}},
			"The customer records of this owner were matched with those of retailer. Identifiers are exchanged only in blinded form; both sides learn how many customers they have together. Customers were matched on email, then phone; this owner computed the pairing and so also learned how many pairs agreed on which identifier, retailer only the sizes."},
		{Event{Kind: KindMatching, Detail: map[string]string{"peer": "insurer", "records": "92137", "role": "B", "session": "0c64", "join_keys": "email,phone"}},
			"The customer records of this owner were matched with those of insurer. Identifiers are exchanged only in blinded form; both sides learn how many customers they have together. Customers were matched on email, then phone; insurer computed the pairing and so also learned how many pairs agreed on which identifier, this owner only the sizes."},
		{Event{Kind: KindSetup, Detail: map[string]string{"step": "key generation", "owners": "insurer,retailer", "crs_digest": "5699"}},
			"Key generation started with the data owners insurer, retailer. The federation's decryption key is split between the owners: no one of them can decrypt alone."},
		{Event{Kind: "plan", Querier: "alice", Purpose: "research", Detail: map[string]string{"owners": "retailer,insurer", "columns": "3", "planned_epsilon": "1",
			"would_refuse": `column "spend_pharmacy" is excluded by policy`}},
			`alice asked how precise a query for research over 3 columns of retailer, insurer would be at ε = 1; no data was read, nothing charged or released. This owner would refuse it: column "spend_pharmacy" is excluded by policy.`},
		{Event{Kind: KindLedgerAnchor, Detail: map[string]string{"ledger_head": "4:ab", "rebuilt_from_audit_log": "6"}},
			"The budget ledger was rebuilt from this log: its 6 charges were charged again, so no spent budget came back."},
		{Event{Kind: "key_rotation", Detail: map[string]string{"new_key_digest": "ab", "reason": "scheduled"}}, "reason: scheduled"},
	} {
		if got := activityRecord(tc.e).Text; got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.e.Kind, got, tc.want)
		}
	}
}

func TestSmall(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{{1e-7, "1×10⁻⁷"}, {9.9e-6, "9.9×10⁻⁶"}, {0.001, "1×10⁻³"}, {1e-5 - 1e-7, "9.9×10⁻⁶"}, {0, "0"}, {0.05, "0.05"}, {1.25e-12, "1.25×10⁻¹²"}} {
		if got := small(tc.f); got != tc.want {
			t.Errorf("small(%g) = %q, want %q", tc.f, got, tc.want)
		}
	}
}
