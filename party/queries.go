package party

import (
	"bytes"
	"fmt"
	"sync"
	"time"
)

const (
	preparedTTL    = 10 * time.Minute
	maxOpenQueries = 64
)

// queryTable tracks the joint queries a node evaluates and the queries it
// prepared as a data owner (so that it releases decryption shares only for
// a query it agreed to, and each stage once).
type queryTable struct {
	mu       sync.Mutex
	joint    map[string]*jointState
	prepared map[string]preparedQuery
}

type preparedQuery struct {
	evaluator string
	digest    []byte
	at        time.Time
	stageOne  bool // the stage-one counts were released
}

func newQueryTable() *queryTable {
	return &queryTable{joint: make(map[string]*jointState), prepared: make(map[string]preparedQuery)}
}

// openJoint registers a joint query this node evaluates.
func (t *queryTable) openJoint(id string, st *jointState) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.joint[id]; ok {
		return fmt.Errorf("%w %q", ErrDuplicateQuery, id)
	}
	if len(t.joint) >= maxOpenQueries {
		return fmt.Errorf("%w: %d queries in progress", ErrNotReady, len(t.joint))
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

func (t *queryTable) prepare(id, evaluator string, digest []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	for k, p := range t.prepared {
		if now.Sub(p.at) > preparedTTL {
			delete(t.prepared, k)
		}
	}
	if _, ok := t.prepared[id]; ok {
		return fmt.Errorf("%w %q", ErrDuplicateQuery, id)
	}
	t.prepared[id] = preparedQuery{evaluator: evaluator, digest: digest, at: now}
	return nil
}

// stageOne records the stage-one release of a prepared joint query, once.
func (t *queryTable) stageOne(id, evaluator string, digest []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.prepared[id]
	if !ok || p.evaluator != evaluator || !bytes.Equal(p.digest, digest) {
		return fmt.Errorf("%w: query %q was not prepared for %s with this content", ErrNotPrepared, id, evaluator)
	}
	if p.stageOne {
		return fmt.Errorf("%w: the counts of query %q were already released", ErrNotPrepared, id)
	}
	p.stageOne = true
	t.prepared[id] = p
	return nil
}

// takePrepared consumes the record of a prepared query: a data owner
// releases at most one decryption share per query it prepared.
func (t *queryTable) takePrepared(id, evaluator string, digest []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.prepared[id]
	if !ok || p.evaluator != evaluator || !bytes.Equal(p.digest, digest) {
		return fmt.Errorf("%w: query %q was not prepared for %s with this content", ErrNotPrepared, id, evaluator)
	}
	delete(t.prepared, id)
	return nil
}

// bounder is implemented by datasets that declare column bounds.
type bounder interface {
	ColumnBounds(column string) (lo, hi float64, ok bool)
}
