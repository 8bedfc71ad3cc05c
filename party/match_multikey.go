package party

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/crypto/match"
)

// The multi-key protocol's steps over a matching stream (crypto/match
// README.md, Multi-key matching), run when the federation matches on more
// than one identifier kind (join_keys). The hellos and the closing
// exchange of union sizes are those of the single-key protocol (match.go);
// the point lists travel in the same frames, each list's length checked
// against the announced record counts before its first point is taken,
// and each list validated by the step that consumes it. A peer's list
// that fails is refused with ErrBadPeerMessage naming the message.

// peerListError wraps the error a step returned for the peer's message m.
func peerListError(m match.Message, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrBadPeerMessage, m, err)
}

// multiKeyA runs party A's steps with a peer of y records: blind, keep
// the peer's keys, compute the match graph and send the tokens, finish.
func (n *Node) multiKeyA(ctx context.Context, t *matchTransport, session []byte, in *matchInput, y int, tr *tracker, log hclog.Logger) (*match.Layout, error) {
	K, x := len(in.kinds), len(in.records)
	t.expect(match.MsgKeysBlindedB, K*y, 0)
	t.expect(match.MsgKeysShuffledA, K*x, 0)
	t.expect(match.MsgTokensADouble, x, 0)
	go t.run(func(m match.Message) bool { return !m.FromA() && m.MultiKey() })

	a, err := match.NewMultiKeyA(n.domainTag(session), in.kinds)
	if err != nil {
		return nil, err
	}
	defer a.Zero()
	defer countMatching(tr, a, int64(K+2)*int64(x+y))()
	uA, err := a.Blind(in.records)
	if err != nil {
		return nil, err
	}
	if err := t.sendList(match.MsgKeysBlindedA, uA); err != nil {
		return nil, err
	}
	uB, err := t.wait(ctx, match.MsgKeysBlindedB)
	if err != nil {
		return nil, err
	}
	if err := a.ReblindPeer(uB); err != nil {
		return nil, peerListError(match.MsgKeysBlindedB, err)
	}
	shuffledA, err := t.wait(ctx, match.MsgKeysShuffledA)
	if err != nil {
		return nil, err
	}
	tok, err := a.Match(shuffledA)
	if err != nil {
		return nil, peerListError(match.MsgKeysShuffledA, err)
	}
	t.expect(match.MsgTokensOnlyBDouble, len(tok.OnlyB), 0)
	for _, l := range []struct {
		m      match.Message
		points [][]byte
	}{
		{match.MsgTokensA, tok.A}, {match.MsgTokensB, tok.B}, {match.MsgTokensOnlyB, tok.OnlyB}, {match.MsgTokensOnlyA, tok.OnlyA},
	} {
		if err := t.sendList(l.m, l.points); err != nil {
			return nil, err
		}
	}
	zA, err := t.wait(ctx, match.MsgTokensADouble)
	if err != nil {
		return nil, err
	}
	onlyBDouble, err := t.wait(ctx, match.MsgTokensOnlyBDouble)
	if err != nil {
		return nil, err
	}
	layout, err := a.Finish(zA, onlyBDouble)
	if err != nil {
		return nil, fmt.Errorf("%w: %s, %s: %v", ErrBadPeerMessage, match.MsgTokensADouble, match.MsgTokensOnlyBDouble, err)
	}
	// What A learns of the match graph anyway, and counts of its own data:
	// safe to log, and what an operator needs to judge the kinds' worth.
	log.Info("multi-key matching", "kinds", len(in.kinds), "pairs_per_kind", a.MatchCounts(),
		"own_shared_keys_ignored", a.Dropped())
	return layout, nil
}

// multiKeyB runs party B's steps with a peer of x records: blind, reblind
// and reshuffle the peer's records, raise the tokens, finish.
func (n *Node) multiKeyB(ctx context.Context, t *matchTransport, session []byte, in *matchInput, x int, tr *tracker, log hclog.Logger) (*match.Layout, error) {
	K, y := len(in.kinds), len(in.records)
	t.expect(match.MsgKeysBlindedA, K*x, 0)
	t.expect(match.MsgTokensA, x, 0)
	t.expect(match.MsgTokensB, y, 0)
	t.expect(match.MsgTokensOnlyB, -1, y)
	t.expect(match.MsgTokensOnlyA, -1, x)
	go t.run(func(m match.Message) bool { return m.FromA() && m.MultiKey() })

	b, err := match.NewMultiKeyB(n.domainTag(session), in.kinds)
	if err != nil {
		return nil, err
	}
	defer b.Zero()
	defer countMatching(tr, b, int64(K+2)*int64(x+y))()
	uB, err := b.Blind(in.records)
	if err != nil {
		return nil, err
	}
	if err := t.sendList(match.MsgKeysBlindedB, uB); err != nil {
		return nil, err
	}
	uA, err := t.wait(ctx, match.MsgKeysBlindedA)
	if err != nil {
		return nil, err
	}
	shuffledA, err := b.ReblindPeer(uA)
	if err != nil {
		return nil, peerListError(match.MsgKeysBlindedA, err)
	}
	if err := t.sendList(match.MsgKeysShuffledA, shuffledA); err != nil {
		return nil, err
	}
	var lists [4][][]byte
	for i, m := range []match.Message{match.MsgTokensA, match.MsgTokensB, match.MsgTokensOnlyB, match.MsgTokensOnlyA} {
		if lists[i], err = t.wait(ctx, m); err != nil {
			return nil, err
		}
	}
	zA, onlyBDouble, err := b.ReblindTokens(lists[0], lists[1], lists[2], lists[3])
	if err != nil {
		// The error names the token list that failed.
		return nil, fmt.Errorf("%w: tokens: %v", ErrBadPeerMessage, err)
	}
	if err := t.sendList(match.MsgTokensADouble, zA); err != nil {
		return nil, err
	}
	if err := t.sendList(match.MsgTokensOnlyBDouble, onlyBDouble); err != nil {
		return nil, err
	}
	layout, err := b.Finish()
	if err != nil {
		return nil, err
	}
	log.Info("multi-key matching", "kinds", K, "own_shared_keys_ignored", b.Dropped())
	return layout, nil
}
