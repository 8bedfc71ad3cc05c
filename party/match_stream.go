package party

import (
	"context"
	"fmt"
	"sync"

	"github.com/jointly-dev/jointly/crypto/match"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// matchTransport sends point lists in frames and receives the peer's lists
// on a separate goroutine, so neither side can block the other on flow
// control while both are sending.
type matchTransport struct {
	send func(*pb.MatchFrame) error
	recv func() (*pb.MatchFrame, error)

	once    sync.Once
	mu      sync.Mutex
	lists   map[match.Message]chan [][]byte
	done    chan *pb.MatchDone
	failed  chan struct{}
	err     error
	peerSt  error
	allowed map[match.Message]int // expected announced length, -1 = any up to limit
	limit   map[match.Message]int
}

func (t *matchTransport) init() {
	t.once.Do(func() {
		t.lists = make(map[match.Message]chan [][]byte)
		for m := match.MsgBlindedA; m <= match.MsgTokensOnlyBDouble; m++ {
			t.lists[m] = make(chan [][]byte, 1)
		}
		t.done = make(chan *pb.MatchDone, 1)
		t.failed = make(chan struct{})
		t.allowed = make(map[match.Message]int)
		t.limit = make(map[match.Message]int)
	})
}

func (t *matchTransport) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil {
		t.err = err
		close(t.failed)
	}
}

func (t *matchTransport) peerErr() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.peerSt
}

// expect declares the length the next list of kind m must announce
// (exactly want, or, with want < 0, at most limit).
func (t *matchTransport) expect(m match.Message, want, limit int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.allowed[m] = want
	t.limit[m] = limit
}

// run reads frames until the stream ends; from is the set of messages the
// peer may send.
func (t *matchTransport) run(from func(match.Message) bool) {
	t.init()
	var (
		cur      *match.Receiver
		curMsg   match.Message
		curWant  int
		received = map[match.Message]bool{}
	)
	for {
		f, err := t.recv()
		if err != nil {
			t.mu.Lock()
			t.peerSt = err
			t.mu.Unlock()
			t.fail(fmt.Errorf("%w: stream ended: %v", ErrPeerFailed, err))
			return
		}
		switch b := f.Body.(type) {
		case *pb.MatchFrame_Hello:
			t.fail(fmt.Errorf("%w: second hello", ErrBadPeerMessage))
			return
		case *pb.MatchFrame_Done:
			if cur != nil {
				t.fail(fmt.Errorf("%w: done before list %s was complete", ErrBadPeerMessage, curMsg))
				return
			}
			t.done <- b.Done
			return
		case *pb.MatchFrame_Points:
			p := b.Points
			m := match.Message(p.Message)
			if cur == nil {
				if m < match.MsgBlindedA || m > match.MsgTokensOnlyBDouble || !from(m) || received[m] {
					// from admits only the peer's lists of the session's
					// protocol: single-key lists in a multi-key session,
					// or the other way round, end it here.
					t.fail(fmt.Errorf("%w: unexpected point list %d", ErrBadPeerMessage, p.Message))
					return
				}
				t.mu.Lock()
				want, ok := t.allowed[m]
				limit := t.limit[m]
				t.mu.Unlock()
				ann := p.Announced
				if !ok || (want >= 0 && ann != uint64(want)) || (want < 0 && ann > uint64(limit)) {
					t.fail(fmt.Errorf("%w: list %s announces %d points, which does not fit the announced set sizes", ErrBadPeerMessage, m, ann))
					return
				}
				r, err := match.NewStepReceiver(int(ann))
				if err != nil {
					t.fail(fmt.Errorf("%w: list %s: %v", ErrBadPeerMessage, m, err))
					return
				}
				cur, curMsg, curWant = r, m, int(ann)
			} else if m != curMsg || p.Announced != 0 {
				t.fail(fmt.Errorf("%w: list %s interleaved with %d", ErrBadPeerMessage, curMsg, p.Message))
				return
			}
			if len(p.Points) > framePoints*match.PointSize {
				t.fail(fmt.Errorf("%w: frame of %d bytes", ErrBadPeerMessage, len(p.Points)))
				return
			}
			if err := cur.Add(p.Points); err != nil {
				t.fail(fmt.Errorf("%w: list %s: %v", ErrBadPeerMessage, curMsg, err))
				return
			}
			if pts, err := cur.Points(); err == nil && len(pts) == curWant {
				received[curMsg] = true
				t.lists[curMsg] <- pts
				cur = nil
			}
		default:
			t.fail(fmt.Errorf("%w: empty frame", ErrBadPeerMessage))
			return
		}
	}
}

// wait returns the complete list m, or the transport's error.
func (t *matchTransport) wait(ctx context.Context, m match.Message) ([][]byte, error) {
	t.init()
	select {
	case pts := <-t.lists[m]:
		return pts, nil
	case <-t.failed:
		return nil, t.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// recvHello reads the peer's hello synchronously, before the receiving
// goroutine starts, so that the expected list lengths are known before any
// list arrives.
func (t *matchTransport) recvHello() (*pb.MatchHello, error) {
	f, err := t.recv()
	if err != nil {
		t.mu.Lock()
		t.peerSt = err
		t.mu.Unlock()
		return nil, fmt.Errorf("%w: no matching hello: %v", ErrPeerFailed, err)
	}
	h := f.GetHello()
	if h == nil {
		return nil, fmt.Errorf("%w: first matching frame is not a hello", ErrBadPeerMessage)
	}
	return h, nil
}

func (t *matchTransport) waitDone(ctx context.Context) (*pb.MatchDone, error) {
	t.init()
	select {
	case d := <-t.done:
		return d, nil
	case <-t.failed:
		return nil, t.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// sendList sends a point list in frames, announcing its length first.
func (t *matchTransport) sendList(m match.Message, points [][]byte) error {
	chunks := match.Chunks(points, framePoints)
	if len(chunks) == 0 {
		chunks = [][][]byte{nil}
	}
	for i, c := range chunks {
		f := &pb.MatchPoints{Message: uint32(m), Points: match.Pack(c)}
		if i == 0 {
			f.Announced = uint64(len(points))
		}
		if err := t.send(&pb.MatchFrame{Body: &pb.MatchFrame_Points{Points: f}}); err != nil {
			return fmt.Errorf("%w: sending %s: %v", ErrPeerFailed, m, err)
		}
	}
	return nil
}
