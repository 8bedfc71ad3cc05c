package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/party/fsutil"
	"github.com/jointly-dev/jointly/party/journal"
)

var (
	// ErrTampered reports a line that was modified, deleted, inserted or
	// reordered, or that another key signed; the error names the line.
	ErrTampered = errors.New("audit: log does not verify")
	// ErrTruncated reports a log that ends before an anchor the verifier
	// saw earlier.
	ErrTruncated = errors.New("audit: log truncated")
	// ErrIncomplete reports a partial last line: the node crashed while
	// writing it and has not reopened the log since.
	ErrIncomplete = errors.New("audit: incomplete last line")
	// ErrInvalidEvent reports an event Append refuses to record.
	ErrInvalidEvent = errors.New("audit: invalid event")
	// ErrKeyMismatch reports a LOG.pub beside the log that holds another key.
	ErrKeyMismatch = errors.New("audit: public key file does not match the signing key")
	// ErrLocked reports a log already open in another process.
	ErrLocked = errors.New("audit: log in use by another process")
	// ErrFailed reports a log that refuses further appends because a write
	// or fsync failed.
	ErrFailed = errors.New("audit: log failed")
)

// fromJournal gives an error of the journal the audit log's sentinel as well,
// so that callers test for audit errors only.
var fromJournal = journal.Sentinels{Locked: ErrLocked, Corrupt: ErrTampered, Failed: ErrFailed}.Wrap

// Kind names what an event records.
type Kind string

// Event kinds a node writes. Other lower-case kinds are accepted so that
// new phases can be audited without a format change.
const (
	KindSetup          Kind = "setup"
	KindMatching       Kind = "matching"
	KindQueryReceived  Kind = "query_received"
	KindPolicyDecision Kind = "policy_decision"
	KindRelease        Kind = "release"
	// KindQueryAborted records that a charged query failed before its
	// result was released, with the reason: its charge stands (a failure is
	// no way to get budget back) and nothing more is released for it.
	KindQueryAborted Kind = "query_aborted"
	// KindLedgerAnchor records the budget ledger's head when the node found
	// charges its audit log had not recorded yet (a crash between a charge
	// and its decision record, or a data directory from before ledger heads
	// were recorded).
	KindLedgerAnchor Kind = "ledger_anchor"
	// KindBoundsEstimated records that the node estimated a column's
	// bounds with differential privacy (auto_bounds), charged to the
	// owner's own budget: the column, ε, the resulting bounds (public
	// anyway), DetailCharge and the ledger's head after the charge.
	KindBoundsEstimated Kind = "bounds_estimated"
	// KindConsentCounted records that the node released, with differential
	// privacy and from the owner's own budget, how many records each
	// purpose may use (Detail "purpose.NAME": the noisy count).
	KindConsentCounted Kind = "consent_counted"
	// KindAuditLoss records that this log was found behind a head a peer
	// had witnessed (its older copy was put back, or it was deleted) and
	// that the operator recorded the loss (jointly audit accept-loss):
	// DetailWitnessedHead is that head; the events after the log's
	// previous line up to it, and the charges they recorded, are lost.
	KindAuditLoss Kind = "audit_loss"
	// KindPeerAuditLoss records that a peer's audit log recorded the loss
	// of events this node had witnessed, and that this node accepted its
	// shorter log: "peer", DetailWitnessedHead and "peer_head".
	KindPeerAuditLoss Kind = "peer_audit_loss"
)

// Detail keys and values the transparency report understands.
const (
	DetailDecision = "decision" // on policy_decision: DecisionAdmit, DecisionAllow or DecisionRefuse
	DetailReason   = "reason"   // why a query was refused or aborted
	// DetailLedgerHead, on the policy_decision that charged a query (and on
	// KindLedgerAnchor), is the budget ledger's head after the charge; the
	// node checks its ledger against the last one recorded.
	DetailLedgerHead = "ledger_head"
	// DetailWitnessedHead, on KindAuditLoss and KindPeerAuditLoss, is the
	// head (SEQ:HASH) of this node's log that a peer had witnessed.
	DetailWitnessedHead = "witnessed_head"
	// DetailPeer names the peer node an event is about.
	DetailPeer = "peer"
	// DetailColumn and DetailCharge, on KindBoundsEstimated, name the
	// column and the estimate's charge in the budget ledger.
	DetailColumn = "column"
	DetailCharge = "charge_id"
	// DetailJoinKeys, on KindMatching, lists the identifier kinds matched
	// on, joined by ",", when there are several.
	DetailJoinKeys = "join_keys"
	// DetailStage, on release, says which release it was: StageCounts (the
	// noisy counts, decrypted by the owners to apply min_group_size) or
	// StageResult (the result, to the querier's key).
	DetailStage = "stage"
	StageCounts = "counts"
	StageResult = "result"
	// DecisionAdmit is the admission round's yes: the query passed every
	// rule and nothing was charged. DecisionAllow follows once every owner
	// admitted the query, with its charge.
	DecisionAdmit  = "admit"
	DecisionAllow  = "allow"
	DecisionRefuse = "refuse"
)

// Event is one audited action. Seq, Time (if zero) and Prev are filled in
// by Append. Detail must never hold an identifier, a record value or key
// material: the log is shown to customers.
type Event struct {
	Seq     uint64            `json:"seq"`
	Time    time.Time         `json:"time"`
	Kind    Kind              `json:"kind"`
	Actor   string            `json:"actor"`
	Querier string            `json:"querier,omitempty"`
	Purpose string            `json:"purpose,omitempty"`
	Epsilon float64           `json:"epsilon,omitempty"`
	Delta   float64           `json:"delta,omitempty"`
	QueryID string            `json:"query_id,omitempty"`
	Detail  map[string]string `json:"detail,omitempty"`
	Prev    string            `json:"prev"`
}

// Head identifies a position in a log: a line's sequence number and the
// hex SHA-256 of its bytes.
type Head = journal.Head

var kindRE = regexp.MustCompile(`^[a-z][a-z_]{0,31}$`)

const (
	sigPrefix = `,"sig":"`
	sigSuffix = `"}`
	sigHexLen = 2 * ed25519.SignatureSize
	sigTail   = len(sigPrefix) + sigHexLen + len(sigSuffix)
)

// sign returns the signed line for the unsigned JSON object body.
func sign(key ed25519.PrivateKey, body []byte) []byte {
	sig := ed25519.Sign(key, body)
	line := make([]byte, 0, len(body)+sigTail)
	line = append(line, body[:len(body)-1]...)
	line = append(line, sigPrefix...)
	line = hex.AppendEncode(line, sig)
	return append(line, sigSuffix...)
}

// verifier checks the signature and the event of a line whose place in the
// chain (seq and prev) the journal has checked.
type verifier struct {
	pub    ed25519.PublicKey
	replay func(Event) error // if set, called with each verified event
}

// check verifies the signature and the event of one line (without its
// newline).
func (v verifier) check(lineNo int, line []byte) error {
	n := len(line)
	if n < sigTail+2 || string(line[n-sigTail:n-sigTail+len(sigPrefix)]) != sigPrefix || string(line[n-len(sigSuffix):]) != sigSuffix {
		return fmt.Errorf("%w: line %d: no signature field at the end", ErrTampered, lineNo)
	}
	sig, err := hex.DecodeString(string(line[n-sigHexLen-len(sigSuffix) : n-len(sigSuffix)]))
	if err != nil {
		return fmt.Errorf("%w: line %d: malformed signature", ErrTampered, lineNo)
	}
	body := append(bytes.Clone(line[:n-sigTail]), '}')
	if !ed25519.Verify(v.pub, body, sig) {
		return fmt.Errorf("%w: line %d: signature does not verify (line modified, inserted, or signed by another key)", ErrTampered, lineNo)
	}
	var e Event
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return fmt.Errorf("%w: line %d: %w", ErrTampered, lineNo, err)
	}
	if v.replay != nil {
		return v.replay(e)
	}
	return nil
}

// Verify checks every line of the log in r against pub: signatures,
// sequence numbers and the hash chain. The error names the first bad line.
func Verify(r io.Reader, pub ed25519.PublicKey) error {
	_, err := VerifyHead(r, pub)
	return err
}

// VerifyHead is Verify that also returns the head of the log and checks it
// against anchors seen earlier (each anchor's line must be present, with
// that hash), which detects lines deleted from the end.
func VerifyHead(r io.Reader, pub ed25519.PublicKey, anchors ...Head) (Head, error) {
	if len(pub) != ed25519.PublicKeySize {
		return Head{}, fmt.Errorf("%w: public key has %d bytes", ErrTampered, len(pub))
	}
	want := make(map[uint64]string, len(anchors))
	var maxAnchor uint64
	for _, a := range anchors {
		want[a.Seq] = a.Hash
		maxAnchor = max(maxAnchor, a.Seq)
	}
	v := verifier{pub: pub}
	head, torn, err := journal.Replay(r, func(lineNo int, line []byte) error {
		if err := v.check(lineNo, line); err != nil {
			return err
		}
		if h, ok := want[uint64(lineNo)]; ok && h != journal.Hash(line) {
			return fmt.Errorf("%w: line %d: hash differs from the anchor %d:%s", ErrTampered, lineNo, lineNo, h)
		}
		return nil
	})
	if err != nil {
		return Head{}, fromJournal(err)
	}
	if torn > 0 {
		return head, fmt.Errorf("%w: line %d (%d bytes)", ErrIncomplete, head.Seq+1, torn)
	}
	if head.Seq < maxAnchor {
		return head, fmt.Errorf("%w: log ends at line %d, an earlier head was at line %d", ErrTruncated, head.Seq, maxAnchor)
	}
	return head, nil
}

// ReadEvents parses the log in r without verifying signatures (Report's
// input; verify first with Verify). A partial last line is ignored.
func ReadEvents(r io.Reader) ([]Event, Head, error) {
	var events []Event
	h := Head{Hash: journal.Genesis}
	_, _, err := journal.Walk(r, func(lineNo int, line []byte) error {
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("%w: line %d: %w", ErrTampered, lineNo, err)
		}
		events = append(events, e)
		h = Head{Seq: e.Seq, Hash: journal.Hash(line)}
		return nil
	})
	return events, h, err
}

// ReadFile is ReadEvents of the log file at path.
func ReadFile(path string) ([]Event, Head, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Head{}, err
	}
	defer f.Close()
	return ReadEvents(f)
}

// Log is an open audit log. It is safe for concurrent use.
type Log struct {
	mu     sync.Mutex // serializes building a line at the head and appending it
	j      *journal.Journal
	key    ed25519.PrivateKey
	logger hclog.Logger
	now    func() time.Time
	replay func(Event) error
}

// Option configures Open.
type Option func(*Log)

// WithLogger sets the logger that reports recovery from a torn line.
func WithLogger(l hclog.Logger) Option { return func(g *Log) { g.logger = l } }

// WithReplay has Open call fn with every event of an existing log, in
// order, once the event's line has verified: a caller that needs the past
// events (to check its budget ledger against them, say) reads the log once.
// An error from fn fails Open.
func WithReplay(fn func(Event) error) Option { return func(g *Log) { g.replay = fn } }

// WithClock replaces time.Now, for reproducible logs in tests and demos.
func WithClock(now func() time.Time) Option { return func(g *Log) { g.now = now } }

// Open opens or creates the audit log at path, signing with signer. An
// existing log must verify under signer's public key; a partial last line
// left by a crash is dropped (its action never happened, since Append had
// not returned). The public key is written to path+".pub" if absent.
func Open(path string, signer ed25519.PrivateKey, opts ...Option) (*Log, error) {
	if len(signer) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: signing key has the wrong size", ErrInvalidEvent)
	}
	pub := signer.Public().(ed25519.PublicKey)
	l := &Log{key: signer, logger: hclog.NewNullLogger(), now: time.Now}
	for _, o := range opts {
		o(l)
	}
	l.logger = l.logger.Named("audit")
	havePub, err := checkPublicKey(path+".pub", pub)
	if err != nil {
		return nil, err
	}
	j, err := journal.Open(path, verifier{pub: pub, replay: l.replay}.check, journal.WithLogger(l.logger))
	if err != nil {
		return nil, fromJournal(err)
	}
	if !havePub {
		// Only once the log verified under this key, so that a failed Open
		// never leaves a misleading key file behind.
		if err := writePublicKey(path+".pub", pub); err != nil {
			j.Close()
			return nil, err
		}
	}
	l.j = j
	return l, nil
}

// TornBytes is the length of the partial last line Open dropped, 0 if none.
func (l *Log) TornBytes() int64 { return l.j.TornBytes() }

// Head is the position of the last line written.
func (l *Log) Head() Head { return l.j.Head() }

// HashAt returns the hash of the log's event seq (1 ≤ seq ≤ Head().Seq).
func (l *Log) HashAt(seq uint64) (string, error) { return l.j.HashAt(seq) }

// Append signs and writes ev and returns once it is on stable storage, so
// the caller may then perform the action ev records.
func (l *Log) Append(ev Event) error {
	if !kindRE.MatchString(string(ev.Kind)) {
		return fmt.Errorf("%w: kind %q", ErrInvalidEvent, ev.Kind)
	}
	if ev.Actor == "" {
		return fmt.Errorf("%w: empty actor", ErrInvalidEvent)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.j.Err(); err != nil {
		return fromJournal(err)
	}
	head := l.j.Head()
	ev.Seq = head.Seq + 1
	ev.Prev = head.Hash
	if ev.Time.IsZero() {
		ev.Time = l.now()
	}
	ev.Time = ev.Time.UTC()
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	if _, err := l.j.Append(sign(l.key, body)); err != nil {
		return fromJournal(err)
	}
	return nil
}

// Close releases the file and its lock.
func (l *Log) Close() error { return l.j.Close() }

// EncodePublicKey returns pub as a PEM "PUBLIC KEY" (PKIX) block.
func EncodePublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("audit: encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKey reads an Ed25519 public key from a PEM "PUBLIC KEY" block.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%w: no PEM PUBLIC KEY block", ErrKeyMismatch)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyMismatch, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: not an Ed25519 key", ErrKeyMismatch)
	}
	return pub, nil
}

// checkPublicKey reports whether the key file exists, failing if it holds
// another key.
func checkPublicKey(path string, pub ed25519.PublicKey) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("audit: read public key: %w", err)
	}
	have, err := ParsePublicKey(data)
	if err != nil {
		return false, err
	}
	if !have.Equal(pub) {
		return false, fmt.Errorf("%w: %s", ErrKeyMismatch, path)
	}
	return true, nil
}

func writePublicKey(path string, pub ed25519.PublicKey) error {
	data, err := EncodePublicKey(pub)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("audit: write public key: %w", err)
	}
	return nil
}
