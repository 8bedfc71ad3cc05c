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
// Each session publishes its work to the queries that wait for a layout
// with its peer, so that they report the progress of the session they
// wait for, whichever node opened it and however short it is (follow).
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
	watches  map[*sessionWatch]struct{}
}

// sessionWatch is one query's view of the sessions with a peer: the work
// of each session that ran since the query began to follow them, in order.
type sessionWatch struct{ work []*tracker }

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
	if work != nil {
		for w := range st.watches {
			w.work = append(w.work, work)
		}
	}
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

// follow adds to dst's matching phase the work of every session with peer
// that runs until the returned stop is called: this node's own, one it
// serves, or another query's. Each session followed adds its total and
// ends exactly done, so dst's phase still ends at its total; a session that
// begins and ends between two looks is counted at the next. A nil dst
// follows nothing.
func (l *layouts) follow(peer string, dst *tracker) (stop func()) {
	if dst == nil {
		return func() {}
	}
	w := &sessionWatch{}
	l.mu.Lock()
	st := l.peerLocked(peer)
	if st.watches == nil {
		st.watches = map[*sessionWatch]struct{}{}
	}
	st.watches[w] = struct{}{}
	if st.busy && st.work != nil {
		w.work = append(w.work, st.work)
	}
	l.mu.Unlock()

	// followed is what dst holds of one session: its total, and the part
	// of its done that dst has.
	type followed struct{ total, sent int64 }
	var seen []followed
	look := func(last bool) {
		l.mu.Lock()
		sessions := w.work[:len(w.work):len(w.work)]
		if last {
			delete(st.watches, w)
		}
		l.mu.Unlock()
		for i, s := range sessions {
			if i == len(seen) {
				seen = append(seen, followed{})
			}
			f := &seen[i]
			if p, ok := s.snapshot(); ok && p.Phase == PhaseMatching {
				if p.Total > f.total {
					dst.begin(PhaseMatching, unitOps, p.Total-f.total)
					f.total = p.Total
				}
				if d := min(p.Done, f.total); d > f.sent {
					dst.add(d - f.sent)
					f.sent = d
				}
			}
			// Sessions run one at a time: all but the newest have ended,
			// and at the end of the wait, that one too. Their share is done.
			if (last || i < len(sessions)-1) && f.sent < f.total {
				dst.add(f.total - f.sent)
				f.sent = f.total
			}
		}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(progressEvery / 4)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				look(true)
				return
			case <-tick.C:
				look(false)
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}
