package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jointly-dev/jointly/party/internal/crashtest"
)

var budgets = map[string]Budget{
	"alice": {Epsilon: 1, Delta: 1e-6},
	"bob":   {Epsilon: 10, Delta: 1e-5},
}

func open(t *testing.T, path string) *Ledger {
	t.Helper()
	l, err := Open(path, budgets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func TestChargeAndBudget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "budget.jsonl")
	l := open(t, path)
	steps := []struct {
		querier, id string
		eps, delta  float64
		want        error
		runsOut     string // what an exhausted budget's error names
	}{
		{"alice", "q1", 0.3, 1e-7, nil, ""},
		{"alice", "q2", 0.3, 1e-7, nil, ""},
		{"alice", "q1", 0.3, 1e-7, ErrQueryIDUsed, ""},                     // replay: one charge, one release
		{"alice", "q1", 0.4, 1e-7, ErrQueryIDReused, ""},                   // same id, other cost
		{"alice", "q3", 0.5, 1e-7, ErrBudgetExhausted, "ε runs out"},       // 0.6 + 0.5 > 1
		{"alice", "q4", 0.1, 1e-6, ErrBudgetExhausted, "δ runs out"},       // δ over
		{"alice", "q4b", 0.5, 1e-6, ErrBudgetExhausted, "ε and δ run out"}, // both over
		{"alice", "q5", 0.4, 0, nil, ""},                                   // exactly 1.0
		{"alice", "q6", 1e-9, 0, ErrBudgetExhausted, "ε runs out"},         // nothing left
		{"carol", "q7", 0.1, 0, ErrUnknownQuerier, ""},
		{"bob", "q8", -1, 0, ErrInvalid, ""},
		{"bob", "", 1, 0, ErrInvalid, ""},
		{"bob", "q1", 2, 1e-6, ErrQueryIDReused, ""}, // alice's id: ids are the node's, not the querier's
		{"bob", "q9", 2, 1e-6, nil, ""},
	}
	for i, s := range steps {
		// Check answers what Charge will, and writes nothing.
		before := l.Head()
		if err := l.Check(s.querier, s.id, "d-"+s.id, s.eps, s.delta); !errors.Is(err, s.want) {
			t.Fatalf("step %d %s/%s: Check %v, want %v", i, s.querier, s.id, err, s.want)
		}
		if l.Head() != before {
			t.Fatalf("step %d: Check wrote a charge", i)
		}
		// What is left foretells the charge, in the same words.
		foretold := l.Remaining(s.querier).Exhausted(s.eps, s.delta)
		_, err := l.Charge(s.querier, s.id, "d-"+s.id, s.eps, s.delta)
		if errors.Is(err, ErrBudgetExhausted) != (foretold != "") && s.want != ErrUnknownQuerier && s.want != ErrInvalid {
			t.Errorf("step %d %s/%s: %v, but Remaining().Exhausted said %q", i, s.querier, s.id, err, foretold)
		}
		if !errors.Is(err, s.want) {
			t.Fatalf("step %d %s/%s: %v, want %v", i, s.querier, s.id, err, s.want)
		}
		if s.runsOut != "" && (foretold != s.runsOut || !strings.Contains(err.Error(), s.runsOut+" for "+s.querier)) {
			t.Errorf("step %d %s/%s: %q does not say %q", i, s.querier, s.id, err, s.runsOut)
		}
	}
	check := func(l *Ledger) {
		t.Helper()
		if got := l.Spent("alice"); got.Epsilon != 1 || got.Delta != 2e-7 {
			t.Errorf("alice spent %+v", got)
		}
		if got := l.Remaining("alice"); got.Epsilon != 0 || got.Delta != 8e-7 {
			t.Errorf("alice remaining %+v", got)
		}
		if got := l.Remaining("bob"); got.Epsilon != 8 {
			t.Errorf("bob remaining %+v", got)
		}
		sum := l.Summary()
		if len(sum) != 2 || sum[0].Querier != "alice" || sum[0].Charges != 3 || sum[1].Charges != 1 {
			t.Errorf("summary %+v", sum)
		}
	}
	check(l)
	if n := len(lines(t, path)); n != 4 {
		t.Errorf("%d lines, want 4 (refusals and replays write nothing)", n)
	}
	l.Close()
	check(open(t, path))
}

func TestConcurrentChargesAreExact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "budget.jsonl")
	l := open(t, path)
	const workers = 64
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 {
				// Every worker also replays a shared query id, which must
				// be charged exactly once.
				ids := []string{fmt.Sprintf("w%d-%d", w, i), "shared"}
				for _, id := range ids {
					_, err := l.Charge("bob", id, "d", 0.1, 0)
					switch {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, ErrBudgetExhausted), id == "shared" && errors.Is(err, ErrQueryIDUsed):
						refused.Add(1)
					default:
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	// Budget 10 at 0.1 per distinct query: exactly 100 distinct charges fit.
	if n := len(lines(t, path)); n != 100 {
		t.Errorf("%d lines, want 100", n)
	}
	if got := l.Spent("bob").Epsilon; got != 10 {
		t.Errorf("spent %v, want 10", got)
	}
	if !l.Charged("bob", "shared") {
		t.Error("shared query id not charged")
	}
	l.Close()
	if got := open(t, path).Spent("bob").Epsilon; got != 10 {
		t.Errorf("after reopen spent %v, want 10", got)
	}
}

func TestTornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "budget.jsonl")
	l := open(t, path)
	for i, eps := range []float64{0.2, 0.3} {
		if _, err := l.Charge("alice", fmt.Sprint("q", i), "d", eps, 0); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	full, _ := os.ReadFile(path)
	for _, tail := range []string{`{"seq":3,"time":"2026-11-28T12:00:00Z","querier":"alice","query_id":"q9","epsilon":0.4`, `{`, "\x00\x00"} {
		t.Run(fmt.Sprintf("tail=%d", len(tail)), func(t *testing.T) {
			if err := os.WriteFile(path, append(bytes.Clone(full), tail...), 0o600); err != nil {
				t.Fatal(err)
			}
			l := open(t, path)
			if l.TornBytes() != int64(len(tail)) {
				t.Errorf("torn %d bytes, want %d", l.TornBytes(), len(tail))
			}
			if got := l.Spent("alice").Epsilon; got != 0.5 {
				t.Errorf("spent %v, want 0.5 (complete lines kept, torn one dropped)", got)
			}
			if _, err := l.Charge("alice", "q9", "d", 0.4, 0); err != nil {
				t.Fatal(err)
			}
			l.Close()
			l2 := open(t, path)
			if l2.TornBytes() != 0 || l2.Spent("alice").Epsilon != 0.9 {
				t.Errorf("after recovery: torn %d, spent %v", l2.TornBytes(), l2.Spent("alice"))
			}
			l2.Close()
		})
	}
}

func TestTamperedLedgerIsRejected(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "budget.jsonl")
	l := open(t, path)
	for i := range 3 {
		if _, err := l.Charge("alice", fmt.Sprint("q", i), "d", 0.2, 0); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	orig := lines(t, path)
	for _, tc := range []struct {
		name  string
		lines []string
		line  string
	}{
		{"lowered charge", []string{orig[0], strings.Replace(orig[1], `"epsilon":0.2`, `"epsilon":0.01`, 1), orig[2]}, "line 3"},
		{"deleted line", []string{orig[0], orig[2]}, "line 2"},
		{"reordered", []string{orig[1], orig[0], orig[2]}, "line 1"},
		{"not json", []string{orig[0], "garbage", orig[2]}, "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(p, []byte(strings.Join(tc.lines, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(p, budgets)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.line) {
				t.Errorf("Open: %v, want ErrCorrupt at %s", err, tc.line)
			}
		})
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "budget.jsonl")
	open(t, path)
	if _, err := Open(path, budgets); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open: %v, want ErrLocked", err)
	}
}

func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "budget.jsonl")
	open(t, path)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
}

const crashEnv = "JOINTLY_LEDGER_CRASH_CHILD"

// TestCrashChild is the child of TestChargeSurvivesSIGKILL: it charges,
// announces it, and waits to be killed as if in the middle of the release
// that follows a charge.
func TestCrashChild(t *testing.T) {
	crashtest.Child(t, crashEnv, func(path string) (string, error) {
		l, err := Open(path, budgets)
		if err != nil {
			return "", err
		}
		_, err = l.Charge("alice", "crash-query", "d", 0.7, 1e-7)
		return "charged", err
	})
}

func TestChargeSurvivesSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "budget.jsonl")
	crashtest.Kill(t, "TestCrashChild", crashEnv, path, nil)
	l := open(t, path)
	if got := l.Spent("alice"); got.Epsilon != 0.7 || got.Delta != 1e-7 {
		t.Errorf("after crash spent %+v, want ε=0.7 δ=1e-7", got)
	}
	if _, err := l.Charge("alice", "next", "d", 0.4, 0); !errors.Is(err, ErrBudgetExhausted) {
		t.Errorf("charge past the crashed one: %v, want ErrBudgetExhausted", err)
	}
}

// FuzzParse feeds arbitrary file contents to the replay that Open runs. An
// accepted file must stay accepted after the next charge is appended to its
// complete lines, and that charge must never lower what was spent.
func FuzzParse(f *testing.F) {
	seedPath := filepath.Join(f.TempDir(), "seed.jsonl")
	l, err := Open(seedPath, budgets)
	if err != nil {
		f.Fatal(err)
	}
	l.Charge("alice", "q1", "d1", 0.5, 1e-7)
	l.Charge("bob", "q2", "d2", 1, 0)
	l.Close()
	seed, _ := os.ReadFile(seedPath)
	f.Add(seed)
	f.Add(append(bytes.Clone(seed), `{"seq":3`...))
	f.Add([]byte("\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newState()
		good, torn, err := s.parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		if good+torn != int64(len(data)) {
			t.Fatalf("good %d + torn %d != %d", good, torn, len(data))
		}
		before := s.spent["bob"]
		e, line, err := s.line("bob", "fuzz-next", "d", 0.001, 0, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		next := append(append(bytes.Clone(data[:good]), line...), '\n')
		s2 := newState()
		if _, torn, err := s2.parse(bytes.NewReader(next)); err != nil || torn != 0 {
			// A file that already charged "fuzz-next" legitimately rejects
			// the duplicate; anything else is a bug.
			if c, dup := s.byID["fuzz-next"]; !dup || c.querier != "bob" {
				t.Fatalf("appended entry %d rejected: %v", e.Seq, err)
			}
			return
		}
		if s2.spent["bob"].eps < before.eps {
			t.Fatal("appending a charge refunded budget")
		}
	})
}

func BenchmarkCharge(b *testing.B) {
	l, err := Open(filepath.Join(b.TempDir(), "l.jsonl"), map[string]Budget{"q": {Epsilon: 1e6, Delta: 1}})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	i := 0
	for b.Loop() {
		if _, err := l.Charge("q", fmt.Sprint(i), "d", 1e-3, 0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func TestSnapshotWhileOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "budget.ledger")
	budgets := map[string]Budget{"alice": {Epsilon: 2, Delta: 1e-6}}
	l, err := Open(path, budgets)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Charge("alice", "q-00000001", "d", 0.5, 1e-7); err != nil {
		t.Fatal(err)
	}
	acc, err := Snapshot(path, budgets)
	if err != nil {
		t.Fatal(err)
	}
	if len(acc) != 1 || acc[0].Spent.Epsilon != 0.5 || acc[0].Remaining.Epsilon != 1.5 || acc[0].Charges != 1 {
		t.Fatalf("snapshot %+v", acc)
	}
	none, err := Snapshot(path+".missing", budgets)
	if err != nil || none[0].Spent.Epsilon != 0 {
		t.Fatalf("missing file: %+v %v", none, err)
	}
}

// TestAnchorDetectsRollback removes charges the way an operator could while
// the node is stopped (delete the file, cut lines off its end, put back an
// older copy): with the audit log's last head as anchor, Open refuses each,
// and accepts a ledger that is ahead of the anchor (a crash between a
// charge and its audit record).
func TestAnchorDetectsRollback(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "budget.ledger")
	l := open(t, path)
	var heads []Head
	for i := range 6 {
		h, err := l.Charge("alice", fmt.Sprint("q", i), "d", 0.1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if h != l.Head() || h.Seq != uint64(i+1) {
			t.Fatalf("charge %d: head %v, ledger head %v", i, h, l.Head())
		}
		heads = append(heads, h)
	}
	l.Close()
	orig := lines(t, path)
	if _, err := ParseHead(heads[5].String()); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "5", "0:" + heads[0].Hash, "x:" + heads[0].Hash, "1:abc"} {
		if _, err := ParseHead(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseHead(%q): %v, want ErrInvalid", bad, err)
		}
	}
	other := filepath.Join(dir, "other.ledger")
	lo := open(t, other)
	for i := range 6 {
		if _, err := lo.Charge("alice", fmt.Sprint("other", i), "d", 0.1, 0); err != nil {
			t.Fatal(err)
		}
	}
	lo.Close()
	for _, tc := range []struct {
		name   string
		lines  []string // nil: no file
		anchor Head
		ok     bool
	}{
		{"intact", orig, heads[5], true},
		{"ahead of the anchor", orig, heads[4], true},
		{"deleted", nil, heads[5], false},
		{"truncated by 1", orig[:5], heads[5], false},
		{"truncated by 3", orig[:3], heads[5], false},
		{"old copy", orig[:2], heads[3], false},
		{"another ledger", lines(t, other), heads[5], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if tc.lines != nil {
				if err := os.WriteFile(p, []byte(strings.Join(tc.lines, "\n")+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			l, err := Open(p, budgets, WithAnchor(tc.anchor))
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				l.Close()
				return
			}
			if !errors.Is(err, ErrRolledBack) || !strings.Contains(err.Error(), p) {
				t.Fatalf("Open: %v, want ErrRolledBack naming %s", err, p)
			}
		})
	}
}
