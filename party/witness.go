package party

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/fsutil"
	"github.com/jointly-dev/jointly/party/ledger"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// Peers as witnesses of each other's audit logs.
//
// A node checks its budget ledger against its audit log at start
// (openLedger), which catches a ledger deleted, cut or put back alone. An
// audit log and ledger put back together from an older backup agree with
// each other, though, and would refund every charge made since the backup.
// Only the other owners can tell: every Hello and every Admit round carries
// the sender's audit head, each node keeps the newest head it has seen of
// each peer (witness.json in the data directory), and every Hello and Admit
// round also tells the other node which of its heads this one witnessed. A
// node whose log ends before a head a peer witnessed, or holds another
// event at its position, has been rolled back, and refuses every query
// itself, until the newer files are back or the loss is recorded in the log
// (jointly audit accept-loss: an audit_loss event, which the peers accept
// and record as peer_audit_loss).
//
// Only the node whose log it is can tell a rollback from a message that
// was overtaken: a head a message shows may be older than one the receiver
// already saw on another call, sent later but delivered first, and every
// head this node's peers witnessed was in its log before it was sent. A
// peer refuses a head only when it holds another event at the position it
// witnessed, which no reordering explains.

const witnessFile = "witness.json"

// ErrAuditRolledBack refuses a query with a node whose audit log ends
// before the head a peer witnessed: its log and budget ledger were put
// back from an older copy, or deleted, which refunds spent budget.
var ErrAuditRolledBack = errors.New("party: audit log rolled back")

// ErrWitnessFile is a witness.json that does not parse: the node does not
// start on it.
var ErrWitnessFile = errors.New("party: malformed witness file")

// witnessed is the newest audit head of one peer this node has seen, and
// when.
type witnessed struct {
	Seq  uint64    `json:"seq"`
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
}

func (w witnessed) head() audit.Head { return audit.Head{Seq: w.Seq, Hash: w.Hash} }

// witness keeps the newest head of each peer, on stable storage before a
// newer one is acted upon.
type witness struct {
	path string
	mu   sync.Mutex
	// heads: peer → the newest head it showed.
	heads map[string]witnessed
	// verified: peer → the head of this node's log it witnessed, as this
	// node last found it in its log.
	verified map[string]audit.Head
	// behind: the error of this node's own log found behind a head a peer
	// witnessed, nil while none did.
	behind error
}

// loadWitness reads path; a missing file is a node that has witnessed
// nothing yet.
func loadWitness(path string) (*witness, error) {
	w := &witness{path: path, heads: map[string]witnessed{}, verified: map[string]audit.Head{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return w, nil
	}
	if err != nil {
		return nil, fmt.Errorf("party: %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &w.heads); err != nil {
		return nil, witnessCorrupt(path, err)
	}
	for p, h := range w.heads {
		if !validHash(h.Hash) {
			return nil, witnessCorrupt(path, fmt.Errorf("peer %q: hash %q is not 64 hex digits", p, h.Hash))
		}
	}
	return w, nil
}

func witnessCorrupt(path string, err error) error {
	return fmt.Errorf("%w: %s (%v): it holds the newest audit heads of the peers this node has seen; "+
		"put back a good copy, or move it away to witness the peers afresh from their next contact", ErrWitnessFile, path, err)
}

func validHash(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32
}

// of returns the newest head of peer this node has seen.
func (w *witness) of(peer string) (witnessed, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h, ok := w.heads[peer]
	return h, ok
}

// peerHead is an AuditHead a peer sent, checked.
type peerHead struct {
	head audit.Head
	lost audit.Head // Seq 0: no recorded loss
}

// parseAuditHead checks a head a peer sent; nil is a peer that sends none
// (it is not witnessed).
func parseAuditHead(peer string, h *pb.AuditHead) (*peerHead, error) {
	if h == nil {
		return nil, nil
	}
	if !validHash(h.Hash) || (h.LostSeq > 0 && !validHash(h.LostHash)) {
		return nil, fmt.Errorf("%w: %s sent an audit head whose hash is not 64 hex digits", ErrBadPeerMessage, peer)
	}
	return &peerHead{head: audit.Head{Seq: h.Seq, Hash: h.Hash}, lost: audit.Head{Seq: h.LostSeq, Hash: h.LostHash}}, nil
}

// observe checks h, the head peer shows now, against the newest one this
// node witnessed and keeps it when it is newer. A head behind the witnessed
// one is left alone: the message may have been overtaken by a newer one,
// and the peer checks its own log against the head this node tells it it
// witnessed. Another event at the witnessed position is
// ErrAuditRolledBack. A peer that recorded the loss of exactly the
// witnessed head is accepted: accepted is that head, and h is kept.
func (w *witness) observe(peer string, h *peerHead, now time.Time) (accepted *witnessed, err error) {
	if h == nil {
		return nil, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	old, ok := w.heads[peer]
	switch {
	case !ok || h.head.Seq > old.Seq:
	case h.head == old.head():
		return nil, nil
	case h.lost == old.head():
		accepted = &old
	case h.head.Seq == old.Seq:
		return nil, peerRolledBack(peer, h.head, old)
	default: // behind: an older message, or a rolled-back peer that checks itself
		return nil, nil
	}
	w.heads[peer] = witnessed{Seq: h.head.Seq, Hash: h.head.Hash, At: now.UTC()}
	if err := w.save(); err != nil {
		w.heads[peer] = old
		if !ok {
			delete(w.heads, peer)
		}
		return nil, err
	}
	return accepted, nil
}

// save writes the heads atomically.
func (w *witness) save() error {
	b, err := json.MarshalIndent(w.heads, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteFile(w.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("party: %s: %w", w.path, err)
	}
	return nil
}

func peerRolledBack(peer string, now audit.Head, old witnessed) error {
	at := fmt.Sprintf("ends at event %d", now.Seq)
	if now.Seq == old.Seq {
		at = fmt.Sprintf("holds another event %d (%s)", now.Seq, now.Hash)
	}
	return fmt.Errorf("%w: node %s's audit log %s, but this node witnessed its event %d (%s) on %s: "+
		"%s's audit log and budget ledger were replaced by older copies or deleted, which refunds spent privacy budget, "+
		"so it takes part in no query until it puts the newer files back or records the loss (jointly audit accept-loss)",
		ErrAuditRolledBack, peer, at, old.Seq, old.Hash, old.At.Format(time.RFC3339), peer)
}

// checkOwn compares this node's log, whose head is own, with seen, the
// newest head of it peer witnessed; lost is the head of peer's this node
// recorded as lost, and hashAt finds the hash of one of its events. A log
// that ends before seen, or holds another event at its position, was
// rolled back: the error is kept, and every query is refused with it from
// then on.
func (w *witness) checkOwn(peer string, seen *pb.AuditHead, own, lost audit.Head, hashAt func(uint64) (string, error), auditPath string) error {
	if seen == nil || seen.Seq == 0 {
		return nil
	}
	s := audit.Head{Seq: seen.Seq, Hash: seen.Hash}
	w.mu.Lock()
	done := w.verified[peer] == s
	w.mu.Unlock()
	if done || s == lost {
		return nil
	}
	ours := own.Hash
	if s.Seq < own.Seq {
		h, err := hashAt(s.Seq)
		if err != nil {
			return fmt.Errorf("party: check the head %s witnessed: %w", peer, err)
		}
		ours = h
	}
	if s.Seq <= own.Seq && ours == s.Hash {
		w.mu.Lock()
		w.verified[peer] = s
		w.mu.Unlock()
		return nil
	}
	at := fmt.Sprintf("ends at event %d", own.Seq)
	if s.Seq <= own.Seq {
		at = fmt.Sprintf("holds another event %d", s.Seq)
	}
	err := fmt.Errorf("%w: %s witnessed this node's audit log at event %d (%s), but %s %s: "+
		"the audit log and budget ledger were replaced by older copies or deleted, which refunds spent privacy budget, "+
		"so this node will not serve queries: put back the newest audit.log and budget.ledger (a backup taken after that event), "+
		"or, if they are lost, stop the node and record the loss with `jointly audit accept-loss --config NODE.hcl --peer %s --witnessed %s`",
		ErrAuditRolledBack, peer, s.Seq, s.Hash, auditPath, at, peer, s)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.behind == nil {
		w.behind = err
	}
	return err
}

// rolledBack returns the error of this node's own log found behind a peer's
// witness, nil if none was.
func (w *witness) rolledBack() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.behind
}

// CheckWitness reads the node's witness.json as the node would at start,
// without writing anything (jointly validate).
func (c *Config) CheckWitness() error {
	_, err := loadWitness(c.witnessPath())
	return err
}

// witnessPath is where a node keeps its peers' heads.
func (c *Config) witnessPath() string { return filepath.Join(c.DataDir, witnessFile) }

// lostHeads is, per peer, the head of this node's log that peer had
// witnessed and that the newest audit_loss event for it recorded as lost.
func lostHeads(events []audit.Event) map[string]audit.Head {
	lost := map[string]audit.Head{}
	for _, ev := range events {
		if ev.Kind != audit.KindAuditLoss {
			continue
		}
		if h, err := ledger.ParseHead(ev.Detail[audit.DetailWitnessedHead]); err == nil {
			lost[ev.Detail[audit.DetailPeer]] = h
		}
	}
	return lost
}

// auditHead is the head this node shows peer.
func (n *Node) auditHead(peer string) *pb.AuditHead {
	h := n.gov.audit.Head()
	lost := n.gov.lost[peer]
	return &pb.AuditHead{Seq: h.Seq, Hash: h.Hash, LostSeq: lost.Seq, LostHash: lost.Hash}
}

// witnessedHead is the newest head of peer's log this node has seen, to
// tell peer (nil: none yet).
func (n *Node) witnessedHead(peer string) *pb.AuditHead {
	w, ok := n.gov.witness.of(peer)
	if !ok {
		return nil
	}
	return &pb.AuditHead{Seq: w.Seq, Hash: w.Hash}
}

// peerBehind is ErrAuditRolledBack when h, a head peer showed, is behind
// ref, a head of peer's this node witnessed, and does not record its loss;
// nil otherwise. Only a head peer showed in an answer to a call made after
// this node witnessed ref proves a rollback: an older message may just
// have been overtaken.
func peerBehind(peer string, h *pb.AuditHead, ref witnessed) error {
	if h == nil || h.Seq >= ref.Seq || (h.LostSeq == ref.Seq && h.LostHash == ref.Hash) {
		return nil
	}
	return peerRolledBack(peer, audit.Head{Seq: h.Seq, Hash: h.Hash}, ref)
}

// witnessPeer checks the head peer shows against the newest one this node
// witnessed, and keeps it. An error refuses to work with the peer.
func (n *Node) witnessPeer(peer string, h *pb.AuditHead) error {
	ph, err := parseAuditHead(peer, h)
	if err != nil {
		return err
	}
	accepted, err := n.gov.witness.observe(peer, ph, time.Now())
	if err != nil || accepted == nil {
		return err
	}
	n.logger.Named("witness").Warn("peer recorded the loss of audit events this node had witnessed; its shorter log is accepted",
		"peer", peer, "witnessed", accepted.head().String(), "peer_head", ph.head.String())
	return n.record(audit.Event{Kind: audit.KindPeerAuditLoss, Detail: map[string]string{
		audit.DetailPeer: peer, audit.DetailWitnessedHead: accepted.head().String(), "peer_head": ph.head.String()}})
}

// checkOwnHead compares this node's log with the newest head of it peer
// witnessed (nil: the peer did not say).
func (n *Node) checkOwnHead(peer string, seen *pb.AuditHead) error {
	if seen != nil && seen.Seq > 0 && !validHash(seen.Hash) {
		return fmt.Errorf("%w: %s sent a witnessed head whose hash is not 64 hex digits", ErrBadPeerMessage, peer)
	}
	first := n.gov.witness.rolledBack() == nil
	err := n.gov.witness.checkOwn(peer, seen, n.gov.audit.Head(), n.gov.lost[peer], n.gov.audit.HashAt, n.cfg.AuditPath())
	if err != nil && first && errors.Is(err, ErrAuditRolledBack) {
		n.logger.Named("witness").Error("this node's audit log is behind what a peer witnessed; it serves no query", "peer", peer, "error", err)
	}
	return err
}

// AcceptAuditLoss records in the audit log of the stopped node cfg that
// its events up to witnessed, the head peer witnessed (as the node's
// refusal printed it), are lost: peer then works with the shorter log
// again. The charges those events recorded are lost with them, and the
// transparency report says so. It refuses a log that is not behind
// witnessed.
func AcceptAuditLoss(cfg Config, peer string, witnessed audit.Head, logger hclog.Logger) (audit.Head, error) {
	if !slices.ContainsFunc(cfg.Peers, func(p PeerConfig) bool { return p.Name == peer }) {
		return audit.Head{}, fmt.Errorf("%w: %q is not a peer of this node", ErrUnknownParty, peer)
	}
	if !validHash(witnessed.Hash) || witnessed.Seq == 0 {
		return audit.Head{}, fmt.Errorf("%w: witnessed head %s: want SEQ:SHA256HEX as the refusal printed it", ErrBadRequest, witnessed)
	}
	n, err := New(cfg, logger)
	if err != nil {
		return audit.Head{}, err
	}
	a, err := n.openAudit()
	if err != nil {
		return audit.Head{}, n.dataDirInUse(err)
	}
	defer a.Close()
	own := a.Head()
	if witnessed.Seq <= own.Seq {
		h, err := a.HashAt(witnessed.Seq)
		if err != nil {
			return audit.Head{}, err
		}
		if h == witnessed.Hash {
			return audit.Head{}, fmt.Errorf("%w: %s holds the witnessed event %d: nothing is lost, so nothing is recorded",
				ErrBadRequest, cfg.AuditPath(), witnessed.Seq)
		}
	}
	if err := n.recordOn(a, audit.Event{Kind: audit.KindAuditLoss, Detail: map[string]string{
		audit.DetailPeer: peer, audit.DetailWitnessedHead: witnessed.String(), "log_head": own.String()}}); err != nil {
		return audit.Head{}, err
	}
	logger.Warn("audit loss recorded: the peer accepts this node's shorter log at its next contact", "peer", peer,
		"witnessed", witnessed.String(), "log_head", own.String())
	return a.Head(), nil
}
