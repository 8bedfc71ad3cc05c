package party

import (
	"bytes"
	"fmt"
	"sync"
	"time"
)

// maxOpenQueries is the most joint queries a node can be configured to
// evaluate at once (limits.open_queries).
const maxOpenQueries = 64

// queryTable tracks the joint queries a node evaluates and the queries it
// admitted and charged as a data owner, so that it uploads and releases
// decryption shares only for a query it charged, and each stage once.
type queryTable struct {
	mu       sync.Mutex
	joint    map[string]*jointState
	pending  map[string]pendingQuery
	reserved map[string]int64 // evaluations admitted to run: their estimated memory
}

// The life of a pending query at an owner: charged (after the admission
// rounds), prepared (its columns uploaded, or for the evaluator its
// evaluation done), counts released (stage one), then gone with the
// result's release (stage two). A query that stops on the way is recorded
// as aborted and dropped.
type pendingStage int

const (
	stageCharged pendingStage = iota
	stagePrepared
	stageCounts
)

type pendingQuery struct {
	id, evaluator    string
	querier, purpose string
	admitted, digest []byte // the query as charged; as uploaded
	stage            pendingStage
	at               time.Time // when it was charged
}

func newQueryTable() *queryTable {
	return &queryTable{joint: make(map[string]*jointState), pending: make(map[string]pendingQuery), reserved: make(map[string]int64)}
}

// reserve admits the evaluation of query id, of estimated memory bytes, if
// it fits within maxQueries evaluations and maxBytes of memory together
// with those running. A query too large to fit even alone, and one that
// does not fit now, are refused with ErrCapacity, saying which.
func (t *queryTable) reserve(id string, bytes int64, maxQueries int, maxBytes int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.reserved[id]; ok {
		return fmt.Errorf("%w %q", ErrDuplicateQuery, id)
	}
	if bytes > maxBytes {
		return fmt.Errorf("%w: the query needs about %s to evaluate and this node evaluates queries in %s (limits.query_memory); ask for fewer statistics, groups or cells",
			ErrCapacity, formatBytes(bytes), formatBytes(maxBytes))
	}
	var used int64
	for _, b := range t.reserved {
		used += b
	}
	if len(t.reserved) >= maxQueries || used+bytes > maxBytes {
		return fmt.Errorf("%w: busy with %d queries using about %s of %s (limits); retry when they finish",
			ErrCapacity, len(t.reserved), formatBytes(used), formatBytes(maxBytes))
	}
	t.reserved[id] = bytes
	return nil
}

// unreserve ends the evaluation reserve admitted.
func (t *queryTable) unreserve(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.reserved, id)
}

// openJoint registers a joint query this node evaluates.
func (t *queryTable) openJoint(id string, st *jointState) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.joint[id]; ok {
		return fmt.Errorf("%w %q", ErrDuplicateQuery, id)
	}
	t.joint[id] = st
	return nil
}

// jointQuery returns an open joint query.
func (t *queryTable) jointQuery(id string) (*jointState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.joint[id]
	return st, ok
}

func (t *queryTable) closeJoint(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.joint, id)
}

// charge records that q was charged for evaluator. It fails for an id
// this node already holds.
func (t *queryTable) charge(q *Query, evaluator string, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.pending[q.ID]; ok {
		return fmt.Errorf("%w %q", ErrDuplicateQuery, q.ID)
	}
	t.pending[q.ID] = pendingQuery{id: q.ID, evaluator: evaluator, querier: q.Querier, purpose: q.Purpose,
		admitted: bytes.Clone(q.admitted), at: now}
	return nil
}

// prepare moves a charged query to prepared: q must be the query charged
// for evaluator (same admitted digest), charged and not yet prepared.
func (t *queryTable) prepare(q *Query, evaluator string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.pending[q.ID]
	if !ok || p.evaluator != evaluator || !bytes.Equal(p.admitted, q.admitted) || p.stage != stageCharged {
		return fmt.Errorf("%w: query %q was not admitted and charged here for %s with this content, or was already prepared", ErrNotPrepared, q.ID, evaluator)
	}
	p.stage, p.digest = stagePrepared, bytes.Clone(q.digest)
	t.pending[q.ID] = p
	return nil
}

// stageOne records the stage-one release of a prepared joint query, once.
func (t *queryTable) stageOne(id, evaluator string, digest []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, err := t.preparedLocked(id, evaluator, digest)
	if err != nil {
		return err
	}
	if p.stage == stageCounts {
		return fmt.Errorf("%w: the counts of query %q were already released", ErrNotPrepared, id)
	}
	p.stage = stageCounts
	t.pending[id] = p
	return nil
}

// takePrepared consumes the record of a prepared query: a data owner
// releases at most one decryption share of the result per query it
// prepared.
func (t *queryTable) takePrepared(id, evaluator string, digest []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, err := t.preparedLocked(id, evaluator, digest); err != nil {
		return err
	}
	delete(t.pending, id)
	return nil
}

// preparedLocked is the pending record of query id, if evaluator had it
// prepared here with this content; t.mu is held.
func (t *queryTable) preparedLocked(id, evaluator string, digest []byte) (pendingQuery, error) {
	p, ok := t.pending[id]
	if !ok || p.evaluator != evaluator || !bytes.Equal(p.digest, digest) || p.stage < stagePrepared {
		return pendingQuery{}, fmt.Errorf("%w: query %q was not prepared for %s with this content", ErrNotPrepared, id, evaluator)
	}
	return p, nil
}

// dropFor forgets a pending query of evaluator.
func (t *queryTable) dropFor(id, evaluator string) (pendingQuery, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.pending[id]
	if !ok || p.evaluator != evaluator {
		return pendingQuery{}, false
	}
	delete(t.pending, id)
	return p, true
}

// drop forgets a pending query (it failed; the caller records why).
func (t *queryTable) drop(id string) (pendingQuery, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.pending[id]
	delete(t.pending, id)
	return p, ok
}

// expire removes and returns the pending queries charged before cutoff.
func (t *queryTable) expire(cutoff time.Time) []pendingQuery {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []pendingQuery
	for id, p := range t.pending {
		if p.at.Before(cutoff) {
			out = append(out, p)
			delete(t.pending, id)
		}
	}
	return out
}

// bounder is implemented by datasets that declare column bounds, and
// steps (0 for a column without one).
type bounder interface {
	ColumnBounds(column string) (lo, hi float64, ok bool)
	ColumnStep(column string) float64
}

// awaiting counts the queries this node charged as an owner for another
// evaluator and has not finished: a stopping node waits for them, since
// their evaluator still asks for the upload and the releases, or says
// that the query stopped (Abort). One this node evaluates itself is
// covered by its running evaluation.
func (t *queryTable) awaiting(self string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := 0
	for _, p := range t.pending {
		if p.evaluator != self {
			k++
		}
	}
	return k
}
