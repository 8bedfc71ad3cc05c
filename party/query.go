package party

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"golang.org/x/sync/errgroup"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party/audit"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

const (
	objectAggregate = "aggregate"
	maxUpload       = 4 << 20 // largest encrypted aggregate accepted
	preparedTTL     = 10 * time.Minute
	maxOpenQueries  = 64
)

// queryTable tracks the queries a node evaluates (contributions expected
// from each owner) and the queries it prepared as a data owner (so that it
// releases a decryption share only for a query it agreed to, once).
type queryTable struct {
	mu       sync.Mutex
	open     map[string]*openQuery
	joint    map[string]*jointState
	prepared map[string]preparedQuery
}

type openQuery struct {
	expected map[string]bool
	contrib  map[string]*rlwe.Ciphertext
}

type preparedQuery struct {
	evaluator string
	digest    []byte
	at        time.Time
	stageOne  bool // the stage-one counts were released
}

func newQueryTable() *queryTable {
	return &queryTable{open: make(map[string]*openQuery), joint: make(map[string]*jointState), prepared: make(map[string]preparedQuery)}
}

// openJoint registers a joint query this node evaluates.
func (t *queryTable) openJoint(id string, st *jointState) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.open[id]; ok {
		return fmt.Errorf("%w %q", ErrDuplicateQuery, id)
	}
	if _, ok := t.joint[id]; ok {
		return fmt.Errorf("%w %q", ErrDuplicateQuery, id)
	}
	if len(t.open)+len(t.joint) >= maxOpenQueries {
		return fmt.Errorf("%w: %d queries in progress", ErrNotReady, len(t.open)+len(t.joint))
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

func (t *queryTable) openQuery(id string, owners []string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.open[id]; ok {
		return fmt.Errorf("%w %q", ErrDuplicateQuery, id)
	}
	if len(t.open) >= maxOpenQueries {
		return fmt.Errorf("%w: %d queries in progress", ErrNotReady, len(t.open))
	}
	q := &openQuery{expected: make(map[string]bool), contrib: make(map[string]*rlwe.Ciphertext)}
	for _, o := range owners {
		q.expected[o] = true
	}
	t.open[id] = q
	return nil
}

func (t *queryTable) closeQuery(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.open, id)
	delete(t.joint, id)
}

// contribute records an owner's encrypted contribution; each owner
// contributes once to a query the node evaluates.
func (t *queryTable) contribute(id, owner string, ct *rlwe.Ciphertext) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	q, ok := t.open[id]
	if !ok {
		return fmt.Errorf("%w: no query %q is being evaluated here", ErrBadRequest, id)
	}
	if !q.expected[owner] {
		return fmt.Errorf("%w: %q is not a data owner of query %q", ErrUnknownParty, owner, id)
	}
	if _, dup := q.contrib[owner]; dup {
		return fmt.Errorf("%w: %s already contributed to query %q", ErrBadPeerMessage, owner, id)
	}
	q.contrib[owner] = ct
	return nil
}

func (t *queryTable) contributions(id string) map[string]*rlwe.Ciphertext {
	t.mu.Lock()
	defer t.mu.Unlock()
	if q, ok := t.open[id]; ok {
		return q.contrib
	}
	return nil
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

// noiseBound is the public bound on the noise of a LocalSums result: one
// fresh encryption per owner plus the evaluator's re-randomization. Each
// owner computes it from public quantities only.
func (n *Node) noiseBound() float64 {
	owners := len(n.cfg.Owners())
	return float64(owners+1) * crypto.FreshNoiseBound(n.params, owners)
}

// bounder is implemented by datasets that declare column bounds.
type bounder interface {
	ColumnBounds(column string) (lo, hi float64, ok bool)
}

// contribute checks the query against this owner's policy, charges the
// querier and computes the owner's encrypted, noised contribution. It
// returns the standard deviation of the noise in each value.
func (n *Node) contribute(ctx context.Context, ks *keySet, q *Query) (*rlwe.Ciphertext, []float64, error) {
	if err := n.admit(q, q.columns()); err != nil {
		return nil, nil, err
	}
	var (
		count      int64
		sum, bound float64
		err        error
	)
	if q.LocalSums.Column == "" {
		count = n.data.Records()
	} else if count, sum, err = n.data.LocalSum(ctx, q.LocalSums.Column); err != nil {
		return nil, nil, err
	}
	if !q.Exact && q.LocalSums.Column != "" {
		b, ok := n.data.(bounder)
		lo, hi, declared := 0.0, 0.0, false
		if ok {
			lo, hi, declared = b.ColumnBounds(q.LocalSums.Column)
		}
		if !declared {
			return nil, nil, &RefusalError{Owner: n.cfg.Name, Reason: fmt.Sprintf("column %q has no declared bounds, so its sensitivity is unknown", q.LocalSums.Column)}
		}
		bound = math.Max(math.Abs(lo), math.Abs(hi))
	}
	countSigma, sumSigma, err := localSumsSigmas(q, bound)
	if err != nil {
		return nil, nil, err
	}
	fixed, err := fixedPoint(sum)
	if err != nil {
		return nil, nil, err
	}
	// Each owner adds its own full-scale noise, so the release is private
	// even against the other owners, who know their own noise.
	nc, err := n.noise(countSigma)
	if err != nil {
		return nil, nil, err
	}
	ns, err := n.noise(sumSigma)
	if err != nil {
		return nil, nil, err
	}
	pt, err := crypto.EncodeInts(n.params, []int64{count + nc, fixed + ns}, crypto.AggregateLogScale)
	if err != nil {
		return nil, nil, err
	}
	ct, err := rlwe.NewEncryptor(n.params, ks.pk).EncryptNew(pt)
	if err != nil {
		return nil, nil, fmt.Errorf("party: encrypt contribution: %w", err)
	}
	return ct, []float64{countSigma, sumSigma / SumDivisor}, nil
}

// submit evaluates a query with this node as evaluating node.
func (n *Node) submit(ctx context.Context, q *Query, spec *pb.QuerySpec) (*pb.SubmitResponse, error) {
	log := n.logger.Named("query").With("query", q.ID)
	ks, err := n.currentKeys()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var peers []string
	for _, p := range n.cfg.Peers {
		peers = append(peers, p.Name)
	}
	if err := n.queries.openQuery(q.ID, peers); err != nil {
		return nil, err
	}
	defer n.queries.closeQuery(q.ID)
	log.Info("query received", "kind", "local_sums", "owners", len(peers)+1)

	// Every owner checks the query and contributes; this node too.
	own, ownNoise, err := n.contribute(ctx, ks, q)
	if err != nil {
		return nil, err
	}
	if err := n.queries.prepare(q.ID, n.cfg.Name, q.digest); err != nil {
		return nil, err
	}
	noiseVar := []float64{ownNoise[0] * ownNoise[0], ownNoise[1] * ownNoise[1]}
	var noiseMu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range peers {
		g.Go(func() error {
			conn, err := n.peer(p)
			if err != nil {
				return err
			}
			cctx, cancel := n.callCtx(gctx)
			defer cancel()
			resp, err := pb.NewFederationClient(conn).Prepare(cctx, &pb.PrepareRequest{Query: spec, Evaluator: n.cfg.Name})
			if err != nil {
				return fromStatus(p, "prepare", err)
			}
			if len(resp.NoiseStd) != len(noiseVar) {
				return fmt.Errorf("%w: %s reported %d noise scales for %d values", ErrBadPeerMessage, p, len(resp.NoiseStd), len(noiseVar))
			}
			noiseMu.Lock()
			for i, s := range resp.NoiseStd {
				noiseVar[i] += s * s
			}
			noiseMu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	contrib := n.queries.contributions(q.ID)
	sum := own.CopyNew()
	rQ := n.params.RingQ().AtLevel(sum.Level())
	for _, p := range peers {
		ct, ok := contrib[p]
		if !ok {
			return nil, fmt.Errorf("%w: %s acknowledged the query but uploaded nothing", ErrPeerFailed, p)
		}
		rQ.Add(sum.Value[0], ct.Value[0], sum.Value[0])
		rQ.Add(sum.Value[1], ct.Value[1], sum.Value[1])
	}
	if err := crypto.Rerandomize(n.params, ks.pk, sum); err != nil {
		return nil, err
	}
	ctBytes, err := ciphertextToProto(n.params, sum)
	if err != nil {
		return nil, err
	}
	log.Debug("contributions added", "elapsed", time.Since(start))

	// Every owner releases its key-switch share to the querier's key.
	ksw, err := crypto.NewKeySwitch(n.params, crypto.FloodingSigma(n.noiseBound(), crypto.DefaultFloodingBits))
	if err != nil {
		return nil, err
	}
	shares := make([]mhe.PublicKeySwitchShare, len(peers)+1)
	for i := range shares {
		shares[i] = *ksw.NewShare(sum.Level())
	}
	ownShare, err := n.releaseShare(q, n.cfg.Name, sum)
	if err != nil {
		return nil, err
	}
	shares[0] = ownShare
	g, gctx = errgroup.WithContext(ctx)
	for i, p := range peers {
		g.Go(func() error {
			conn, err := n.peer(p)
			if err != nil {
				return err
			}
			cctx, cancel := n.callCtx(gctx)
			defer cancel()
			resp, err := pb.NewFederationClient(conn).ReleaseShare(cctx, &pb.ReleaseShareRequest{Query: spec, Evaluator: n.cfg.Name, Ciphertext: ctBytes})
			if err != nil {
				return fromStatus(p, "release", err)
			}
			if err := crypto.UnmarshalWire(n.params, resp.Share, &shares[i+1]); err != nil {
				return fmt.Errorf("%w: key-switch share from %s does not decode: %v", ErrBadPeerMessage, p, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out, err := ksw.Switch(sum, shares)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
	}
	outBytes, err := ciphertextToProto(n.params, out)
	if err != nil {
		return nil, err
	}
	log.Info("query answered", "elapsed", time.Since(start).Round(time.Millisecond))
	return &pb.SubmitResponse{
		Ciphertext: outBytes,
		LogScale:   crypto.AggregateLogScale,
		Values:     2,
		ValueNames: []string{"count", "sum(" + q.LocalSums.Column + ")"}, // sum() of no column is 0
		Divisors:   []float64{1, SumDivisor},
		Owners:     n.cfg.Owners(),
		NoiseStd:   []float64{math.Sqrt(noiseVar[0]), math.Sqrt(noiseVar[1])},
		Exact:      q.Exact,
		Epsilon:    q.Epsilon,
		Delta:      q.Delta,
	}, nil
}

// prepare is the data owner's side of Prepare: check, contribute and
// upload. It returns the bytes uploaded and the noise scale of each value.
func (n *Node) prepare(ctx context.Context, q *Query, evaluator string) (uint64, []float64, error) {
	if evaluator == n.cfg.Name {
		return 0, nil, fmt.Errorf("%w: a node does not prepare queries for itself over the network", ErrBadRequest)
	}
	ks, err := n.currentKeys()
	if err != nil {
		return 0, nil, err
	}
	conn, err := n.peer(evaluator)
	if err != nil {
		return 0, nil, err
	}
	ct, noise, err := n.contribute(ctx, ks, q)
	if err != nil {
		return 0, nil, err
	}
	if err := n.queries.prepare(q.ID, evaluator, q.digest); err != nil {
		return 0, nil, err
	}
	b, err := ciphertextToProto(n.params, ct)
	if err != nil {
		return 0, nil, err
	}
	cctx, cancel := n.callCtx(ctx)
	defer cancel()
	stream, err := pb.NewFederationClient(conn).Upload(cctx)
	if err != nil {
		return 0, nil, fromStatus(evaluator, "upload", err)
	}
	for seq, off := 0, 0; ; seq, off = seq+1, off+chunkSize {
		end := min(off+chunkSize, len(b))
		if err := stream.Send(&pb.UploadChunk{QueryId: q.ID, Owner: n.cfg.Name, Object: objectAggregate, Seq: uint32(seq), Data: b[off:end], Last: end == len(b)}); err != nil {
			_, err = stream.CloseAndRecv()
			return 0, nil, fromStatus(evaluator, "upload", err)
		}
		if end == len(b) {
			break
		}
	}
	receipt, err := stream.CloseAndRecv()
	if err != nil {
		return 0, nil, fromStatus(evaluator, "upload", err)
	}
	n.logger.Named("query").Debug("contribution uploaded", "query", q.ID, "evaluator", evaluator, "bytes", receipt.ReceivedBytes)
	return receipt.ReceivedBytes, noise, nil
}

// releaseShare is the data owner's side of ReleaseShare: its flooded share
// of the switch of ct to the querier's key, for a query it prepared.
func (n *Node) releaseShare(q *Query, evaluator string, ct *rlwe.Ciphertext) (mhe.PublicKeySwitchShare, error) {
	ks, err := n.currentKeys()
	if err != nil {
		return mhe.PublicKeySwitchShare{}, err
	}
	if err := n.queries.takePrepared(q.ID, evaluator, q.digest); err != nil {
		return mhe.PublicKeySwitchShare{}, err
	}
	ksw, err := crypto.NewKeySwitch(n.params, crypto.FloodingSigma(n.noiseBound(), crypto.DefaultFloodingBits))
	if err != nil {
		return mhe.PublicKeySwitchShare{}, err
	}
	if err := n.record(audit.Event{Kind: audit.KindRelease, Querier: q.Querier, Purpose: q.Purpose, Epsilon: q.Epsilon, Delta: q.Delta, QueryID: q.ID,
		Detail: map[string]string{"evaluator": evaluator, "kind": q.kind()}}); err != nil {
		return mhe.PublicKeySwitchShare{}, err
	}
	n.logger.Named("query").Info("decryption share released", "query", q.ID, "evaluator", evaluator, "log2_flooding_sigma", fmt.Sprintf("%.1f", math.Log2(ksw.Sigma())))
	return ksw.Share(ks.sk, q.QuerierKey, ct)
}
