package party

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/jointly-dev/jointly/crypto/match"
	"github.com/jointly-dev/jointly/party/audit"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// Private matching over gRPC (crypto/match/README.md). The node that opens
// the stream is party A and the node it asks party B, unless the node
// asked must compute the match graph itself (match_graph = "self"): then
// the hellos swap the roles. Both drive the crypto/match protocol steps
// and exchange only blinded points. Each side keeps the resulting layout,
// the union size and the union row of each own record, in its data dir,
// under the peer's name, with the session id and its own dataset digest.

const (
	framePoints   = 32768 // points per MatchPoints frame: 1 MiB
	sessionIDSize = 16
)

// ErrNoKeys is returned when the node's data offer no join keys to match on.
var ErrNoKeys = errors.New("party: dataset has no join keys")

// MatchInfo describes a cached matching layout.
type MatchInfo struct {
	Peer      string `json:"peer"`
	Session   string `json:"session"`
	Role      string `json:"role"`
	Records   int    `json:"records"`
	UnionSize int    `json:"union_size"`
	Digest    string `json:"dataset_digest"`
	Created   string `json:"created"`
	// ConsentSet and PeerConsentSet are the consent sets the layout
	// matched (consent.go): this node's and the peer's, "" the default.
	ConsentSet     string `json:"consent_set,omitempty"`
	PeerConsentSet string `json:"peer_consent_set,omitempty"`
}

// consentPair names the consent sets of a matching: this node's and the
// peer's for the query's purpose, "" for the default.
type consentPair struct{ own, peer string }

// matchFile names the files of the layout with peer for the consent sets
// p; the default sets keep the name they had before consent sets.
func matchFile(peer string, p consentPair) string {
	if p == (consentPair{}) {
		return "match/" + peer
	}
	return "match/" + peer + "~" + cmp.Or(p.own, "-") + "~" + cmp.Or(p.peer, "-")
}

// Layout returns the cached matching layout with peer, running private
// matching first when there is none or the node's data changed since.
// It matches the records of the default consent on both sides.
func (n *Node) Layout(ctx context.Context, peer string) (*MatchInfo, *match.Layout, error) {
	return n.layout(ctx, peer, "", consentPair{}, nil)
}

// layout is Layout for the records that consented to purpose, in the
// consent sets p. peerHas, when the peer reported it at admission, lists
// the sessions the peer can still upload over: a cached layout of any
// other session (the peer's data changed since) is matched again.
func (n *Node) layout(ctx context.Context, peer, purpose string, p consentPair, peerHas *pb.CurrentLayouts) (*MatchInfo, *match.Layout, error) {
	if _, ok := n.cfg.peerAddress(peer); !ok {
		return nil, nil, fmt.Errorf("%w %q", ErrUnknownParty, peer)
	}
	in, err := n.joinKeys(ctx, p.own)
	if err != nil {
		return nil, nil, err
	}
	held := func(info *MatchInfo) bool {
		return peerHas == nil || slices.ContainsFunc(peerHas.Sessions, func(s []byte) bool { return hex.EncodeToString(s) == info.Session })
	}
	var rejected string // the session of a cached layout not taken
	if info, l, err := n.cachedLayout(peer, p); err == nil {
		current := info.Digest == hex.EncodeToString(in.digest)
		switch {
		case current && held(info):
			return info, l, nil
		case current:
			n.logger.Named("match").Info("the peer no longer holds the cached layout (its data changed); matching again", "peer", peer, "session", info.Session)
		default:
			n.logger.Named("match").Info("this node's records changed since the cached layout; matching again", "peer", peer, "session", info.Session)
		}
		rejected = info.Session
	}
	// A layout another session stores meanwhile is newer than the peer's
	// report, and taken.
	reuse := func(info *MatchInfo) bool { return info.Session != rejected }
	// The query reports the progress of whichever session with peer it
	// waits for, its own or one this node serves.
	defer n.layouts.follow(peer, trackerFrom(ctx))()
	// A peer's own session is bounded by the matching timeout, and so is
	// the wait for it: a peer that keeps deferring cannot hold the query.
	deadline := time.Now().Add(n.cfg.MatchTimeout)
	wait := retryBackoff{base: 50 * time.Millisecond, max: min(time.Second, n.cfg.RetryMax)}
	for {
		info, l, err := n.match(ctx, peer, purpose, p, reuse)
		if !errors.Is(err, ErrMatchCrossed) {
			return info, l, err
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("%w (for longer than the matching timeout, %v)", err, n.cfg.MatchTimeout)
		}
		// The peer started a matching with this node at the same moment,
		// and its session goes first: this node serves it, then takes the
		// layout it leaves.
		n.logger.Named("match").Info("the peer's own matching with this node goes first; waiting for its layout", "peer", peer)
		if err := wait.wait(ctx); err != nil {
			return nil, nil, err
		}
	}
}

// CachedLayout returns the layout stored for peer and the consent sets p,
// if any.
func (n *Node) cachedLayout(peer string, p consentPair) (*MatchInfo, *match.Layout, error) {
	var info MatchInfo
	found, err := n.store.readJSON(matchFile(peer, p)+".json", &info)
	if err != nil || !found {
		return nil, nil, fmt.Errorf("%w: no matching layout with %s", ErrNotReady, peer)
	}
	l := new(match.Layout)
	if err := n.store.readBinary(matchFile(peer, p)+".layout", l); err != nil {
		return nil, nil, err
	}
	return &info, l, nil
}

// Match runs a private matching session with peer, as party A unless the
// peer computes the match graph itself, and stores the layout on both
// sides, over the records of the default consent.
func (n *Node) Match(ctx context.Context, peer string) (*MatchInfo, *match.Layout, error) {
	return n.match(ctx, peer, "", consentPair{}, nil)
}

// match is Match for the records that consented to purpose, in the
// consent sets p: the peer's must be what it reports for purpose. A
// current layout that another session stored while this one waited for
// its turn is taken instead when reuse (if not nil) accepts it.
func (n *Node) match(ctx context.Context, peer, purpose string, p consentPair, reuse func(*MatchInfo) bool) (*MatchInfo, *match.Layout, error) {
	log := n.logger.Named("match").With("peer", peer)
	if _, err := n.currentKeys(); err != nil {
		return nil, nil, err
	}
	tr := newTracker() // this session's work; a query follows it (layout)
	release, err := n.layouts.acquire(ctx, peer, true, false, tr)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	in, err := n.joinKeys(ctx, p.own)
	if err != nil {
		return nil, nil, err
	}
	if info, l, err := n.cachedLayout(peer, p); reuse != nil && err == nil && info.Digest == hex.EncodeToString(in.digest) && reuse(info) {
		return info, l, nil
	}
	session := make([]byte, sessionIDSize)
	if _, err := rand.Read(session); err != nil {
		return nil, nil, fmt.Errorf("party: session id: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.MatchTimeout)
	defer cancel()
	start := time.Now()
	log = log.With("session", hex.EncodeToString(session))
	log.Info("matching started", "records", in.size(), "join_keys", strings.Join(in.kinds, ","))
	if trackerFrom(ctx) == nil { // no query reports it: the log does
		defer report(tr, log, nil)()
	}
	stream, err := n.tr.Match(ctx, peer)
	if err != nil {
		return nil, nil, err
	}
	defer stream.Close()
	t := &matchTransport{send: stream.Send, recv: stream.Recv}
	role, layout, err := n.openSession(ctx, t, peer, session, in, purpose, p, tr, log)
	if err != nil {
		_ = stream.CloseSend()
		if st := t.peerErr(); st != nil {
			err = st // the peer's own error, as a domain error
		}
		if errors.Is(err, ErrMatchCrossed) {
			log.Info("matching deferred to the peer's own session", "error", err)
			return nil, nil, err
		}
		log.Warn("matching failed", "error", err)
		return nil, nil, err
	}
	if err := stream.CloseSend(); err != nil {
		return nil, nil, err
	}
	// The peer's handler returns once its layout is stored. The node that
	// opened the stream stores its own last, so that a layout cached here
	// always has its counterpart at the peer: a failure on either side
	// leaves this node without one, and the next query matches again.
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = fmt.Errorf("%w: a frame after the end of the matching", ErrBadPeerMessage)
		}
		log.Warn("matching failed", "error", err)
		return nil, nil, err
	}
	info, err := n.saveLayout(peer, role, session, in.digest, in.size(), layout, p)
	if err != nil {
		return nil, nil, err
	}
	log.Info("matching finished", "role", info.Role, "union", layout.UnionSize, "elapsed", time.Since(start).Round(time.Millisecond))
	return info, layout, nil
}

func (n *Node) saveLayout(peer, role string, session, digest []byte, records int, l *match.Layout, p consentPair) (*MatchInfo, error) {
	info := &MatchInfo{Peer: peer, Session: hex.EncodeToString(session), Role: role, Records: records, UnionSize: l.UnionSize,
		Digest: hex.EncodeToString(digest), Created: time.Now().UTC().Format(time.RFC3339), ConsentSet: p.own, PeerConsentSet: p.peer}
	if err := n.store.writeBinary(matchFile(peer, p)+".layout", l); err != nil {
		return nil, err
	}
	if err := n.store.writeJSON(matchFile(peer, p)+".json", info); err != nil {
		return nil, err
	}
	return info, nil
}

func (n *Node) matchHello(session []byte, records int, purpose, set string) *pb.MatchFrame {
	kinds := n.cfg.JoinKinds()
	h := &pb.MatchHello{
		Node: n.cfg.Name, SessionId: session, Records: uint64(records), IdKind: strings.Join(kinds, ","), NormalizationVersion: n.cfg.normVersion(),
		Purpose: purpose, ConsentSet: set, ComputesGraph: n.cfg.MatchGraph == MatchGraphSelf, Swappable: true,
	}
	if len(kinds) > 1 {
		h.IdKinds = kinds
	}
	return &pb.MatchFrame{Body: &pb.MatchFrame_Hello{Hello: h}}
}

// Roles of a matching session (crypto/match): party A computes the
// pairing (with several kinds, the match graph), party B learns sizes.
const (
	roleA = "A"
	roleB = "B"
)

// servedRole is the role of a node asked to match by a peer whose hello
// is h: B, unless this node must be party A (match_graph = "self"), which
// needs an opener that can take role B and does not insist on A itself.
func (n *Node) servedRole(h *pb.MatchHello) (string, error) {
	if n.cfg.MatchGraph != MatchGraphSelf {
		return roleB, nil
	}
	switch {
	case h.ComputesGraph:
		return "", fmt.Errorf(`%w: both %s and %s set match_graph = "self"; at most one owner of a pair may compute the match graph`,
			ErrSetupMismatch, h.Node, n.cfg.Name)
	case !h.Swappable:
		return "", fmt.Errorf(`%w: %s runs a version that can only start a matching as party A, and %s computes the match graph itself (match_graph = "self")`,
			ErrSetupMismatch, h.Node, n.cfg.Name)
	}
	return roleA, nil
}

// checkConsentSet checks the consent set a peer names: "" or a column
// name (it names cached files).
func checkConsentSet(peer, set string) error {
	if set != "" && !consentSetRE.MatchString(set) {
		return fmt.Errorf("%w: %s names consent set %q, not a column name", ErrBadPeerMessage, peer, set)
	}
	return nil
}

// checkHello validates the peer's hello and returns its record count.
func (n *Node) checkHello(h *pb.MatchHello, peer string, session []byte) (int, error) {
	if h.Node != peer {
		return 0, fmt.Errorf("%w: matching hello from %q, expected %q", ErrBadPeerMessage, h.Node, peer)
	}
	if string(h.SessionId) != string(session) {
		return 0, fmt.Errorf("%w: matching session id differs", ErrBadPeerMessage)
	}
	if len(h.IdKinds) > match.MaxKinds {
		return 0, fmt.Errorf("%w: %s names %d identifier kinds", ErrBadPeerMessage, peer, len(h.IdKinds))
	}
	kinds, theirs := n.cfg.JoinKinds(), h.IdKinds
	if len(theirs) == 0 {
		theirs = []string{h.IdKind}
	}
	if v := n.cfg.normVersion(); !slices.Equal(theirs, kinds) || h.NormalizationVersion != v {
		return 0, fmt.Errorf("%w: %s matches on join_keys %s with normalization v%d; this node on %s with v%d (every node of the federation must declare the same kinds in the same order)",
			ErrSetupMismatch, peer, kindList(theirs), h.NormalizationVersion, kindList(kinds), v)
	}
	if h.Records == 0 || h.Records > match.MaxPoints/uint64(len(kinds)) {
		return 0, fmt.Errorf("%w: %s announces %d records", ErrBadPeerMessage, peer, h.Records)
	}
	return int(h.Records), nil
}

// domainTag is the session's hash domain: the federation, the join kinds
// (one kind gives the tag of the single-key protocol) and their
// normalization version.
func (n *Node) domainTag(session []byte) []byte {
	return match.DomainTag(n.cfg.Federation+"/"+strings.Join(n.cfg.JoinKinds(), ",")+"/v"+fmt.Sprint(n.cfg.normVersion()), session)
}

// countMatching has party count its work toward tr's matching phase, at
// most bound scalar multiplications (the protocol's count before the union
// is known: match.Work or match.MultiKeyWork with u = x + y). The returned
// function, called when the session ends, adds what the bound overstated,
// so that the session's share of the phase is exactly done.
func countMatching(tr *tracker, party interface{ CountWork(*atomic.Int64) }, bound int64) func() {
	if tr == nil {
		return func() {}
	}
	tr.begin(PhaseMatching, unitOps, bound)
	var mine atomic.Int64
	party.CountWork(&mine)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // forward this session's count to the shared one
		defer close(done)
		var sent int64
		tick := time.NewTicker(progressEvery / 4)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				tr.add(bound - sent)
				return
			case <-tick.C:
				now := min(mine.Load(), bound)
				tr.add(now - sent)
				sent = now
			}
		}
	}()
	return func() {
		close(stop)
		<-done
	}
}

// openSession is the side of the node that opened the stream: the
// hellos, then the session in the role they settle (A, unless the peer
// must compute the match graph). It returns the role and the layout, which
// the caller stores once the peer has stored its own.
func (n *Node) openSession(ctx context.Context, t *matchTransport, peer string, session []byte, in *matchInput, purpose string, p consentPair, tr *tracker, log hclog.Logger) (string, *match.Layout, error) {
	t.init()
	if err := t.send(n.matchHello(session, in.size(), purpose, p.own)); err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrPeerFailed, err)
	}
	h, err := t.recvHello()
	if err != nil {
		return "", nil, err
	}
	y, err := n.checkHello(h, peer, session)
	if err != nil {
		return "", nil, err
	}
	if h.ConsentSet != p.peer {
		return "", nil, fmt.Errorf("%w: %s matches consent set %q for purpose %q, it admitted the query with %q; its policy changed, send the query again",
			ErrStale, peer, h.ConsentSet, purpose, p.peer)
	}
	role := roleA
	if h.ComputesGraph {
		if n.cfg.MatchGraph == MatchGraphSelf { // the peer refuses too; say it here as well
			return "", nil, fmt.Errorf(`%w: both %s and %s set match_graph = "self"; at most one owner of a pair may compute the match graph`,
				ErrSetupMismatch, n.cfg.Name, peer)
		}
		role = roleB
	}
	layout, err := n.runSession(ctx, t, role, peer, session, in, y, tr, log, nil)
	return role, layout, err
}

// runSession records the session in the audit log, runs this node's steps
// in role and the closing exchange of union sizes: A announces, B checks
// and confirms, A checks. As party B it calls commit, if any, before it
// confirms (the served node stores its layout there).
func (n *Node) runSession(ctx context.Context, t *matchTransport, role, peer string, session []byte, in *matchInput, peerRecords int, tr *tracker, log hclog.Logger, commit func(*match.Layout) error) (*match.Layout, error) {
	detail := map[string]string{"peer": peer, "role": role, "session": hex.EncodeToString(session), "records": fmt.Sprint(in.size())}
	if len(in.kinds) > 1 {
		detail[audit.DetailJoinKeys] = strings.Join(in.kinds, ",")
	}
	if err := n.record(audit.Event{Kind: audit.KindMatching, Detail: detail}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	steps := n.singleKeyB
	switch {
	case role == roleA && len(in.kinds) > 1:
		steps = n.multiKeyA
	case role == roleA:
		steps = n.singleKeyA
	case len(in.kinds) > 1:
		steps = n.multiKeyB
	}
	layout, err := steps(ctx, t, session, in, peerRecords, tr, log)
	if err != nil {
		return nil, err
	}
	done := &pb.MatchFrame{Body: &pb.MatchFrame_Done{Done: &pb.MatchDone{UnionSize: uint64(layout.UnionSize)}}}
	if role == roleA {
		if err := t.send(done); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrPeerFailed, err)
		}
	}
	theirs, err := t.waitDone(ctx)
	if err != nil {
		return nil, err
	}
	if theirs.UnionSize != uint64(layout.UnionSize) {
		return nil, fmt.Errorf("%w: %s computed a union of %d records, this node %d", ErrBadPeerMessage, peer, theirs.UnionSize, layout.UnionSize)
	}
	if role == roleB {
		if commit != nil {
			if err := commit(layout); err != nil {
				return nil, err
			}
		}
		if err := t.send(done); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrPeerFailed, err)
		}
	}
	return layout, nil
}

// serveMatch is the side of a node asked to match, run by the Match
// handler: party B, or party A when this node computes the match graph
// itself (match_graph = "self").
func (n *Node) serveMatch(ctx context.Context, stream pb.Federation_MatchServer) error {
	if _, err := n.currentKeys(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.MatchTimeout)
	defer cancel()
	t := &matchTransport{send: stream.Send, recv: stream.Recv}
	t.init()
	h, err := t.recvHello()
	if err != nil {
		return err
	}
	peer := h.Node
	if err := n.authenticate(ctx, peer); err != nil {
		return err
	}
	if len(h.SessionId) != sessionIDSize {
		return fmt.Errorf("%w: matching session id of %d bytes", ErrBadPeerMessage, len(h.SessionId))
	}
	session := h.SessionId
	x, err := n.checkHello(h, peer, session)
	if err != nil {
		return err
	}
	if err := checkConsentSet(peer, h.ConsentSet); err != nil {
		return err
	}
	role, err := n.servedRole(h)
	if err != nil {
		return err
	}
	p := consentPair{own: n.cfg.Policy.ConsentSet(h.Purpose), peer: h.ConsentSet}
	// A session this node opened with the same peer meanwhile goes first
	// when this node's name sorts first; the peer then serves it.
	tr := newTracker()
	release, err := n.layouts.acquire(ctx, peer, false, n.cfg.Name < peer, tr)
	if err != nil {
		return err
	}
	defer release()
	in, err := n.joinKeys(ctx, p.own)
	if err != nil {
		return err
	}
	log := n.logger.Named("match").With("peer", peer, "session", hex.EncodeToString(session))
	log.Info("matching requested", "role", role, "records", in.size(), "join_keys", strings.Join(in.kinds, ","))
	start := time.Now()
	if err := t.send(n.matchHello(session, in.size(), h.Purpose, p.own)); err != nil {
		return err
	}
	defer report(tr, log, nil)()
	save := func(l *match.Layout) error {
		_, err := n.saveLayout(peer, role, session, in.digest, in.size(), l, p)
		return err
	}
	layout, err := n.runSession(ctx, t, role, peer, session, in, x, tr, log, save)
	if err != nil {
		return err
	}
	if role == roleA { // as party B it stored before it confirmed
		if err := save(layout); err != nil {
			return err
		}
	}
	log.Info("matching finished", "union", layout.UnionSize, "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}
