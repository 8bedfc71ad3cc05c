package party

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// layouts serializes the matching sessions of the node with each peer.
// Two nodes that start matching each other at once would each hold their
// own session and wait for the other's to serve theirs; instead, the
// session of the node whose name sorts first goes on, the other node's is
// refused with ErrMatchCrossed, and that node serves the first one, waits
// for it and takes its layout (Node.layout).
//
// Each running session publishes its work, so that a query waiting for a
// layout reports the progress of the session it waits for, whichever
// node opened it (follow).
type layouts struct {
	mu    sync.Mutex
	cond  *sync.Cond
	peers map[string]*peerSession
}

// peerSession is the state of the node's sessions with one peer.
type peerSession struct {
	busy     bool     // a session runs
	outgoing bool     // this node opened it
	work     *tracker // its matching work, if it counts any
}

// acquire waits until no session with peer runs and marks one running,
// opened by this node (outgoing) or served, whose matching work work
// counts (nil: none). A served session with yield set is refused with
// ErrMatchCrossed, instead of waiting, while this node's own session with
// peer runs. It returns the release function.
func (l *layouts) acquire(ctx context.Context, peer string, outgoing, yield bool, work *tracker) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.peerLocked(peer)
	stop := context.AfterFunc(ctx, func() { // wake the wait below
		l.mu.Lock()
		defer l.mu.Unlock()
		l.cond.Broadcast()
	})
	defer stop()
	for st.busy {
		if yield && st.outgoing {
			return nil, fmt.Errorf("%w: this node is matching with %s itself, and its session goes first", ErrMatchCrossed, peer)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l.cond.Wait()
	}
	st.busy, st.outgoing, st.work = true, outgoing, work
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		st.busy, st.outgoing, st.work = false, false, nil
		l.cond.Broadcast()
	}, nil
}

func (l *layouts) peerLocked(peer string) *peerSession {
	if l.cond == nil {
		l.cond, l.peers = sync.NewCond(&l.mu), map[string]*peerSession{}
	}
	st := l.peers[peer]
	if st == nil {
		st = &peerSession{}
		l.peers[peer] = st
	}
	return st
}

// running returns the work of the session with peer that runs now, nil
// when none runs or it counts none.
func (l *layouts) running(peer string) *tracker {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.peerLocked(peer); st.busy {
		return st.work
	}
	return nil
}

// follow adds to dst's matching phase the work of every session with peer
// that runs until the returned stop is called: this node's own, one it
// serves, or another query's. Each session followed adds its total and
// ends exactly done, so dst's phase still ends at its total. A nil dst
// follows nothing.
func (l *layouts) follow(peer string, dst *tracker) (stop func()) {
	if dst == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var (
			cur         *tracker
			total, sent int64 // cur's total, and its done that dst has
		)
		catchUp := func() {
			if cur == nil {
				return
			}
			p, ok := cur.snapshot()
			if !ok || p.Phase != PhaseMatching {
				return
			}
			if p.Total > total {
				dst.begin(PhaseMatching, unitOps, p.Total-total)
				total = p.Total
			}
			if d := min(p.Done, total); d > sent {
				dst.add(d - sent)
				sent = d
			}
		}
		settle := func() { // the session ended: its share is done
			catchUp()
			dst.add(total - sent)
			cur, total, sent = nil, 0, 0
		}
		tick := time.NewTicker(progressEvery / 4)
		defer tick.Stop()
		for {
			if w := l.running(peer); w != cur {
				settle()
				cur = w
			}
			catchUp()
			select {
			case <-quit:
				settle()
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}
