package party

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/crypto/match"
)

// The single-key protocol's steps over a matching stream (crypto/match
// README.md), run when the federation matches on one identifier kind
// (join_key). The hellos and the closing exchange of union sizes are
// match.go's; each of the peer's lists is length-checked against the
// announced record counts before its first point is taken.

// singleKeyA runs party A's steps of the single-key protocol with a peer
// of y records.
func (n *Node) singleKeyA(ctx context.Context, t *matchTransport, session []byte, in *matchInput, y int, tr *tracker, _ hclog.Logger) (*match.Layout, error) {
	keys, x := in.keys, len(in.keys)
	t.expect(match.MsgBlindedB, y, 0)
	t.expect(match.MsgShuffledA, x, 0)
	t.expect(match.MsgDoubleA, x, 0)
	go t.run(func(m match.Message) bool { return !m.FromA() && !m.MultiKey() })

	a, err := match.NewPartyA(n.domainTag(session))
	if err != nil {
		return nil, err
	}
	defer a.Zero()
	defer countMatching(tr, a, 3*int64(x+y))()
	uA, err := a.Blind(keys)
	if err != nil {
		return nil, err
	}
	if err := t.sendList(match.MsgBlindedA, uA); err != nil {
		return nil, err
	}
	uB, err := t.wait(ctx, match.MsgBlindedB)
	if err != nil {
		return nil, err
	}
	vB, err := a.ReblindPeer(uB)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
	}
	if err := t.sendList(match.MsgDoubleB, vB); err != nil {
		return nil, err
	}
	shuffledA, err := t.wait(ctx, match.MsgShuffledA)
	if err != nil {
		return nil, err
	}
	vA, err := t.wait(ctx, match.MsgDoubleA)
	if err != nil {
		return nil, err
	}
	onlyB, onlyA, err := a.Differences(shuffledA, vA)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
	}
	t.expect(match.MsgOnlyBDouble, len(onlyB), 0)
	if err := t.sendList(match.MsgOnlyB, onlyB); err != nil {
		return nil, err
	}
	if err := t.sendList(match.MsgOnlyA, onlyA); err != nil {
		return nil, err
	}
	d, err := t.wait(ctx, match.MsgOnlyBDouble)
	if err != nil {
		return nil, err
	}
	layout, err := a.Finish(d)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
	}
	return layout, nil
}

// singleKeyB runs party B's steps of the single-key protocol with a peer
// of x records.
func (n *Node) singleKeyB(ctx context.Context, t *matchTransport, session []byte, in *matchInput, x int, tr *tracker, _ hclog.Logger) (*match.Layout, error) {
	keys, y := in.keys, len(in.keys)
	t.expect(match.MsgBlindedA, x, 0)
	t.expect(match.MsgDoubleB, y, 0)
	t.expect(match.MsgOnlyB, -1, y)
	t.expect(match.MsgOnlyA, -1, x)
	go t.run(func(m match.Message) bool { return m.FromA() && !m.MultiKey() })
	b, err := match.NewPartyB(n.domainTag(session))
	if err != nil {
		return nil, err
	}
	defer b.Zero()
	defer countMatching(tr, b, 3*int64(x+y))()
	uB, err := b.Blind(keys)
	if err != nil {
		return nil, err
	}
	if err := t.sendList(match.MsgBlindedB, uB); err != nil {
		return nil, err
	}
	uA, err := t.wait(ctx, match.MsgBlindedA)
	if err != nil {
		return nil, err
	}
	shuffledA, vA, err := b.ReblindPeer(uA)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
	}
	if err := t.sendList(match.MsgShuffledA, shuffledA); err != nil {
		return nil, err
	}
	if err := t.sendList(match.MsgDoubleA, vA); err != nil {
		return nil, err
	}
	vB, err := t.wait(ctx, match.MsgDoubleB)
	if err != nil {
		return nil, err
	}
	if err := b.AcceptDouble(vB); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
	}
	onlyB, err := t.wait(ctx, match.MsgOnlyB)
	if err != nil {
		return nil, err
	}
	onlyA, err := t.wait(ctx, match.MsgOnlyA)
	if err != nil {
		return nil, err
	}
	d, err := b.ReblindOnlyB(onlyB, onlyA)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
	}
	if err := t.sendList(match.MsgOnlyBDouble, d); err != nil {
		return nil, err
	}
	layout, err := b.Finish()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
	}
	return layout, nil
}
