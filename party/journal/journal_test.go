package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/jointly-dev/jointly/party/internal/crashtest"
)

// entry is a line as an owner of a journal writes it.
type entry struct {
	Seq  uint64 `json:"seq"`
	Note string `json:"note"`
	Prev string `json:"prev"`
}

// next encodes the line that extends the chain at h.
func next(h Head, note string) []byte {
	b, err := json.Marshal(entry{Seq: h.Seq + 1, Note: note, Prev: h.Hash})
	if err != nil {
		panic(err)
	}
	return b
}

func open(t *testing.T, path string, opts ...Option) *Journal {
	t.Helper()
	j, err := Open(path, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// write appends lines with the given notes and returns the file's lines.
func write(t *testing.T, path string, notes ...string) [][]byte {
	t.Helper()
	j := open(t, path)
	for _, n := range notes {
		if _, err := j.Append(next(j.Head(), n)); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(data, []byte("\n"))[:len(notes)]
}

func TestAppendAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	j := open(t, path)
	if h := j.Head(); h.Seq != 0 || h.Hash != Genesis || len(Genesis) != 64 || strings.Trim(Genesis, "0") != "" {
		t.Fatalf("empty head %v", h)
	}
	var heads []Head
	for i := range 3 {
		l := next(j.Head(), fmt.Sprint("n", i))
		h, err := j.Append(l)
		if err != nil {
			t.Fatal(err)
		}
		if h != j.Head() || h.Seq != uint64(i+1) || h.Hash != Hash(l) {
			t.Fatalf("append %d: head %v, journal head %v", i, h, j.Head())
		}
		heads = append(heads, h)
	}
	if err := j.Err(); err != nil {
		t.Errorf("Err of an open journal: %v", err)
	}
	j.Close()
	if _, err := j.Append(next(j.Head(), "late")); !errors.Is(err, ErrFailed) || !errors.Is(j.Err(), ErrFailed) {
		t.Errorf("Append after Close: %v, Err %v; want ErrFailed", err, j.Err())
	}
	var seen []string
	j2, err := Open(path, func(lineNo int, line []byte) error {
		var e entry
		if err := json.Unmarshal(line, &e); err != nil {
			return err
		}
		if e.Seq != uint64(lineNo) {
			t.Errorf("check saw line %d with seq %d", lineNo, e.Seq)
		}
		seen = append(seen, e.Note)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if j2.Head() != heads[2] || j2.TornBytes() != 0 || strings.Join(seen, ",") != "n0,n1,n2" {
		t.Errorf("reopened: head %v, torn %d, saw %v", j2.Head(), j2.TornBytes(), seen)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if h, torn, err := Replay(f, nil); err != nil || torn != 0 || h != heads[2] {
		t.Errorf("Replay: %v, %d, %v", h, torn, err)
	}
}

func TestTornLastLineIsDropped(t *testing.T) {
	dir := t.TempDir()
	full := bytes.Join(write(t, filepath.Join(dir, "orig"), "a", "b"), nil)
	for _, tail := range []string{`{"seq":3,"note":"c","prev":"`, `{`, "\x00\x00"} {
		t.Run(fmt.Sprintf("tail=%d", len(tail)), func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprint("torn", len(tail)))
			if err := os.WriteFile(path, append(bytes.Clone(full), tail...), 0o600); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			j := open(t, path, WithLogger(hclog.New(&hclog.LoggerOptions{Output: &logs, Name: "owner"})))
			if j.TornBytes() != int64(len(tail)) || j.Head().Seq != 2 {
				t.Errorf("torn %d, head %v; want %d, seq 2", j.TornBytes(), j.Head(), len(tail))
			}
			if !strings.Contains(logs.String(), "owner: dropped torn last line") || !strings.Contains(logs.String(), fmt.Sprintf("bytes=%d", len(tail))) {
				t.Errorf("log: %q", logs.String())
			}
			if data, _ := os.ReadFile(path); !bytes.Equal(data, full) {
				t.Errorf("file not truncated to its complete lines: %q", data)
			}
			if _, err := j.Append(next(j.Head(), "c")); err != nil {
				t.Fatal(err)
			}
			j.Close()
			if j := open(t, path); j.TornBytes() != 0 || j.Head().Seq != 3 {
				t.Errorf("after recovery: torn %d, head %v", j.TornBytes(), j.Head())
			}
		})
	}
}

// TestHashAt: the hash of every line, over several index intervals, from
// the journal that appended them, after a reopen and after a torn line was
// dropped; a line that is not there, or a file replaced under the open
// journal, is an error and never another line's hash.
func TestHashAt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j")
	notes := make([]string, 2*indexEvery+3)
	for i := range notes {
		notes[i] = strings.Repeat("x", i%7) // lines of different lengths
	}
	write(t, path, notes[:indexEvery+1]...)
	j := open(t, path)
	for _, n := range notes[indexEvery+1:] {
		if _, err := j.Append(next(j.Head(), n)); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))[:len(notes)]
	check := func(name string, j *Journal) {
		t.Helper()
		for i, l := range lines {
			got, err := j.HashAt(uint64(i + 1))
			if want := Hash(bytes.TrimSuffix(l, []byte("\n"))); err != nil || got != want {
				t.Fatalf("%s: line %d: %q, %v; want %q", name, i+1, got, err, want)
			}
		}
		for _, seq := range []uint64{0, uint64(len(lines) + 1)} {
			if h, err := j.HashAt(seq); err == nil {
				t.Errorf("%s: line %d of %d: %q, want an error", name, seq, len(lines), h)
			}
		}
	}
	check("appended", j) // the index of a reopened file, then of appends
	j.Close()
	if err := os.WriteFile(path, append(data, `{"seq":`...), 0o600); err != nil {
		t.Fatal(err)
	}
	j = open(t, path)
	check("reopened after a torn line", j)

	// Another file put in place while the journal is open.
	other := filepath.Join(dir, "other")
	longer := make([]string, indexEvery+5)
	for i := range longer {
		longer[i] = notes[i] + "y"
	}
	write(t, other, longer...)
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{indexEvery + 2, uint64(len(lines))} {
		if h, err := j.HashAt(seq); !errors.Is(err, ErrCorrupt) {
			t.Errorf("line %d of a file replaced under the journal: %q, %v; want ErrCorrupt", seq, h, err)
		}
	}
}

var errOwner = errors.New("owner: bad line")

func TestBrokenChainNamesTheLine(t *testing.T) {
	dir := t.TempDir()
	l := write(t, filepath.Join(dir, "orig"), "a", "b", "c", "d")
	other := write(t, filepath.Join(dir, "other"), "x", "y", "z")
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	edit := func(line []byte, old, new string) []byte { return bytes.Replace(line, []byte(old), []byte(new), 1) }
	tests := []struct {
		name string
		data []byte
		want error
		line string
	}{
		{"modified line", join(l[0], edit(l[1], `"b"`, `"B"`), l[2], l[3]), ErrCorrupt, "line 3:"},
		{"modified last line", join(l[0], l[1], l[2], edit(l[3], `"d"`, `"bad"`)), errOwner, "line 4:"},
		{"deleted line", join(l[0], l[2], l[3]), ErrCorrupt, "line 2:"},
		{"deleted first line", join(l[1], l[2], l[3]), ErrCorrupt, "line 1:"},
		{"inserted copy", join(l[0], l[1], l[1], l[2], l[3]), ErrCorrupt, "line 3:"},
		{"reordered", join(l[0], l[2], l[1], l[3]), ErrCorrupt, "line 2:"},
		{"line of another journal", join(l[0], l[1], other[2], l[3]), ErrCorrupt, "line 3:"},
		{"not json", join(l[0], []byte("garbage\n"), l[2]), ErrCorrupt, "line 2:"},
		{"no prev", join(l[0], []byte(`{"seq":2}`+"\n")), ErrCorrupt, "line 2:"},
		{"empty line", join(l[0], []byte("\n")), ErrCorrupt, "line 2:"},
		{"untouched", join(l...), nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			checked := 0
			check := func(lineNo int, line []byte) error {
				checked++
				if bytes.Contains(line, []byte(`"bad"`)) {
					return fmt.Errorf("%w: line %d: note", errOwner, lineNo)
				}
				return nil
			}
			j, err := Open(path, check)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				j.Close()
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.line) {
				t.Errorf("Open: %v, want %v naming %q", err, tc.want, tc.line)
			}
			if n := strings.TrimSuffix(strings.TrimPrefix(tc.line, "line "), ":"); tc.want == ErrCorrupt && fmt.Sprint(checked+1) != n {
				t.Errorf("check saw %d lines before the break at %s", checked, tc.line)
			}
			// The journal is closed after a failed Open: it can be opened again.
			if j, err := Open(path, nil); j != nil {
				j.Close()
			} else if errors.Is(err, ErrLocked) {
				t.Error("a failed Open kept the lock")
			}
		})
	}
}

func TestAppendRefusesInvalidLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	write(t, path, "a")
	before, _ := os.ReadFile(path)
	j := open(t, path)
	h := j.Head()
	for name, l := range map[string][]byte{
		"newline":   append(next(h, "b"), '\n'),
		"embedded":  []byte(`{"seq":2,"note":"a` + "\n" + `","prev":"` + h.Hash + `"}`),
		"old seq":   next(Head{Seq: 0, Hash: h.Hash}, "b"),
		"skips one": next(Head{Seq: 2, Hash: h.Hash}, "b"),
		"old prev":  next(Head{Seq: 1, Hash: Genesis}, "b"),
		"not json":  []byte("b"),
	} {
		if _, err := j.Append(l); !errors.Is(err, ErrInvalidLine) {
			t.Errorf("%s: %v, want ErrInvalidLine", name, err)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) || j.Head() != h {
		t.Error("a refused line changed the journal")
	}
	if _, err := j.Append(next(h, "b")); err != nil {
		t.Errorf("a valid line after refusals: %v", err)
	}
}

func TestFailedWriteRefusesAppends(t *testing.T) {
	j := open(t, filepath.Join(t.TempDir(), "j.jsonl"))
	h := j.Head()
	j.f.Close() // every write now fails, as on a full or broken disk
	if _, err := j.Append(next(h, "a")); !errors.Is(err, ErrFailed) {
		t.Fatalf("Append on a broken file: %v, want ErrFailed", err)
	}
	if _, err := j.Append(next(h, "a")); !errors.Is(err, ErrFailed) || !errors.Is(err, os.ErrClosed) {
		t.Errorf("Append after a failure: %v, want ErrFailed with the cause", err)
	}
	if err := j.Err(); !errors.Is(err, ErrFailed) {
		t.Errorf("Err after a failure: %v", err)
	}
	if j.Head() != h {
		t.Errorf("head moved to %v after failed appends", j.Head())
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	j := open(t, path)
	if _, err := Open(path, nil); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Errorf("second Open: %v, want ErrLocked naming the file", err)
	}
	j.Close()
	open(t, path) // the lock dies with Close
}

func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	open(t, path)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
}

func TestWalk(t *testing.T) {
	for _, data := range []string{"", "a\n", "a\nb", "a\n\nbc\n", "\n"} {
		var lines []string
		good, torn, err := Walk(strings.NewReader(data), func(_ int, line []byte) error {
			lines = append(lines, string(line))
			return nil
		})
		if err != nil || good+torn != int64(len(data)) || int64(strings.LastIndexByte(data, '\n')+1) != good {
			t.Errorf("%q: good %d, torn %d, %v", data, good, torn, err)
		}
		if want := strings.Count(data, "\n"); len(lines) != want {
			t.Errorf("%q: %d lines, want %d", data, len(lines), want)
		}
	}
}

const crashEnv = "JOINTLY_JOURNAL_CRASH_CHILD"

// TestCrashChild is the child of TestAppendSurvivesSIGKILL: it appends,
// announces the head, and waits to be killed as if in the middle of the
// action the line records.
func TestCrashChild(t *testing.T) {
	crashtest.Child(t, crashEnv, func(path string) (string, error) {
		j, err := Open(path, nil)
		if err != nil {
			return "", err
		}
		h, err := j.Append(next(j.Head(), "before the crash"))
		return h.String(), err
	})
}

func TestAppendSurvivesSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	said := crashtest.Kill(t, "TestCrashChild", crashEnv, path, func(line string) {
		if !strings.HasPrefix(line, "1:") {
			t.Errorf("child appended at %s, want line 1", line)
		}
		// The child holds the lock until it dies.
		if _, err := Open(path, nil); !errors.Is(err, ErrLocked) {
			t.Errorf("Open while the child runs: %v, want ErrLocked", err)
		}
	})
	j := open(t, path)
	if got := j.Head().String(); got != said || j.TornBytes() != 0 {
		t.Errorf("after the crash head %s, torn %d; the child appended %s", got, j.TornBytes(), said)
	}
}

func BenchmarkAppend(b *testing.B) {
	j, err := Open(filepath.Join(b.TempDir(), "j.jsonl"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	for b.Loop() {
		if _, err := j.Append(next(j.Head(), "benchmark")); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSentinelsWrap: a journal error keeps its journal sentinel and gains
// the user's; any other error is returned as it is.
func TestSentinelsWrap(t *testing.T) {
	own := Sentinels{Locked: errors.New("own locked"), Corrupt: errors.New("own corrupt"), Failed: errors.New("own failed")}
	for _, tc := range []struct{ journal, own error }{
		{ErrLocked, own.Locked}, {ErrCorrupt, own.Corrupt}, {ErrFailed, own.Failed},
	} {
		err := own.Wrap(fmt.Errorf("line 3: %w", tc.journal))
		if !errors.Is(err, tc.journal) || !errors.Is(err, tc.own) || !strings.Contains(err.Error(), "line 3") {
			t.Errorf("Wrap(%v) = %v: want both sentinels and the cause", tc.journal, err)
		}
	}
	other := errors.New("disk full")
	if err := own.Wrap(other); err != other {
		t.Errorf("Wrap(%v) = %v, want it unchanged", other, err)
	}
	if own.Wrap(nil) != nil {
		t.Error("Wrap(nil) is not nil")
	}
}
