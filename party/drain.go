package party

import (
	"fmt"
	"sync"
	"time"
)

// drain lets a stopping node finish the queries it takes part in while it
// refuses new ones (Close). A call that starts query work (SubmitJoint,
// Prepare, Match) is refused with ErrNotReady once the node is draining; a
// call that continues a query already admitted (Upload to the evaluator,
// ReleaseShares to an owner) is let in, since refusing it would fail a
// query the node has already charged.
type drain struct {
	node string

	mu       sync.Mutex
	draining bool
	active   int
	// changed is closed, and replaced, whenever a call ends.
	changed chan struct{}
}

func newDrain(node string) *drain { return &drain{node: node, changed: make(chan struct{})} }

// refused is the error of a call refused because the node is stopping.
func (d *drain) refused() error {
	return fmt.Errorf("%w: %s is shutting down and takes no new queries; try again once it is back", ErrNotReady, d.node)
}

// check returns ErrNotReady while the node is draining.
func (d *drain) check() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.draining {
		return d.refused()
	}
	return nil
}

// start admits a call that starts new query work, unless the node is
// draining; done must be called when it ends.
func (d *drain) start() (done func(), err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.draining {
		return nil, d.refused()
	}
	d.active++
	return d.end, nil
}

// join admits a call that continues a query in progress, draining or not.
func (d *drain) join() (done func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.active++
	return d.end
}

func (d *drain) end() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.active--
	close(d.changed)
	d.changed = make(chan struct{})
}

// begin starts draining: from now on start refuses.
func (d *drain) begin() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.draining = true
}

// wait blocks until no call is running and pending reports no query
// waiting for a release, or until deadline. It returns the calls and the
// queries still there, both zero if the node went idle.
func (d *drain) wait(deadline time.Time, pending func() int) (calls, waiting int) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		d.mu.Lock()
		calls, changed := d.active, d.changed
		d.mu.Unlock()
		waiting = pending()
		if calls == 0 && waiting == 0 {
			return 0, 0
		}
		select {
		case <-changed:
		case <-timer.C:
			return calls, waiting
		}
	}
}
