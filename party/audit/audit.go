package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
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
	// KindLedgerAnchor records the budget ledger's head when the node found
	// charges its audit log had not recorded yet (a crash between a charge
	// and its decision record, or a data directory from before ledger heads
	// were recorded).
	KindLedgerAnchor Kind = "ledger_anchor"
)

// Detail keys and values the transparency report understands.
const (
	DetailDecision = "decision" // on policy_decision: DecisionAllow or DecisionRefuse
	DetailReason   = "reason"   // why a query was refused
	// DetailLedgerHead, on the policy_decision that charged a query (and on
	// KindLedgerAnchor), is the budget ledger's head after the charge; the
	// node checks its ledger against the last one recorded.
	DetailLedgerHead = "ledger_head"
	// DetailStage, on release, says which release it was: StageCounts (the
	// noisy counts, decrypted by the owners to apply min_group_size) or
	// StageResult (the result, to the querier's key).
	DetailStage    = "stage"
	StageCounts    = "counts"
	StageResult    = "result"
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
type Head struct {
	Seq  uint64
	Hash string
}

func (h Head) String() string { return fmt.Sprintf("%d:%s", h.Seq, h.Hash) }

var (
	genesis = hex.EncodeToString(make([]byte, sha256.Size))
	kindRE  = regexp.MustCompile(`^[a-z][a-z_]{0,31}$`)
)

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

// verifier checks lines in order and tracks the chain.
type verifier struct {
	pub  ed25519.PublicKey
	seq  uint64
	prev string
}

func newVerifier(pub ed25519.PublicKey) *verifier {
	return &verifier{pub: pub, prev: genesis}
}

// check verifies one line (without its newline) and returns its event.
func (v *verifier) check(lineNo int, line []byte) (Event, error) {
	n := len(line)
	if n < sigTail+2 || string(line[n-sigTail:n-sigTail+len(sigPrefix)]) != sigPrefix || string(line[n-len(sigSuffix):]) != sigSuffix {
		return Event{}, fmt.Errorf("%w: line %d: no signature field at the end", ErrTampered, lineNo)
	}
	sig, err := hex.DecodeString(string(line[n-sigHexLen-len(sigSuffix) : n-len(sigSuffix)]))
	if err != nil {
		return Event{}, fmt.Errorf("%w: line %d: malformed signature", ErrTampered, lineNo)
	}
	body := append(bytes.Clone(line[:n-sigTail]), '}')
	if !ed25519.Verify(v.pub, body, sig) {
		return Event{}, fmt.Errorf("%w: line %d: signature does not verify (line modified, inserted, or signed by another key)", ErrTampered, lineNo)
	}
	var e Event
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Event{}, fmt.Errorf("%w: line %d: %w", ErrTampered, lineNo, err)
	}
	if e.Seq != v.seq+1 {
		return Event{}, fmt.Errorf("%w: line %d: sequence %d, want %d (a line was deleted, inserted or reordered)", ErrTampered, lineNo, e.Seq, v.seq+1)
	}
	if e.Prev != v.prev {
		return Event{}, fmt.Errorf("%w: line %d: does not chain to line %d", ErrTampered, lineNo, lineNo-1)
	}
	v.seq = e.Seq
	sum := sha256.Sum256(line)
	v.prev = hex.EncodeToString(sum[:])
	return e, nil
}

func (v *verifier) head() Head { return Head{Seq: v.seq, Hash: v.prev} }

// walk calls fn for every complete line of r and returns the length of the
// complete lines and of a trailing partial line.
func walk(r io.Reader, fn func(lineNo int, line []byte) error) (good, torn int64, err error) {
	br := bufio.NewReader(r)
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return good, int64(len(line)), nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("audit: read: %w", err)
		}
		if err := fn(lineNo, line[:len(line)-1]); err != nil {
			return 0, 0, err
		}
		good += int64(len(line))
	}
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
	v := newVerifier(pub)
	_, torn, err := walk(r, func(lineNo int, line []byte) error {
		if _, err := v.check(lineNo, line); err != nil {
			return err
		}
		if h, ok := want[v.seq]; ok && h != v.prev {
			return fmt.Errorf("%w: line %d: hash differs from the anchor %d:%s", ErrTampered, lineNo, v.seq, h)
		}
		return nil
	})
	if err != nil {
		return Head{}, err
	}
	if torn > 0 {
		return v.head(), fmt.Errorf("%w: line %d (%d bytes)", ErrIncomplete, v.seq+1, torn)
	}
	if v.seq < maxAnchor {
		return v.head(), fmt.Errorf("%w: log ends at line %d, an earlier head was at line %d", ErrTruncated, v.seq, maxAnchor)
	}
	return v.head(), nil
}

// ReadEvents parses the log in r without verifying signatures (Report's
// input; verify first with Verify). A partial last line is ignored.
func ReadEvents(r io.Reader) ([]Event, Head, error) {
	var events []Event
	h := Head{Hash: genesis}
	_, _, err := walk(r, func(lineNo int, line []byte) error {
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("%w: line %d: %w", ErrTampered, lineNo, err)
		}
		events = append(events, e)
		sum := sha256.Sum256(line)
		h = Head{Seq: e.Seq, Hash: hex.EncodeToString(sum[:])}
		return nil
	})
	return events, h, err
}

// Log is an open audit log. It is safe for concurrent use.
type Log struct {
	mu     sync.Mutex
	f      *os.File
	path   string
	key    ed25519.PrivateKey
	v      *verifier
	logger hclog.Logger
	torn   int64
	failed error
	now    func() time.Time
}

// Option configures Open.
type Option func(*Log)

// WithLogger sets the logger that reports recovery from a torn line.
func WithLogger(l hclog.Logger) Option { return func(g *Log) { g.logger = l } }

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
	l := &Log{path: path, key: signer, v: newVerifier(pub), logger: hclog.NewNullLogger(), now: time.Now}
	for _, o := range opts {
		o(l)
	}
	l.logger = l.logger.Named("audit")
	havePub, err := checkPublicKey(path+".pub", pub)
	if err != nil {
		return nil, err
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, err
	}
	if created {
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, err
		}
	}
	good, torn, err := walk(f, func(lineNo int, line []byte) error {
		_, err := l.v.check(lineNo, line)
		return err
	})
	if err == nil && torn > 0 {
		err = f.Truncate(good)
		if err == nil {
			err = f.Sync()
		}
		l.torn = torn
		l.logger.Warn("dropped torn last line after a crash", "path", path, "bytes", torn, "complete_lines", l.v.seq)
	}
	if err == nil && !havePub {
		// Only once the log verified under this key, so that a failed Open
		// never leaves a misleading key file behind.
		err = writePublicKey(path+".pub", pub)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	l.f = f
	return l, nil
}

// TornBytes is the length of the partial last line Open dropped, 0 if none.
func (l *Log) TornBytes() int64 { return l.torn }

// Head is the position of the last line written.
func (l *Log) Head() Head {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.v.head()
}

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
	if l.failed != nil {
		return fmt.Errorf("%w: %w", ErrFailed, l.failed)
	}
	if l.f == nil {
		return fmt.Errorf("%w: closed", ErrFailed)
	}
	ev.Seq = l.v.seq + 1
	ev.Prev = l.v.prev
	if ev.Time.IsZero() {
		ev.Time = l.now()
	}
	ev.Time = ev.Time.UTC()
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	line := sign(l.key, body)
	if _, err := l.f.Write(append(line, '\n')); err != nil {
		l.failed = err
		return fmt.Errorf("%w: write: %w", ErrFailed, err)
	}
	if err := l.f.Sync(); err != nil {
		l.failed = err
		return fmt.Errorf("%w: sync: %w", ErrFailed, err)
	}
	l.v.seq = ev.Seq
	sum := sha256.Sum256(line)
	l.v.prev = hex.EncodeToString(sum[:])
	return nil
}

// Close releases the file and its lock.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

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
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("audit: write public key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("audit: write public key: %w", err)
	}
	return nil
}
