package party

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jointly-dev/jointly/party/audit"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

func testHash(b byte) string { return strings.Repeat(string("0123456789abcdef"[b%16]), 64) }

// TestWitnessObserve: the rules by which a node keeps its peers' heads.
func TestWitnessObserve(t *testing.T) {
	path := filepath.Join(t.TempDir(), witnessFile)
	w, err := loadWitness(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	head := func(seq uint64, h byte) *peerHead { return &peerHead{head: audit.Head{Seq: seq, Hash: testHash(h)}} }
	steps := []struct {
		name     string
		h        *peerHead
		rolled   bool
		accepted bool
		keep     uint64 // the seq kept after the step
	}{
		{"first head", head(10, 1), false, false, 10},
		{"the same head", head(10, 1), false, false, 10},
		{"a newer head", head(12, 2), false, false, 12},
		// A message sent before the one that showed 12 may arrive after it:
		// it is no proof, and the peer checks its own log (checkOwn).
		{"behind", head(11, 3), false, false, 12},
		{"another event at the witnessed position", head(12, 4), true, false, 12},
		{"a loss of another head", &peerHead{head: audit.Head{Seq: 3, Hash: testHash(5)}, lost: audit.Head{Seq: 12, Hash: testHash(9)}}, false, false, 12},
		{"the loss of the witnessed head", &peerHead{head: audit.Head{Seq: 3, Hash: testHash(5)}, lost: audit.Head{Seq: 12, Hash: testHash(2)}}, false, true, 3},
		{"that loss shown again with an older copy", &peerHead{head: audit.Head{Seq: 2, Hash: testHash(6)}, lost: audit.Head{Seq: 12, Hash: testHash(2)}}, false, false, 3},
		{"another event at the position after the loss", head(3, 7), true, false, 3},
		{"no head", nil, false, false, 3},
	}
	for _, s := range steps {
		acc, err := w.observe("insurer", s.h, now)
		if errors.Is(err, ErrAuditRolledBack) != s.rolled || (err != nil && !s.rolled) {
			t.Fatalf("%s: %v, want rolled back %v", s.name, err, s.rolled)
		}
		if (acc != nil) != s.accepted {
			t.Fatalf("%s: accepted %v", s.name, acc)
		}
		if got, _ := w.of("insurer"); got.Seq != s.keep {
			t.Fatalf("%s: keeps %d, want %d", s.name, got.Seq, s.keep)
		}
		// What it keeps is on disk.
		again, err := loadWitness(path)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := again.of("insurer"); got.Seq != s.keep {
			t.Fatalf("%s: the file keeps %d, want %d", s.name, got.Seq, s.keep)
		}
	}
	if _, err := parseAuditHead("insurer", &pb.AuditHead{Seq: 1, Hash: "zz"}); !errors.Is(err, ErrBadPeerMessage) {
		t.Errorf("a malformed hash: %v", err)
	}
	for _, bad := range []string{"{", `{"insurer":{"seq":1,"hash":"00"}}`} {
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadWitness(path); !errors.Is(err, ErrWitnessFile) || !strings.Contains(err.Error(), path) {
			t.Errorf("a malformed %s: %v", witnessFile, err)
		}
	}
}

// TestPeerBehind: which answers to a fresh greeting prove a peer behind
// the head this node witnessed.
func TestPeerBehind(t *testing.T) {
	ref := witnessed{Seq: 12, Hash: testHash(2)}
	for _, c := range []struct {
		name   string
		h      *pb.AuditHead
		behind bool
	}{
		{"no head", nil, false},
		{"the witnessed head", &pb.AuditHead{Seq: 12, Hash: testHash(2)}, false},
		{"a newer head", &pb.AuditHead{Seq: 13, Hash: testHash(3)}, false},
		{"behind", &pb.AuditHead{Seq: 11, Hash: testHash(3)}, true},
		{"behind, with the loss of another head", &pb.AuditHead{Seq: 4, Hash: testHash(3), LostSeq: 12, LostHash: testHash(4)}, true},
		{"behind, with the loss of the witnessed head", &pb.AuditHead{Seq: 4, Hash: testHash(3), LostSeq: 12, LostHash: testHash(2)}, false},
	} {
		err := peerBehind("insurer", c.h, ref)
		if errors.Is(err, ErrAuditRolledBack) != c.behind || (err != nil && !c.behind) {
			t.Errorf("%s: %v, want behind %v", c.name, err, c.behind)
		}
		if err != nil && !strings.Contains(err.Error(), "insurer's audit log ends at event") {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TestWitnessCheckOwn: a node finds its own log rolled back when a peer
// witnessed a head it does not hold, including a log rolled back and then
// extended past the witnessed position (another event there).
func TestWitnessCheckOwn(t *testing.T) {
	own := audit.Head{Seq: 20, Hash: testHash(1)}
	ours := map[uint64]string{8: testHash(2), 15: testHash(3)}
	hashAt := func(seq uint64) (string, error) { return ours[seq], nil }
	for _, tc := range []struct {
		name   string
		seen   *pb.AuditHead
		lost   audit.Head
		rolled bool
	}{
		{"nothing seen", nil, audit.Head{}, false},
		{"the head itself", &pb.AuditHead{Seq: 20, Hash: testHash(1)}, audit.Head{}, false},
		{"an earlier event of this log", &pb.AuditHead{Seq: 15, Hash: testHash(3)}, audit.Head{}, false},
		{"after the head", &pb.AuditHead{Seq: 21, Hash: testHash(4)}, audit.Head{}, true},
		{"another event at the head", &pb.AuditHead{Seq: 20, Hash: testHash(4)}, audit.Head{}, true},
		{"another event before the head (rolled back, then extended)", &pb.AuditHead{Seq: 8, Hash: testHash(5)}, audit.Head{}, true},
		{"a head recorded as lost", &pb.AuditHead{Seq: 30, Hash: testHash(6)}, audit.Head{Seq: 30, Hash: testHash(6)}, false},
		{"after a head recorded as lost for another", &pb.AuditHead{Seq: 31, Hash: testHash(6)}, audit.Head{Seq: 30, Hash: testHash(6)}, true},
	} {
		w := &witness{heads: map[string]witnessed{}, verified: map[string]audit.Head{}}
		err := w.checkOwn("insurer", tc.seen, own, tc.lost, hashAt, "audit.log")
		if errors.Is(err, ErrAuditRolledBack) != tc.rolled || (err != nil && !tc.rolled) {
			t.Errorf("%s: %v, want rolled back %v", tc.name, err, tc.rolled)
		}
		if tc.rolled && (!errors.Is(w.rolledBack(), ErrAuditRolledBack) || !strings.Contains(err.Error(), "accept-loss --config NODE.hcl --peer insurer --witnessed")) {
			t.Errorf("%s: kept %v; error %v", tc.name, w.rolledBack(), err)
		}
	}
}
