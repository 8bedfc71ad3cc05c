package audit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func clock() func() time.Time {
	t := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Minute); return t }
}

var sampleEvents = []Event{
	{Kind: KindSetup, Actor: "retailer", Detail: map[string]string{"peers": "insurer", "params": "coef13"}},
	{Kind: KindMatching, Actor: "retailer", Detail: map[string]string{"union_size": "18000"}},
	{Kind: KindQueryReceived, Actor: "retailer", Querier: "alice", Purpose: "diet and diabetes study", Epsilon: 0.5, Delta: 1e-7, QueryID: "q-1"},
	{Kind: KindPolicyDecision, Actor: "retailer", Querier: "alice", QueryID: "q-1", Detail: map[string]string{DetailDecision: DecisionAllow}},
	{Kind: KindRelease, Actor: "retailer", Querier: "alice", Epsilon: 0.5, Delta: 1e-7, QueryID: "q-1"},
	{Kind: KindQueryReceived, Actor: "retailer", Querier: "bob", Purpose: "<script>alert(1)</script> marketing", Epsilon: 2, QueryID: "q-2"},
	{Kind: KindPolicyDecision, Actor: "retailer", Querier: "bob", QueryID: "q-2", Detail: map[string]string{DetailDecision: DecisionRefuse, DetailReason: "purpose not allowed"}},
}

// writeLog creates a real log with sampleEvents and returns its path.
func writeLog(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "audit.jsonl")
	l, err := Open(path, testKey(1), WithClock(clock()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, e := range sampleEvents {
		if err := l.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(data, []byte("\n"))[:bytes.Count(data, []byte("\n"))]
}

func TestVerifyDetectsTampering(t *testing.T) {
	dir := t.TempDir()
	path := writeLog(t, dir)
	lines := readLines(t, path)
	pub := testKey(1).Public().(ed25519.PublicKey)

	// A line forged with another key, chained correctly after line 2.
	forged := func() []byte {
		other := filepath.Join(t.TempDir(), "other.jsonl")
		l, err := Open(other, testKey(2), WithClock(clock()))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range sampleEvents[:3] {
			l.Append(e)
		}
		l.Close()
		return readLines(t, other)[2]
	}()
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	edit := func(line []byte, old, new string) []byte {
		if !bytes.Contains(line, []byte(old)) {
			t.Fatalf("%q not in %s", old, line)
		}
		return bytes.Replace(line, []byte(old), []byte(new), 1)
	}

	tests := []struct {
		name string
		log  []byte
		want error
		line string
	}{
		{"modified epsilon", join(lines[0], lines[1], lines[2], lines[3], edit(lines[4], `"epsilon":0.5`, `"epsilon":0.05`), lines[5], lines[6]), ErrTampered, "line 5:"},
		{"modified refusal reason", join(lines[0], lines[1], lines[2], lines[3], lines[4], lines[5], edit(lines[6], "purpose not allowed", "budget")), ErrTampered, "line 7:"},
		{"deleted line", join(lines[0], lines[1], lines[3], lines[4], lines[5], lines[6]), ErrTampered, "line 3:"},
		{"deleted first line", join(lines[1], lines[2], lines[3], lines[4], lines[5], lines[6]), ErrTampered, "line 1:"},
		{"inserted forged line", join(lines[0], lines[1], forged, lines[2], lines[3], lines[4], lines[5], lines[6]), ErrTampered, "line 3:"},
		{"inserted copy of a line", join(lines[0], lines[1], lines[2], lines[2], lines[3], lines[4], lines[5], lines[6]), ErrTampered, "line 4:"},
		{"reordered", join(lines[0], lines[1], lines[2], lines[4], lines[3], lines[5], lines[6]), ErrTampered, "line 4:"},
		{"torn last line", join(lines[0], lines[1], lines[2][:40]), ErrIncomplete, "line 3"},
		{"untouched", join(lines...), nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Write and read a real file, as `jointly audit verify` does.
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(p, tc.log, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			err = Verify(f, pub)
			if !errors.Is(err, tc.want) || (tc.want != nil && !strings.Contains(err.Error(), tc.line)) {
				t.Errorf("Verify: %v, want %v naming %q", err, tc.want, tc.line)
			}
		})
	}
	t.Run("another key", func(t *testing.T) {
		err := Verify(bytes.NewReader(join(lines...)), testKey(3).Public().(ed25519.PublicKey))
		if !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), "line 1:") {
			t.Errorf("Verify: %v", err)
		}
	})
}

func TestAnchorsDetectTruncation(t *testing.T) {
	path := writeLog(t, t.TempDir())
	pub := testKey(1).Public().(ed25519.PublicKey)
	data, _ := os.ReadFile(path)
	head, err := VerifyHead(bytes.NewReader(data), pub)
	if err != nil || head.Seq != uint64(len(sampleEvents)) {
		t.Fatalf("head %v, %v", head, err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	short := bytes.Join(lines[:5], nil)
	if err := Verify(bytes.NewReader(short), pub); err != nil {
		t.Errorf("a truncated log verifies on its own (expected), got %v", err)
	}
	if _, err := VerifyHead(bytes.NewReader(short), pub, head); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated log against the earlier head: %v, want ErrTruncated", err)
	}
	if _, err := VerifyHead(bytes.NewReader(data), pub, Head{Seq: 3, Hash: head.Hash}); !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), "line 3:") {
		t.Errorf("wrong anchor hash: %v", err)
	}
	if _, err := VerifyHead(bytes.NewReader(data), pub, head); err != nil {
		t.Errorf("matching anchor: %v", err)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := writeLog(t, dir)
	events, head, err := ReadFile(path)
	if err != nil || len(events) != len(sampleEvents) || head.Seq != uint64(len(sampleEvents)) {
		t.Fatalf("ReadFile: %d events, head %v, %v; want %d events", len(events), head, err, len(sampleEvents))
	}
	if _, _, err := ReadFile(filepath.Join(dir, "missing.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadFile of a missing log: %v, want ErrNotExist", err)
	}
}

func TestReopenContinuesChain(t *testing.T) {
	dir := t.TempDir()
	path := writeLog(t, dir)
	// A crash mid-append leaves a partial line; Open drops it.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":8,"time":"2026-11-28T10:00:00Z","kind":"rel`)
	f.Close()
	l, err := Open(path, testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	if l.TornBytes() == 0 {
		t.Error("torn line not reported")
	}
	if err := l.Append(Event{Kind: KindRelease, Actor: "retailer", QueryID: "q-3"}); err != nil {
		t.Fatal(err)
	}
	if h := l.Head(); h.Seq != uint64(len(sampleEvents))+1 {
		t.Errorf("head %v", h)
	}
	l.Close()
	data, _ := os.ReadFile(path)
	if err := Verify(bytes.NewReader(data), testKey(1).Public().(ed25519.PublicKey)); err != nil {
		t.Errorf("after recovery: %v", err)
	}
	if _, err := Open(path, testKey(2)); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("open with another key: %v, want ErrKeyMismatch", err)
	}
	os.Remove(path + ".pub")
	if _, err := Open(path, testKey(2)); !errors.Is(err, ErrTampered) {
		t.Errorf("open with another key, no .pub: %v, want ErrTampered", err)
	}
	if _, err := os.Stat(path + ".pub"); !os.IsNotExist(err) {
		t.Errorf("a failed Open left a key file behind: %v", err)
	}
	l, err = Open(path, testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	pubData, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if pub, err := ParsePublicKey(pubData); err != nil || !pub.Equal(testKey(1).Public()) {
		t.Errorf("pub file %v", err)
	}
}

func TestAppendValidatesAndLocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(path, testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, e := range []Event{{Kind: "", Actor: "x"}, {Kind: "Release!", Actor: "x"}, {Kind: KindRelease}} {
		if err := l.Append(e); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("Append(%+v): %v", e, err)
		}
	}
	if _, err := Open(path, testKey(1)); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open: %v", err)
	}
}

func TestConcurrentAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(path, testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				if err := l.Append(Event{Kind: KindQueryReceived, Actor: "retailer", QueryID: fmt.Sprintf("%d-%d", w, i)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	l.Close()
	f, _ := os.Open(path)
	defer f.Close()
	head, err := VerifyHead(f, testKey(1).Public().(ed25519.PublicKey))
	if err != nil || head.Seq != 80 {
		t.Errorf("head %v, %v", head, err)
	}
}

func TestReport(t *testing.T) {
	path := writeLog(t, t.TempDir())
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	if err := Report(f, &out); err != nil {
		t.Fatal(err)
	}
	html := out.String()
	for _, want := range []string{
		"<!DOCTYPE html>", "diet and diabetes study", "alice", "q-1", "released",
		"refused</span><span class=\"why\">purpose not allowed", "2026-11-28<br>09:03:00 UTC", // received q-1
		"&lt;script&gt;", "how many customers they have together.", "<code>7:", // head
		"Budgets are not in the log",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(html, "<script>") {
		t.Error("report does not escape a purpose")
	}
	// The public page gives no exact count of customers: one opt-out
	// would change it.
	if strings.Contains(html, "18000") {
		t.Error("report publishes the exact union size")
	}
	if strings.Contains(html, "http://") || strings.Contains(html, "https://") {
		t.Error("report is not self-contained")
	}
}

func BenchmarkAudit(b *testing.B) {
	path := filepath.Join(b.TempDir(), "audit.jsonl")
	l, err := Open(path, testKey(1))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Append", func(b *testing.B) {
		for b.Loop() {
			if err := l.Append(sampleEvents[2]); err != nil {
				b.Fatal(err)
			}
		}
	})
	l.Close()
	data, _ := os.ReadFile(path)
	pub := testKey(1).Public().(ed25519.PublicKey)
	b.Run("Verify/line", func(b *testing.B) {
		lines := bytes.Count(data, []byte("\n"))
		for b.Loop() {
			if err := Verify(bytes.NewReader(data), pub); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
	})
}

func FuzzVerify(f *testing.F) {
	path := writeLog(f, f.TempDir())
	data, _ := os.ReadFile(path)
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add([]byte(`{"seq":1,"sig":"00"}` + "\n"))
	pub := testKey(1).Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Verify(bytes.NewReader(data), pub)
		if err == nil && !bytes.HasPrefix(data, []byte(`{"seq":1,`)) && len(data) > 0 {
			t.Fatalf("accepted a log not starting with line 1")
		}
		var out bytes.Buffer
		_ = Report(bytes.NewReader(data), &out)
	})
}

// TestReportCountsFromEvents: the report's figures are the log's: a
// replayed id is a row of its own, every release event is counted, and
// the ε spent is what the allow decisions charged (including a query that
// was charged and never answered), as in the budget ledger.
func TestReportCountsFromEvents(t *testing.T) {
	allow := map[string]string{DetailDecision: DecisionAllow}
	events := []Event{
		{Kind: KindQueryReceived, Querier: "alice", QueryID: "q1", Epsilon: 1, Delta: 1e-7},
		{Kind: KindPolicyDecision, Querier: "alice", QueryID: "q1", Epsilon: 1, Delta: 1e-7, Detail: allow},
		{Kind: KindRelease, Querier: "alice", QueryID: "q1", Detail: map[string]string{DetailStage: StageCounts}},
		{Kind: KindRelease, Querier: "alice", QueryID: "q1", Detail: map[string]string{DetailStage: StageResult}},
		{Kind: KindQueryReceived, Querier: "alice", QueryID: "q1", Epsilon: 1, Delta: 1e-7},
		{Kind: KindPolicyDecision, Querier: "alice", QueryID: "q1", Detail: map[string]string{DetailDecision: DecisionRefuse, DetailReason: "one charge buys one release"}},
		{Kind: KindQueryReceived, Querier: "alice", QueryID: "q2", Epsilon: 0.5},
		{Kind: KindPolicyDecision, Querier: "alice", QueryID: "q2", Epsilon: 0.5, Detail: allow},
		{Kind: KindRelease, Querier: "alice", QueryID: "q2", Detail: map[string]string{DetailStage: StageCounts}},
	}
	d := summarize(events, map[string]Budget{"alice": {Epsilon: 10, Delta: 1e-5}, "bob": {Epsilon: 5, Delta: 1e-6}})
	if len(d.Queries) != 3 || d.Releases != 3 {
		t.Fatalf("%d rows, %d releases; want 3 rows (the replay is its own) and 3 releases", len(d.Queries), d.Releases)
	}
	for k, want := range []string{OutcomeReleased, OutcomeRefused, OutcomeCharged} {
		if d.Queries[k].Outcome != want {
			t.Errorf("row %d: %q, want %q", k, d.Queries[k].Outcome, want)
		}
	}
	if d.Queries[0].Releases != 2 || d.Queries[1].Releases != 0 || d.Queries[2].Releases != 1 {
		t.Errorf("releases per row: %d %d %d", d.Queries[0].Releases, d.Queries[1].Releases, d.Queries[2].Releases)
	}
	// The page counts answered queries, not release events (two each).
	var page strings.Builder
	if err := d.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if want := "3 queries, of which 1 answered (3 releases"; !strings.Contains(page.String(), want) {
		t.Errorf("the page does not say %q", want)
	}
	// Budgets and what is left; a requester with a budget and no query is
	// listed too.
	if len(d.Requesters) != 2 || d.Requesters[1].Requester != "bob" || d.Requesters[1].Queries != 0 || d.Requesters[1].Left.Epsilon != 5 {
		t.Fatalf("requesters %+v", d.Requesters)
	}
	tot := d.Requesters[0]
	if tot.Charged != 2 || tot.EpsilonSpent != 1.5 || tot.DeltaSpent != 1e-7 || tot.Released != 1 || tot.Refused != 1 || tot.Releases != 3 ||
		tot.Budget.Epsilon != 10 || tot.Left.Epsilon != 8.5 || tot.Left.Delta != 1e-5-1e-7 {
		t.Fatalf("totals %+v, budget %+v, left %+v", tot, tot.Budget, tot.Left)
	}
}
