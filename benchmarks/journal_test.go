package benchmarks

import (
	"bufio"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jointly-dev/jointly/party/journal"
)

var journalLines = flag.Int("journal-n", 1000000, "lines of the journal BenchmarkJournalHashAt reads from")

// BenchmarkJournalHashAt: how long a node takes to find the hash of one of
// its own audit events, as it does each time a peer's witnessed head of it
// moves (after each query), in a log of -journal-n events of about 400
// bytes each (an audit event's size).
func BenchmarkJournalHashAt(b *testing.B) {
	path := filepath.Join(b.TempDir(), "audit.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	head := journal.Head{Hash: journal.Genesis}
	detail := strings.Repeat("d", 330)
	for seq := uint64(1); seq <= uint64(*journalLines); seq++ {
		line, err := json.Marshal(struct {
			Seq    uint64 `json:"seq"`
			Detail string `json:"detail"`
			Prev   string `json:"prev"`
		}{seq, detail, head.Hash})
		if err != nil {
			b.Fatal(err)
		}
		w.Write(append(line, '\n'))
		head = journal.Head{Seq: seq, Hash: journal.Hash(line)}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	j, err := journal.Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	seq := head.Seq - 1 // the head a peer witnessed, one event back
	for b.Loop() {
		h, err := j.HashAt(seq)
		if err != nil || h == "" {
			b.Fatal(h, err)
		}
	}
}
