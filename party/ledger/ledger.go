package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/party/journal"
)

var (
	// ErrBudgetExhausted reports a charge that would exceed the querier's
	// budget; nothing was written.
	ErrBudgetExhausted = errors.New("ledger: privacy budget exhausted")
	// ErrUnknownQuerier reports a charge for a querier without a budget.
	ErrUnknownQuerier = errors.New("ledger: querier has no budget")
	// ErrQueryIDUsed reports a query id that was already charged for the
	// same query: one charge buys one release, so a query id is admitted
	// once, and a retry is a new query with a new id.
	ErrQueryIDUsed = errors.New("ledger: query id already used")
	// ErrQueryIDReused reports a query id that was already charged for a
	// different query (another digest, querier or cost).
	ErrQueryIDReused = errors.New("ledger: query id already used for a different query")
	// ErrRolledBack reports a ledger that lacks charges its audit log
	// anchored: the file was truncated, deleted or restored from an older
	// copy, which would refund spent budget.
	ErrRolledBack = errors.New("ledger: ledger is behind its audit log")
	// ErrInvalid reports a malformed charge or budget.
	ErrInvalid = errors.New("ledger: invalid amount")
	// ErrCorrupt reports a complete line that does not parse or does not
	// chain to its predecessor: the file was edited or damaged.
	ErrCorrupt = errors.New("ledger: corrupt ledger file")
	// ErrLocked reports a ledger file already open in another process.
	ErrLocked = errors.New("ledger: ledger file in use by another process")
	// ErrFailed reports a ledger that refuses further charges because a
	// write or fsync failed and the file's state is unknown.
	ErrFailed = errors.New("ledger: ledger failed")
)

// fromJournal gives an error of the journal the ledger's sentinel as well,
// so that callers test for ledger errors only.
var fromJournal = journal.Sentinels{Locked: ErrLocked, Corrupt: ErrCorrupt, Failed: ErrFailed}.Wrap

// Budget is an amount of privacy loss.
type Budget struct {
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
}

// Account is one querier's line in a Summary.
type Account struct {
	Querier   string `json:"querier"`
	Budget    Budget `json:"budget"`
	Spent     Budget `json:"spent"`
	Remaining Budget `json:"remaining"`
	Charges   int    `json:"charges"`
}

// entry is one line of the file.
type entry struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Querier string    `json:"querier"`
	QueryID string    `json:"query_id"`
	Epsilon float64   `json:"epsilon"`
	Delta   float64   `json:"delta"`
	// Digest is the hex SHA-256 of the query the charge admitted (absent
	// in lines written before query digests were recorded).
	Digest string `json:"digest,omitempty"`
	Prev   string `json:"prev"`
}

// Head identifies a position in the ledger: the sequence number of a
// charge and the hex SHA-256 of its line. The node records the head of
// every charge in its audit log, and Open checks the ledger against the
// last one recorded (WithAnchor).
type Head = journal.Head

// ParseHead parses Head.String's format.
func ParseHead(s string) (Head, error) {
	var h Head
	i := strings.IndexByte(s, ':')
	if i < 0 {
		return Head{}, fmt.Errorf("%w: ledger head %q is not seq:hash", ErrInvalid, s)
	}
	seq, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil || seq == 0 {
		return Head{}, fmt.Errorf("%w: ledger head %q has no sequence number", ErrInvalid, s)
	}
	h.Seq, h.Hash = seq, s[i+1:]
	if b, err := hex.DecodeString(h.Hash); err != nil || len(b) != sha256.Size {
		return Head{}, fmt.Errorf("%w: ledger head %q has no SHA-256", ErrInvalid, s)
	}
	return h, nil
}

// MaxEpsilon is the largest ε a budget or a charge may have.
const MaxEpsilon = 1e6

// Fixed-point accounting (see doc.go).
const (
	epsUnit   = 1e9
	deltaUnit = 1e15
	maxEps    = MaxEpsilon
)

type units struct{ eps, delta int64 }

func (u units) add(v units) units { return units{u.eps + v.eps, u.delta + v.delta} }
func (u units) fits(b units) bool { return u.eps <= b.eps && u.delta <= b.delta }
func (u units) budget() Budget    { return Budget{float64(u.eps) / epsUnit, float64(u.delta) / deltaUnit} }
func (u units) sub(v units) units { return units{max(u.eps-v.eps, 0), max(u.delta-v.delta, 0)} }
func chargeUnits(eps, delta float64) units {
	return units{int64(math.Ceil(eps * epsUnit)), int64(math.Ceil(delta * deltaUnit))}
}
func budgetUnits(b Budget) units {
	return units{int64(math.Floor(b.Epsilon * epsUnit)), int64(math.Floor(b.Delta * deltaUnit))}
}

// Exhausted says what a charge of (eps, delta) would run out of, were b
// what is left of a budget (Remaining): "" when the charge fits, else what
// Charge's ErrBudgetExhausted says, "ε runs out", "δ runs out" or "ε and δ
// run out".
func (b Budget) Exhausted(eps, delta float64) string {
	left := units{int64(math.Round(b.Epsilon * epsUnit)), int64(math.Round(b.Delta * deltaUnit))}
	after := chargeUnits(eps, delta)
	if after.fits(left) {
		return ""
	}
	return exhausted(after, left)
}

// exhausted says what of budget a charge that brings the spending to
// after does not fit in: "ε runs out", "δ runs out" or "ε and δ run out".
func exhausted(after, budget units) string {
	switch {
	case after.eps > budget.eps && after.delta > budget.delta:
		return "ε and δ run out"
	case after.delta > budget.delta:
		return "δ runs out"
	default:
		return "ε runs out"
	}
}

func validAmount(eps, delta float64) error {
	if math.IsNaN(eps) || eps < 0 || eps > maxEps || math.IsNaN(delta) || delta < 0 || delta > 1 {
		return fmt.Errorf("%w: epsilon %v, delta %v", ErrInvalid, eps, delta)
	}
	return nil
}

// charge is what the ledger remembers of one admitted query.
type charge struct {
	querier string
	digest  string
	amount  units
	seq     uint64
	time    time.Time
}

// Ledger is an open budget ledger. It is safe for concurrent use.
type Ledger struct {
	mu      sync.Mutex
	j       *journal.Journal
	logger  hclog.Logger
	budgets map[string]units
	anchor  *Head
	state
}

// state is what replaying the file yields: balances, the query ids already
// charged, and the chain position with the hash of every line.
type state struct {
	spent   map[string]units
	charges map[string]int
	byID    map[string]charge
	hashes  [][sha256.Size]byte // hashes[i] is line i+1's
	seq     uint64
	prev    string
}

func newState() state {
	return state{spent: make(map[string]units), charges: make(map[string]int), byID: make(map[string]charge), prev: journal.Genesis}
}

// Option configures Open.
type Option func(*Ledger)

// WithLogger sets the logger that reports recovery from a torn line.
func WithLogger(l hclog.Logger) Option { return func(g *Ledger) { g.logger = l } }

// WithAnchor makes Open check that the file holds the charge at h, the
// last head the node recorded elsewhere (its audit log): a ledger that
// ends before it, or has another line there, returns ErrRolledBack.
// Charges after h are accepted (a crash can fall between a charge and its
// audit record).
func WithAnchor(h Head) Option { return func(g *Ledger) { g.anchor = &h } }

// Open opens or creates the ledger at path with the budgets of the
// queriers this node serves. It replays the file, verifying every complete
// line, and drops a torn partial last line (see TornBytes).
func Open(path string, budgets map[string]Budget, opts ...Option) (*Ledger, error) {
	l := &Ledger{
		logger:  hclog.NewNullLogger(),
		budgets: make(map[string]units, len(budgets)),
		state:   newState(),
	}
	for _, o := range opts {
		o(l)
	}
	l.logger = l.logger.Named("ledger")
	for q, b := range budgets {
		if q == "" {
			return nil, fmt.Errorf("%w: empty querier name", ErrInvalid)
		}
		if err := validAmount(b.Epsilon, b.Delta); err != nil {
			return nil, fmt.Errorf("budget of %s: %w", q, err)
		}
		l.budgets[q] = budgetUnits(b)
	}
	j, err := journal.Open(path, l.state.apply, journal.WithLogger(l.logger))
	if err != nil {
		return nil, fromJournal(err)
	}
	if l.anchor != nil {
		if err := l.state.checkAnchor(*l.anchor); err != nil {
			j.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	l.j = j
	return l, nil
}

// Inspection is what a ledger file holds, read without opening it for
// writing (a running node may hold it): Inspect.
type Inspection struct{ s state }

// Inspect reads the ledger at path, verifying every complete line, and
// writes nothing; a missing file holds no charge.
func Inspect(path string) (*Inspection, error) {
	in := &Inspection{s: newState()}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return in, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: open: %w", err)
	}
	defer f.Close()
	if _, _, err := in.s.parse(f); err != nil {
		return nil, err
	}
	return in, nil
}

// HasAnchor returns ErrRolledBack unless the ledger holds the charge at h,
// as Open WithAnchor checks.
func (in *Inspection) HasAnchor(h Head) error { return in.s.checkAnchor(h) }

// Charged reports whether the ledger holds a charge of queryID for querier.
func (in *Inspection) Charged(querier, queryID string) bool {
	c, ok := in.s.byID[queryID]
	return ok && c.querier == querier
}

// Head is the position of the ledger's last charge.
func (in *Inspection) Head() Head { return in.s.head() }

// checkAnchor verifies that the chain holds the line at h.
func (l *state) checkAnchor(h Head) error {
	if h.Seq == 0 {
		return nil // the head of an empty ledger: anything holds it
	}
	if h.Seq > l.seq {
		return fmt.Errorf("%w: the ledger ends at charge %d, the audit log recorded charge %d", ErrRolledBack, l.seq, h.Seq)
	}
	if got := hex.EncodeToString(l.hashes[h.Seq-1][:]); got != h.Hash {
		return fmt.Errorf("%w: charge %d differs from the one the audit log recorded", ErrRolledBack, h.Seq)
	}
	return nil
}

// parse applies every complete line of the ledger file in r, as Open
// does, and returns the length of the complete lines and of a trailing
// partial line.
func (l *state) parse(r io.Reader) (good, torn int64, err error) {
	_, torn, err = journal.Replay(r, func(lineNo int, line []byte) error {
		if err := l.apply(lineNo, line); err != nil {
			return err
		}
		good += int64(len(line)) + 1
		return nil
	})
	if err != nil {
		return 0, 0, fromJournal(err)
	}
	return good, torn, nil
}

// apply checks and accounts for one line; the journal has checked that it
// chains (seq and prev).
func (l *state) apply(lineNo int, line []byte) error {
	var e entry
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return fmt.Errorf("%w: line %d: %w", ErrCorrupt, lineNo, err)
	}
	if e.Querier == "" || e.QueryID == "" {
		return fmt.Errorf("%w: line %d: empty querier or query id", ErrCorrupt, lineNo)
	}
	if err := validAmount(e.Epsilon, e.Delta); err != nil {
		return fmt.Errorf("%w: line %d: %w", ErrCorrupt, lineNo, err)
	}
	if prev, dup := l.byID[e.QueryID]; dup && prev.querier == e.Querier {
		return fmt.Errorf("%w: line %d: query id charged twice", ErrCorrupt, lineNo)
	}
	l.record(e, line)
	return nil
}

// record accounts for an entry whose encoding is line.
func (l *state) record(e entry, line []byte) {
	u := chargeUnits(e.Epsilon, e.Delta)
	if _, dup := l.byID[e.QueryID]; !dup {
		l.byID[e.QueryID] = charge{querier: e.Querier, digest: e.Digest, amount: u, seq: e.Seq, time: e.Time}
	}
	l.spent[e.Querier] = l.spent[e.Querier].add(u)
	l.charges[e.Querier]++
	l.seq = e.Seq
	sum := sha256.Sum256(line)
	l.hashes = append(l.hashes, sum)
	l.prev = hex.EncodeToString(sum[:])
}

// head is the position of the last line.
func (l *state) head() Head { return Head{Seq: l.seq, Hash: l.prev} }

// line encodes the next entry of the chain.
func (l *state) line(querier, queryID, digest string, eps, delta float64, now time.Time) (entry, []byte, error) {
	e := entry{Seq: l.seq + 1, Time: now.UTC(), Querier: querier, QueryID: queryID, Epsilon: eps, Delta: delta, Digest: digest, Prev: l.prev}
	line, err := json.Marshal(e)
	if err != nil {
		return entry{}, nil, fmt.Errorf("ledger: encode: %w", err)
	}
	return e, line, nil
}

// TornBytes is the length of the partial last line Open dropped, 0 if
// none. Charge only returns after the full line is fsynced, so a partial
// line belongs to a charge that never returned, and no decryption share
// was released on its strength.
func (l *Ledger) TornBytes() int64 { return l.j.TornBytes() }

// Charge records that querier spends (eps, delta) on the query queryID
// whose content has the given digest, and returns the ledger's head after
// the charge. It returns only after the charge is on stable storage.
//
// A query id is charged once, ever: one charge buys one release. A second
// charge of the same id returns ErrQueryIDUsed when it is for the same
// query (querier, digest and cost) and ErrQueryIDReused otherwise; either
// way nothing is written, and a retry must be a new query with a new id. A
// charge that would exceed the budget returns ErrBudgetExhausted and
// writes nothing.
func (l *Ledger) Charge(querier, queryID, digest string, eps, delta float64) (Head, error) {
	u, err := chargeAmount(querier, queryID, eps, delta)
	if err != nil {
		return Head{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.check(querier, queryID, digest, u); err != nil {
		return Head{}, err
	}
	e, line, err := l.state.line(querier, queryID, digest, eps, delta, time.Now())
	if err != nil {
		return Head{}, err
	}
	if _, err := l.j.Append(line); err != nil {
		return Head{}, fromJournal(err)
	}
	l.state.record(e, line)
	return l.state.head(), nil
}

// Check reports the error Charge would return now for the same arguments,
// and writes nothing: an admission round asks every owner before any of
// them charges. A later Charge may still fail (another query may spend the
// budget in between).
func (l *Ledger) Check(querier, queryID, digest string, eps, delta float64) error {
	u, err := chargeAmount(querier, queryID, eps, delta)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.check(querier, queryID, digest, u)
}

// chargeAmount validates the arguments of a charge and converts its cost.
func chargeAmount(querier, queryID string, eps, delta float64) (units, error) {
	if querier == "" || queryID == "" {
		return units{}, fmt.Errorf("%w: empty querier or query id", ErrInvalid)
	}
	if err := validAmount(eps, delta); err != nil {
		return units{}, err
	}
	return chargeUnits(eps, delta), nil
}

// check is Check with l.mu held.
func (l *Ledger) check(querier, queryID, digest string, u units) error {
	if err := l.j.Err(); err != nil {
		return fromJournal(err)
	}
	if prev, ok := l.byID[queryID]; ok {
		when := prev.time.Format(time.RFC3339)
		if prev.querier == querier && prev.digest == digest && prev.amount == u {
			return fmt.Errorf("%w: query %s was charged at %s (charge %d)", ErrQueryIDUsed, queryID, when, prev.seq)
		}
		return fmt.Errorf("%w: query id %s was charged at %s (charge %d) for another query", ErrQueryIDReused, queryID, when, prev.seq)
	}
	budget, ok := l.budgets[querier]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownQuerier, querier)
	}
	if after := l.spent[querier].add(u); !after.fits(budget) {
		left, cost := budget.sub(l.spent[querier]).budget(), u.budget()
		return fmt.Errorf("%w: %s for %s: the query costs ε = %g and δ = %g, and ε = %g and δ = %g are left",
			ErrBudgetExhausted, exhausted(after, budget), querier, cost.Epsilon, cost.Delta, left.Epsilon, left.Delta)
	}
	return nil
}

// Head is the position of the last charge (Seq 0 for an empty ledger).
func (l *Ledger) Head() Head {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state.head()
}

// Charged reports whether query id queryID was charged to querier.
func (l *Ledger) Charged(querier, queryID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.byID[queryID]
	return ok && c.querier == querier
}

// Spent is what querier has spent so far.
func (l *Ledger) Spent(querier string) Budget {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.spent[querier].budget()
}

// Remaining is what querier may still spend; zero for a querier without a
// budget.
func (l *Ledger) Remaining(querier string) Budget {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.budgets[querier].sub(l.spent[querier]).budget()
}

// Summary lists every querier with a budget or a past charge, by name.
func (l *Ledger) Summary() []Account {
	l.mu.Lock()
	defer l.mu.Unlock()
	names := make(map[string]struct{}, len(l.budgets)+len(l.spent))
	for q := range l.budgets {
		names[q] = struct{}{}
	}
	for q := range l.spent {
		names[q] = struct{}{}
	}
	out := make([]Account, 0, len(names))
	for q := range names {
		b, s := l.budgets[q], l.spent[q]
		out = append(out, Account{Querier: q, Budget: b.budget(), Spent: s.budget(), Remaining: b.sub(s).budget(), Charges: l.charges[q]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Querier < out[j].Querier })
	return out
}

// Close releases the file and its lock.
func (l *Ledger) Close() error {
	return l.j.Close()
}

// Snapshot reads the ledger at path without opening it for charges (it
// takes no lock, so it works while a node holds the file) and returns the
// Summary for the given budgets. A torn last line is ignored, as Open would
// drop it; a file that does not exist yet has no charges.
func Snapshot(path string, budgets map[string]Budget) ([]Account, error) {
	l := &Ledger{logger: hclog.NewNullLogger(), budgets: make(map[string]units, len(budgets)), state: newState()}
	for q, b := range budgets {
		if err := validAmount(b.Epsilon, b.Delta); err != nil {
			return nil, fmt.Errorf("budget of %s: %w", q, err)
		}
		l.budgets[q] = budgetUnits(b)
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return l.Summary(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: open: %w", err)
	}
	defer f.Close()
	if _, _, err := l.state.parse(f); err != nil {
		return nil, err
	}
	return l.Summary(), nil
}
