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
	// stageTwoWait is how long a stopping owner waits for the release of
	// a query's result once it has released the counts: the evaluator asks
	// for it as soon as it has decrypted the counts and packed what passes
	// min_group_size, and never when nothing passes.
	stageTwoWait = 5 * time.Second
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
	stageOne  bool      // the stage-one counts were released
	countsAt  time.Time // when
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
	p.stageOne, p.countsAt = true, time.Now()
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

// pending counts the queries this node prepared as an owner for another
// evaluator whose releases the evaluator is still expected to ask for:
// the counts, or the result within stageTwoWait of the counts. A query
// past its TTL is abandoned and not counted, nor is one this node
// evaluates itself, which its running evaluation covers.
func (t *queryTable) pending(self string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := 0
	for _, p := range t.prepared {
		switch {
		case p.evaluator == self, time.Since(p.at) > preparedTTL:
		case !p.stageOne || time.Since(p.countsAt) < stageTwoWait:
			k++
		}
	}
	return k
}

// bounder is implemented by datasets that declare column bounds.
type bounder interface {
	ColumnBounds(column string) (lo, hi float64, ok bool)
}
