package party

import (
	"context"
	"fmt"
	"io"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/upload"
	"github.com/jointly-dev/jointly/party/audit"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
)

// The release of a joint query, both sides: the evaluator packs the
// products of a stage and asks every owner for its key-switch shares
// (switchPacks, fetchShares); each owner checks what it is asked for and
// releases its flooded, noised shares (serveReleaseShares,
// releaseOwnShares), at most once per stage.

// switchPacks packs products idx of every session (Sums.Pack under the
// session's keys), pools the packs, and key-switches them to target: every
// y owner's shares on its own view (fetched in parallel), this node's on
// the evaluator's view, combined with c0. It returns the switched packs.
func (e *evaluation) switchPacks(ctx context.Context, idx []int, target *rlwe.PublicKey, stageOne bool) ([]*upload.Packed, []*rlwe.Ciphertext, error) {
	n, compiled := e.n, e.compiled
	packed := make([][]*upload.Packed, len(e.sums))
	for k, s := range e.sums {
		var err error
		if packed[k], err = s.Pack(ctx, idx); err != nil {
			return nil, nil, err
		}
	}
	pool, err := upload.NewPool(compiled.Plan(), packed...)
	if err != nil {
		return nil, nil, err
	}
	packs := pool.Packs()
	e.tr.begin(PhaseRelease, unitPacks, int64(len(packs)))
	view := func(k int) []*rlwe.Ciphertext {
		out := make([]*rlwe.Ciphertext, len(packs))
		for g, pk := range packs {
			if k < 0 {
				out[g] = pk.Ct
			} else {
				out[g] = pool.Uploader(k, g)
			}
		}
		return out
	}
	var counts map[int]float64
	if !stageOne {
		counts = e.counts
	}
	peerShares := make([][]mhe.PublicKeySwitchShare, len(e.owners))
	err = forEachPeer(ctx, e.owners, func(ctx context.Context, k int, o string) error {
		var err error
		peerShares[k], err = n.fetchShares(ctx, o, e.spec, view(k), packs, stageOne, counts)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	cts := view(-1)
	own, err := n.releaseOwnShares(e.query, n.cfg.Name, compiled, cts, productsOf(packs), target, stageOne)
	if err != nil {
		return nil, nil, err
	}
	combiner, err := crypto.NewKeySwitch(n.params, 1) // combining reads no width
	if err != nil {
		return nil, nil, err
	}
	out := make([]*rlwe.Ciphertext, len(packs))
	for m := range packs {
		shares := []mhe.PublicKeySwitchShare{own[m]}
		for k := range e.owners {
			shares = append(shares, peerShares[k][m])
		}
		if out[m], err = combiner.Switch(cts[m], shares); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
		}
		e.tr.add(1)
	}
	return packs, out, nil
}

// releaseOwnShares computes this owner's flooded key-switch shares of a
// joint query's result packs (cts[g] packing products packs[g]) to target,
// each with this owner's own DP noise added in every product's coefficient
// (zero in exact mode) and every coefficient flooded at its product's
// width. Stage one (the noisy counts, to the all-zero key so that the
// owners can read them) may run once; stage two (to the querier) consumes
// the prepared query.
func (n *Node) releaseOwnShares(q *Query, evaluator string, c *aggregate.Compiled, cts []*rlwe.Ciphertext, packs [][]int, target *rlwe.PublicKey, stageOne bool) ([]mhe.PublicKeySwitchShare, error) {
	ks, err := n.currentKeys()
	if err != nil {
		return nil, err
	}
	if len(cts) != len(packs) {
		return nil, fmt.Errorf("%w: %d ciphertexts for %d packs", ErrBadPeerMessage, len(cts), len(packs))
	}
	products := 0
	for _, p := range packs {
		products += len(p)
	}
	// Both stages are releases: the owners decrypt the stage-one counts
	// together, the querier the stage-two result. Each is audited before
	// any share leaves, and each happens at most once per admitted query.
	stage := audit.StageResult
	if stageOne {
		stage = audit.StageCounts
		if err := n.queries.stageOne(q.ID, evaluator, q.digest); err != nil {
			return nil, err
		}
	} else if err := n.queries.takePrepared(q.ID, evaluator, q.digest); err != nil {
		return nil, err
	}
	if err := n.record(audit.Event{Kind: audit.KindRelease, Querier: q.Querier, Purpose: q.Purpose, Epsilon: q.Epsilon, Delta: q.Delta, QueryID: q.ID,
		Detail: map[string]string{"evaluator": evaluator, "kind": q.kind(), "products": fmt.Sprint(products), audit.DetailStage: stage}}); err != nil {
		return nil, err
	}
	shares := make([]mhe.PublicKeySwitchShare, len(cts))
	for g, ct := range cts {
		widths, err := c.PackFlooding(packs[g])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
		}
		ksw, err := crypto.NewPackedKeySwitch(n.params, widths)
		if err != nil {
			return nil, err
		}
		// This owner's DP noise goes into its own share.
		noise, err := c.PackNoise(packs[g], func(sigma float64) (int64, error) { return n.noise(sigma) })
		if err != nil {
			return nil, err
		}
		if noise.Level() != ct.Level() {
			return nil, fmt.Errorf("%w: pack %d at level %d, its products at %d", ErrBadPeerMessage, g, ct.Level(), noise.Level())
		}
		if shares[g], err = ksw.Share(ks.sk, target, ct); err != nil {
			return nil, err
		}
		n.params.RingQ().AtLevel(ct.Level()).Add(shares[g].Value[0], noise.Value, shares[g].Value[0])
	}
	n.logger.Named("query").Info("decryption shares released", "query", q.ID, "evaluator", evaluator, "stage", stage, "products", products, "ciphertexts", len(cts))
	return shares, nil
}

// fetchShares asks another owner for its shares of packs (its views cts)
// over ReleaseShares.
func (n *Node) fetchShares(ctx context.Context, peer string, spec *pb.QuerySpec, cts []*rlwe.Ciphertext, packs []*upload.Packed, stageOne bool, counts map[int]float64) ([]mhe.PublicKeySwitchShare, error) {
	stream, err := n.tr.ReleaseShares(ctx, peer)
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	errc := make(chan error, 1)
	go func() {
		if len(cts) == 0 { // an empty release: the query alone
			req := &pb.ReleaseShareRequest{Query: spec, Evaluator: n.cfg.Name, StageOne: stageOne}
			req.CountStats, req.CountValues = countsToProto(counts)
			if err := stream.Send(req); err != nil {
				errc <- nil
				return
			}
		}
		for g, ct := range cts {
			b, err := crypto.MarshalWire(n.params, ct)
			if err != nil {
				errc <- err
				return
			}
			req := &pb.ReleaseShareRequest{Ciphertext: b}
			for _, i := range packs[g].Products {
				req.Products = append(req.Products, uint32(i))
			}
			if g == 0 {
				req.Query, req.Evaluator, req.StageOne = spec, n.cfg.Name, stageOne
				req.CountStats, req.CountValues = countsToProto(counts)
			}
			if err := stream.Send(req); err != nil {
				errc <- nil // the receive side reports the status
				return
			}
		}
		errc <- stream.CloseSend()
	}()
	alloc, err := crypto.NewKeySwitch(n.params, 1) // allocates shares only
	if err != nil {
		return nil, err
	}
	shares := make([]mhe.PublicKeySwitchShare, len(cts))
	for g := range cts {
		resp, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		sh := alloc.NewShare(cts[g].Level())
		if err := crypto.UnmarshalWire(n.params, resp.Share, sh); err != nil {
			return nil, fmt.Errorf("%w: key-switch share %d from %s: %v", ErrBadPeerMessage, g, peer, err)
		}
		shares[g] = *sh
	}
	if err := <-errc; err != nil {
		return nil, fmt.Errorf("%w: release to %s: %v", ErrPeerFailed, peer, err)
	}
	return shares, nil
}

// serveReleaseShares is the owner's side of ReleaseShares: stage one (the
// noisy counts, to the all-zero key) or stage two (to the querier, only
// products whose gating count reaches this owner's min_group_size).
func (n *Node) serveReleaseShares(stream pb.Federation_ReleaseSharesServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	q, err := n.evaluatorQuery(stream.Context(), first.Evaluator, first.Query)
	if err != nil {
		return err
	}
	if q.Joint == nil {
		return fmt.Errorf("%w: ReleaseShares is for joint queries", ErrBadRequest)
	}
	compiled, err := aggregate.Compile(n.params, q.request())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	plan := compiled.Plan()
	// Which products may be asked for.
	var allowed []int
	if first.StageOne {
		allowed = compiled.StageOneProducts()
	} else {
		counts, err := countsFromProto(first.CountStats, first.CountValues)
		if err != nil {
			return err
		}
		// This owner decides on its own proxy check before it releases
		// anything of stage two, whatever the evaluator decided; a refused
		// query is over here.
		if err := n.proxyCheck(q, compiled, counts); err != nil {
			n.abortQuery(q.ID, err)
			return err
		}
		for i, ok := range compiled.Release(counts, n.cfg.Policy.MinGroupSize) {
			if ok {
				allowed = append(allowed, i)
			}
		}
	}
	allowedSet := make(map[int]bool, len(allowed))
	for _, i := range allowed {
		allowedSet[i] = true
	}
	var cts []*rlwe.Ciphertext
	var packs [][]int
	last, total := -1, 0
	req := first
	if !first.StageOne && len(allowed) == 0 && len(first.Products) == 0 && len(first.Ciphertext) == 0 {
		// Nothing is releasable: the evaluator closes the query with an
		// empty release.
		if _, err := stream.Recv(); err != io.EOF {
			return fmt.Errorf("%w: an empty release is one message", ErrBadPeerMessage)
		}
		req = nil
	}
	for req != nil {
		if len(packs) > 0 && (req.Query != nil || req.Evaluator != "") {
			return fmt.Errorf("%w: query repeated mid-stream", ErrBadPeerMessage)
		}
		if len(req.Products) == 0 || len(req.Products) > n.params.N() {
			return fmt.Errorf("%w: a pack of %d products", ErrBadPeerMessage, len(req.Products))
		}
		pack := make([]int, len(req.Products))
		for k, p := range req.Products {
			i := int(p)
			if i <= last {
				return fmt.Errorf("%w: product %d asked for out of order", ErrBadPeerMessage, i)
			}
			if !allowedSet[i] {
				stage := "stage two: its gating count is below this owner's min_group_size %d, or it is a stage-one count"
				if first.StageOne {
					stage = "stage one: it is not a count (min_group_size %d)"
				}
				return &RefusalError{Owner: n.cfg.Name, Reason: fmt.Sprintf("product %d is not releasable in "+stage, i, n.cfg.Policy.MinGroupSize)}
			}
			pack[k], last = i, i
		}
		level := productLevel(plan, pack[0])
		for _, i := range pack {
			if productLevel(plan, i) != level {
				return fmt.Errorf("%w: a pack mixes products of different levels", ErrBadPeerMessage)
			}
		}
		ct := rlwe.NewCiphertext(n.params, 1, level)
		if err := crypto.UnmarshalWire(n.params, req.Ciphertext, ct); err != nil {
			return fmt.Errorf("%w: ciphertext %d: %v", ErrBadPeerMessage, len(cts), err)
		}
		cts, packs, total = append(cts, ct), append(packs, pack), total+len(pack)
		if req, err = stream.Recv(); err == io.EOF {
			req = nil
		} else if err != nil {
			return err
		}
	}
	target := q.QuerierKey
	if first.StageOne {
		target = n.zeroKey()
		if total != len(allowed) {
			return fmt.Errorf("%w: stage one needs every count", ErrBadPeerMessage)
		}
	}
	shares, err := n.releaseOwnShares(q, first.Evaluator, compiled, cts, packs, target, first.StageOne)
	if err != nil {
		return err
	}
	for g := range shares {
		b, err := crypto.MarshalWire(n.params, &shares[g])
		if err != nil {
			return err
		}
		var widest float64
		for _, i := range packs[g] {
			widest = max(widest, compiled.FloodingSigma(i))
		}
		if err := stream.Send(&pb.ReleaseShareResponse{Share: b, FloodingSigma: widest}); err != nil {
			return err
		}
	}
	return nil
}
