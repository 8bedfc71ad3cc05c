package party

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto/upload"
)

// Joint queries (docs/architecture.md): the evaluating owner E
// holds the query's x columns in plaintext; the other owner U lays out its
// y columns in the union order of their matching layout, encrypts them with
// the compact seeded upload and streams them to E. E multiplies and sums
// one ciphertext per product of the plan, under the keys of E and U alone
// (subsetKeys). For each release stage it packs the products released into
// one ciphertext per level (traced, re-randomized), and both owners release
// flooded key-switch shares of every pack to the target key, each owner
// adding its own DP noise to its own share: the noise cannot be left out by
// anyone else, and it costs no upload and no ciphertext noise. A pool of y
// owners with disjoint customers runs one such session per owner and
// releases their sum (upload.Pool), with every pooled owner's share.

// ErrStale is returned when an owner's matching layout no longer matches the
// one the evaluator used: the data changed, and matching must run again.
var ErrStale = errors.New("party: matching layout is stale")

// jointState is an open joint query at the evaluating node: one session
// per y owner, all under the same compiled plan.
type jointState struct {
	compiled *aggregate.Compiled
	keys     *keySet
	sessions map[string]*jointSession
	progress *tracker // counts the blocks received
}

// jointSession is the evaluation of one y owner's upload.
type jointSession struct {
	mult  [][]int64
	seedE []byte
	keys  *ownerKeys // the keys of the evaluator and this owner

	mu      sync.Mutex
	started bool
	sums    *upload.Sums
	err     error
	done    chan struct{}
}

// start claims the session for one upload stream.
func (s *jointSession) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return fmt.Errorf("%w: a second upload for the same query", ErrBadPeerMessage)
	}
	s.started = true
	return nil
}

func (s *jointSession) finish(sums *upload.Sums, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return
	default:
	}
	s.sums, s.err = sums, err
	close(s.done)
}

// wait returns the session's sums once its upload is evaluated.
func (s *jointSession) wait(ctx context.Context) (*upload.Sums, error) {
	select {
	case <-s.done:
		return s.sums, s.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// uploadSeed combines both owners' contributions into the upload session
// seed: the common polynomials a_j are uniform as long as one side's
// contribution is, and fresh for every query.
func uploadSeed(queryID string, seedE, seedU []byte) []byte {
	h := sha256.New()
	h.Write([]byte("jointly/upload-seed/v1\x00"))
	h.Write([]byte(queryID))
	h.Write([]byte{0})
	h.Write(seedE)
	h.Write(seedU)
	return h.Sum(nil)
}

func randomSeed() ([]byte, error) {
	b := make([]byte, upload.SeedSize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("party: seed: %w", err)
	}
	return b, nil
}

// productLevel is the ciphertext level of product i of a plan.
func productLevel(plan *upload.Plan, i int) int {
	return plan.Column(plan.Products()[i].Column).Level
}

// table returns the node's data as a Table (joint queries need join keys
// and per-record columns).
func (n *Node) table() (*Table, error) {
	t, ok := n.data.(*Table)
	if !ok {
		return nil, fmt.Errorf("%w: this node's data has no per-record table", ErrNoKeys)
	}
	return t, nil
}

// checkOwnColumns verifies that the query names this node's columns with
// the bounds this node declares, and that none is excluded.
func (n *Node) checkOwnColumns(q *Query, t *Table) error {
	for _, c := range q.ownColumns(n.cfg.Name) {
		lo, hi, ok := t.ColumnBounds(c.Ref.Name)
		if _, has := t.Values[c.Ref.Name]; !has || !ok {
			return fmt.Errorf("%w %q at %s (offered: %v)", ErrUnknownColumn, c.Ref.Name, n.cfg.Name, t.Columns())
		}
		if lo != c.Lo || hi != c.Hi {
			return fmt.Errorf("%w: column %s.%s is declared with bounds [%g, %g], the query says [%g, %g]", ErrBadRequest, n.cfg.Name, c.Ref.Name, lo, hi, c.Lo, c.Hi)
		}
		// The levels label the groups and the unit scales the rates the
		// querier reads: they must be this owner's.
		if levels, unit := t.ColumnLevels(c.Ref.Name), t.ColumnUnit(c.Ref.Name); !slices.Equal(levels, c.Levels) || unit != c.Unit {
			return fmt.Errorf("%w: column %s.%s is declared with levels [%s] and unit %q, the query says [%s] and %q", ErrBadRequest, n.cfg.Name, c.Ref.Name,
				strings.Join(levels, ", "), unit, strings.Join(c.Levels, ", "), c.Unit)
		}
		if step := t.ColumnStep(c.Ref.Name); step != c.Step {
			return fmt.Errorf("%w: column %s.%s is declared with step %g, the query says %g", ErrBadRequest, n.cfg.Name, c.Ref.Name, step, c.Step)
		}
	}
	return nil
}

// jointOwners checks who a joint query involves: the x columns must be
// this node's, the y columns one other owner's or a pool's, every y owner
// a peer.
func (n *Node) jointOwners(j *JointQuery) ([]string, error) {
	for _, c := range j.X {
		if c.Ref.Owner != n.cfg.Name {
			return nil, fmt.Errorf("%w: x column %s is not this node's; submit the query to the owner of the x columns", ErrBadRequest, c.Ref)
		}
	}
	for _, c := range j.Y {
		if c.Ref.Owner != j.Y[0].Ref.Owner {
			return nil, fmt.Errorf("%w: y columns must all belong to one other owner or one pool (%s and %s given)", ErrBadRequest, j.Y[0].Ref.Owner, c.Ref.Owner)
		}
	}
	owners := j.yOwners()
	for _, o := range owners {
		if _, ok := n.cfg.peerAddress(o); !ok {
			return nil, fmt.Errorf("%w: %q is not another data owner of this federation (owners: %v)", ErrUnknownParty, o, n.cfg.Owners())
		}
	}
	return owners, nil
}

// checkCompiles checks everything about q's compilation that does not
// depend on the union size, which is known only after matching.
func checkCompiles(params rlwe.Parameters, q *Query) error {
	probe := q.request()
	probe.MaxRecords = 1
	if _, err := aggregate.Compile(params, probe); err != nil && !errors.Is(err, upload.ErrInfeasible) {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return nil
}

// productsOf lists the products of each pack.
func productsOf(packs []*upload.Packed) [][]int {
	out := make([][]int, len(packs))
	for g, pk := range packs {
		out[g] = pk.Products
	}
	return out
}

func refNames(cols []aggregate.ColumnInfo) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Ref.Name
	}
	return out
}

// zeroKey is the public key of the all-zero secret: switching to it
// decrypts, for whoever combines every owner's shares.
func (n *Node) zeroKey() *rlwe.PublicKey { return rlwe.NewPublicKey(n.params) }
