package party

import (
	"errors"
	"strings"
	"testing"
)

// TestReserve: the evaluations a node runs at once are bounded by count
// and by estimated memory; a query too large alone and one that does not
// fit beside those running are refused differently, and ending an
// evaluation frees its share.
func TestReserve(t *testing.T) {
	tab := newQueryTable()
	const gib = int64(1) << 30
	for _, tc := range []struct {
		id    string
		bytes int64
		want  string // "" admits
	}{
		{"too-large", 5 * gib, "limits.query_memory"},
		{"a", 3 * gib, ""},
		{"b", 2 * gib, "busy with 1 queries"},
		{"c", gib / 2, ""},
		{"d", gib / 4, "busy with 2 queries"}, // the count limit
	} {
		err := tab.reserve(tc.id, tc.bytes, 2, 4*gib)
		switch {
		case tc.want == "" && err != nil:
			t.Fatalf("%s: %v, want it admitted", tc.id, err)
		case tc.want != "" && (!errors.Is(err, ErrCapacity) || !strings.Contains(err.Error(), tc.want)):
			t.Fatalf("%s: %v, want ErrCapacity saying %q", tc.id, err, tc.want)
		}
	}
	if err := tab.reserve("a", 1, 8, 8*gib); !errors.Is(err, ErrDuplicateQuery) {
		t.Fatalf("a running id again: %v, want ErrDuplicateQuery", err)
	}
	tab.unreserve("a")
	if err := tab.reserve("b", 2*gib, 2, 4*gib); err != nil {
		t.Fatalf("after a finished: %v", err)
	}
}

// TestParseBytes covers the units of limits.query_memory.
func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"512MiB": 512 << 20, "4GiB": 4 << 30, "2GB": 2e9, "1.5GiB": 3 << 29, "100B": 100, "8KiB": 8 << 10} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "4", "GiB", "-1GiB", "4 gigs", "1e30TB"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) accepted", in)
		}
	}
}

// TestLimitsConfig parses the limits block and names the line of a bad
// value.
func TestLimitsConfig(t *testing.T) {
	cfg, err := ParseConfig("node.hcl", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxOpenQueries != defaultOpenQueries || cfg.MaxQueryMemory != defaultQueryMemory {
		t.Fatalf("defaults: %d queries, %d bytes", cfg.MaxOpenQueries, cfg.MaxQueryMemory)
	}
	cfg, err = ParseConfig("node.hcl", []byte(goodConfig+"limits {\n  open_queries = 2\n  query_memory = \"512MiB\"\n}\n"))
	if err != nil || cfg.MaxOpenQueries != 2 || cfg.MaxQueryMemory != 512<<20 {
		t.Fatalf("limits: %d queries, %d bytes, %v", cfg.MaxOpenQueries, cfg.MaxQueryMemory, err)
	}
	for _, bad := range []string{"open_queries = 0", "open_queries = 65", `query_memory = "lots"`, `query_memory = "1MiB"`} {
		_, err := ParseConfig("node.hcl", []byte(goodConfig+"limits {\n  "+bad+"\n}\n"))
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "node.hcl:17") || !strings.Contains(err.Error(), strings.Fields(bad)[0]) {
			t.Errorf("%s: %v, want an error at node.hcl:17 naming the field", bad, err)
		}
	}
}
