package party

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/match"
	"github.com/jointly-dev/jointly/crypto/upload"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// The evaluating owner's side of a joint query: it owns the x columns,
// matches with every y owner, has them upload their encrypted columns,
// evaluates, and runs the two release stages (joint_release.go). With a
// pool, it matches with, receives the upload of, and evaluates a session
// for every pooled owner, then releases the sum of the sessions
// (upload.Pool).

// evaluation is one joint query at the evaluating node, run as steps:
// bounds → admit (every owner checks, nothing is charged) → match →
// compile → charge (every owner charges, once all admitted and the plan is
// known to be feasible) → upload → stage one → stage two → respond. Each step fills in what the next needs. A query
// that fails after its charge is recorded as aborted at this node; the y
// owners record theirs when their part fails or waits too long.
type evaluation struct {
	n     *Node
	log   hclog.Logger
	spec  *pb.QuerySpec // as every owner will see it, filled in step by step
	keys  *keySet
	table *Table
	start time.Time
	phase map[string]float64

	owners   []string             // the y owners
	sets     []string             // the y owners' consent sets for the query's purpose
	current  []*pb.CurrentLayouts // the sessions each y owner can upload over
	query    *Query               // the query as admitted, then as compiled
	charged  bool                 // this node charged the query
	tr       *tracker             // progress of the long phases
	layouts  []*match.Layout
	padded   []int
	compiled *aggregate.Compiled
	state    *jointState
	prepared []*pb.PrepareResponse
	sums     []*upload.Sums
	counts   map[int]float64 // stage one: statistic → noisy count
	minGroup int
	released []int // stage-two products
	results  [][]byte
}

// submitJoint evaluates a joint query at this node and streams the result
// ciphertexts to the querier.
func (n *Node) submitJoint(ctx context.Context, spec *pb.QuerySpec, send func(*pb.JointResultPart) error) (err error) {
	e := &evaluation{n: n, log: n.logger.Named("query").With("query", spec.Id), spec: spec, start: time.Now(), phase: map[string]float64{}, tr: newTracker()}
	stopProgress := sync.OnceFunc(report(e.tr, e.log, func(p Progress) error {
		return send(&pb.JointResultPart{Part: &pb.JointResultPart_Progress{Progress: progressToProto(p)}})
	}))
	defer stopProgress()
	ctx = withTracker(ctx, e.tr)
	defer func() {
		if err != nil && e.charged {
			e.abort(ctx, err)
		}
	}()
	if err := e.bounds(ctx); err != nil {
		return err
	}
	if err := e.reserve(); err != nil {
		return err
	}
	defer n.queries.unreserve(spec.Id)
	// The charge comes after the matching and the compilation: whether the
	// plan is feasible depends on the union size, and a query that cannot
	// run must cost nothing. Neither releases anything to the querier.
	steps := []func(context.Context) error{e.admit, e.match, e.compile, e.charge}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	if err := n.queries.openJoint(e.query.ID, e.state); err != nil {
		return err
	}
	defer n.queries.closeJoint(e.query.ID)
	for _, step := range []func(context.Context) error{e.upload, e.stageOne, e.stageTwo} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	stopProgress() // the last report goes before the header
	return e.respond(send)
}

// bounds checks who the query involves and fills in the bounds of columns
// the querier left at [0, 0].
func (e *evaluation) bounds(ctx context.Context) error {
	var err error
	if e.keys, err = e.n.currentKeys(); err != nil {
		return err
	}
	if e.table, err = e.n.tableFor(e.spec.Purpose); err != nil {
		return err
	}
	if ev := e.spec.Evaluator; ev != "" && ev != e.n.cfg.Name {
		return fmt.Errorf("%w: the query is addressed to %s, and this node is %s: send it to %s", ErrBadRequest, ev, e.n.cfg.Name, ev)
	}
	j := e.spec.GetJoint()
	if j == nil || len(j.X) == 0 || len(j.Y) == 0 {
		return fmt.Errorf("%w: a joint query needs x and y columns", ErrBadRequest)
	}
	j.UnionSize, j.Matches, j.KeyHolders = 0, nil, 0
	asked, err := queryFromProto(e.n.params, e.spec)
	if err != nil {
		return err
	}
	if e.owners, err = e.n.jointOwners(asked.Joint); err != nil {
		return err
	}
	infos, err := e.n.peerInfos(ctx, e.owners)
	if errors.Is(err, ErrNotReady) {
		return fmt.Errorf("%w (an owner of the query; nothing was charged: send the query again once it answers)", err)
	}
	if err != nil {
		return err
	}
	if err := e.n.fillBounds(j, e.table, e.owners, infos); err != nil {
		return err
	}
	if err := e.n.fillProxyChecks(e.spec, e.table, e.owners, infos); err != nil {
		return err
	}
	// From here on e.query is the query every owner admits.
	e.query, err = queryFromProto(e.n.params, e.spec)
	return err
}

// abort records that the charged query stopped, here and, best effort, at
// every y owner (one that does not hear of it records the abort when its
// pending timeout passes).
func (e *evaluation) abort(ctx context.Context, cause error) {
	e.n.abortQuery(e.query.ID, cause)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.n.cfg.RPCTimeout)
	defer cancel()
	reason := abortReason(cause)
	for _, o := range e.owners {
		if err := e.n.tr.Abort(ctx, o, &pb.AbortRequest{QueryId: e.query.ID, Evaluator: e.n.cfg.Name, Reason: reason}); err != nil {
			e.log.Warn("cannot tell an owner that the query stopped", "owner", o, "error", err)
		}
	}
}

// reserve admits the evaluation within the node's limits (open queries
// and their estimated memory) before anything is recorded or charged.
func (e *evaluation) reserve() error {
	q := e.query
	bytes, err := e.n.estimateMemory(q, e.table.Records())
	if err != nil {
		return err
	}
	return e.n.queries.reserve(q.ID, bytes, e.n.cfg.MaxOpenQueries, e.n.cfg.MaxQueryMemory)
}

// admit is the admission round: this owner, then every y owner, checks
// the query against its policy and the querier's budget, and nothing is
// charged. A refusal anywhere costs nothing anywhere.
func (e *evaluation) admit(ctx context.Context) error {
	q := e.query
	if err := e.n.checkOwnColumns(q, e.table); err != nil {
		return err
	}
	if err := checkCompiles(e.n.params, q); err != nil {
		return err
	}
	if err := e.n.admitQuery(q, refNames(q.ownColumns(e.n.cfg.Name))); err != nil {
		return err
	}
	return e.peersAdmit(ctx, false)
}

// charge charges the query at this owner, then at every y owner, once all
// of them admitted it. A y owner may still refuse here (its budget spent
// in between by another query): this node's charge then stands and the
// query is recorded as aborted.
func (e *evaluation) charge(ctx context.Context) error {
	q := e.query
	if err := e.n.chargeQuery(q, refNames(q.ownColumns(e.n.cfg.Name)), e.n.cfg.Name); err != nil {
		return err
	}
	e.charged = true
	return e.peersAdmit(ctx, true)
}

// peersAdmit runs one admission round (check or charge) at every y owner.
// A peer's refusal is recorded here too, with the peer's reason, and
// reaches the querier as the peer's refusal.
func (e *evaluation) peersAdmit(ctx context.Context, charge bool) error {
	sets, current := make([]string, len(e.owners)), make([]*pb.CurrentLayouts, len(e.owners))
	err := forEachPeer(ctx, e.owners, func(ctx context.Context, k int, o string) error {
		r, err := e.n.tr.Admit(ctx, o, &pb.AdmitRequest{Query: e.spec, Evaluator: e.n.cfg.Name, Charge: charge,
			AuditHead: e.n.auditHead(o), Witnessed: e.n.witnessedHead(o)})
		if err != nil {
			return err
		}
		if err := e.n.witnessPeer(o, r.AuditHead); err != nil {
			return err
		}
		if err := e.n.checkOwnHead(o, r.Witnessed); err != nil {
			return err
		}
		sets[k], current[k] = r.ConsentSet, r.Layouts
		return checkConsentSet(o, r.ConsentSet)
	})
	if err == nil && !charge {
		e.sets, e.current = sets, current
	}
	var r *RefusalError
	if errors.As(err, &r) && !charge {
		if rerr := e.n.refuse(e.query, fmt.Sprintf("refused by %s: %s", r.Owner, r.Reason)); !errors.As(rerr, new(*RefusalError)) {
			return rerr
		}
	}
	return err
}

// match runs (or reuses) the matching with every y owner and pads each
// session to its union plus DP noise (aggregate.SessionPadding): the
// querier learns only the padded total, and the upload's size and the
// evaluation's work follow the padded sizes.
func (e *evaluation) match(ctx context.Context) error {
	tMatch := time.Now()
	e.tr.begin(PhaseMatching, unitOps, 0)
	defer e.tr.end()
	j := e.spec.GetJoint()
	e.layouts = make([]*match.Layout, len(e.owners))
	j.Matches = make([]*pb.MatchRef, len(e.owners))
	err := forEachPeer(ctx, e.owners, func(ctx context.Context, k int, o string) error {
		info, layout, err := e.n.layout(ctx, o, e.query.Purpose, consentPair{own: e.n.cfg.Policy.ConsentSet(e.query.Purpose), peer: e.sets[k]}, e.current[k])
		if err != nil {
			return err
		}
		session, _ := hex.DecodeString(info.Session)
		e.layouts[k] = layout
		j.Matches[k] = &pb.MatchRef{Owner: o, Session: session, UnionSize: uint64(layout.UnionSize)}
		return nil
	})
	if err != nil {
		return err
	}
	if time.Since(tMatch) > time.Second/10 {
		e.phase["match"] = time.Since(tMatch).Seconds()
	}
	q := e.query
	sigma, margin, err := aggregate.SessionPadding(q.Epsilon, q.Delta, q.Exact, len(e.owners))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	e.padded = make([]int, len(e.owners))
	for k, l := range e.layouts {
		z, err := e.n.noise(sigma)
		if err != nil {
			return err
		}
		e.padded[k] = aggregate.PaddedSize(l.UnionSize, margin, z)
		j.Matches[k].PaddedSize = uint64(e.padded[k])
		j.UnionSize += uint64(e.padded[k])
	}
	j.KeyHolders = uint32(len(e.n.cfg.Owners()))
	return nil
}

// compile compiles the query as every owner will see it and lays out this
// node's multipliers for every session.
func (e *evaluation) compile(context.Context) error {
	n := e.n
	q, err := queryFromProto(n.params, e.spec)
	if err != nil {
		return err
	}
	if err := n.checkOwnColumns(q, e.table); err != nil {
		return err
	}
	if e.compiled, err = aggregate.Compile(n.params, q.request()); err != nil {
		if errors.Is(err, upload.ErrInfeasible) {
			// The uploaded columns carry the noise that does not fit; the
			// evaluator's own are not uploaded.
			return fmt.Errorf("%w: %v (the columns of the owners other than the evaluator are uploaded and carry this noise: sent to the owner of the widest columns, which then evaluates it, the query may fit)", ErrBadRequest, err)
		}
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	e.query = q
	e.state = &jointState{compiled: e.compiled, keys: e.keys, sessions: map[string]*jointSession{}, progress: e.tr}
	for k, o := range e.owners {
		s := &jointSession{done: make(chan struct{})}
		if s.mult, err = e.compiled.EvaluatorColumns(e.table.Values, e.layouts[k].Rows, e.padded[k]); err != nil {
			return fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		if s.seedE, err = randomSeed(); err != nil {
			return err
		}
		if s.keys, err = n.subsetKeys(e.keys, []string{n.cfg.Name, o}); err != nil {
			return err
		}
		e.state.sessions[o] = s
	}
	e.log.Info("joint query received", "owners", 1+len(e.owners), "padded_union", e.spec.GetJoint().UnionSize, "products", len(e.compiled.Plan().Products()))
	return nil
}

// upload has every y owner check the query and upload its encrypted
// columns, which receiveJoint evaluates as they stream in.
func (e *evaluation) upload(ctx context.Context) error {
	tUpload := time.Now()
	plan := e.compiled.Plan()
	var blocks int64
	for _, p := range e.padded {
		blocks += int64(plan.Blocks(p) * len(plan.Circuit().Columns))
	}
	e.tr.begin(PhaseUpload, unitBlocks, blocks)
	defer e.tr.end()
	e.prepared = make([]*pb.PrepareResponse, len(e.owners))
	e.sums = make([]*upload.Sums, len(e.owners))
	err := forEachPeer(ctx, e.owners, func(ctx context.Context, k int, o string) error {
		s := e.state.sessions[o]
		var err error
		e.prepared[k], err = e.n.tr.Prepare(ctx, o, &pb.PrepareRequest{Query: e.spec, Evaluator: e.n.cfg.Name, Seed: s.seedE})
		if err != nil {
			s.finish(nil, err)
			return err
		}
		e.sums[k], err = s.wait(ctx)
		return err
	})
	if err != nil {
		return err
	}
	e.phase["upload_evaluate"] = time.Since(tUpload).Seconds()
	var uploaded uint64
	for _, r := range e.prepared {
		uploaded += r.UploadedBytes
	}
	e.log.Debug("evaluated", "uploaded_bytes", uploaded, "elapsed", time.Since(e.start))
	return e.n.queries.prepare(e.query, e.n.cfg.Name)
}

// stageOne releases the noisy counts to the owners (shares to the all-zero
// key) and decrypts them.
func (e *evaluation) stageOne(ctx context.Context) error {
	tRelease := time.Now()
	defer func() { e.phase["release"] += time.Since(tRelease).Seconds() }()
	plan := e.compiled.Plan()
	packs, out, err := e.switchPacks(ctx, e.compiled.StageOneProducts(), e.n.zeroKey(), true)
	if err != nil {
		return err
	}
	e.counts = map[int]float64{}
	zero := rlwe.NewDecryptor(e.n.params, rlwe.NewSecretKey(e.n.params))
	for g, pk := range packs {
		pt := zero.DecryptNew(out[g])
		for k, i := range pk.Products {
			var v float64
			if e.query.Exact {
				// The exact count (upload.PlanConfig.Exact), an integer far
				// below 2^53.
				x, err := plan.DecodeProductExactAt(i, pt, pk.Coefficient(k))
				if err != nil {
					return err
				}
				v, _ = new(big.Float).SetInt(x).Float64()
			} else if v, err = plan.DecodeProductAt(i, pt, pk.Coefficient(k)); err != nil {
				return err
			}
			e.counts[plan.Products()[i].Stat] = v
		}
	}
	return nil
}

// stageTwo releases to the querier's key what every owner's
// min_group_size allows.
func (e *evaluation) stageTwo(ctx context.Context) error {
	tRelease := time.Now()
	defer func() { e.phase["release"] += time.Since(tRelease).Seconds() }()
	// This owner's proxy check comes before anything of stage two is
	// released; every other owner with one decides at its own node.
	if err := e.n.proxyCheck(e.query, e.compiled, e.counts); err != nil {
		return err
	}
	e.minGroup = e.n.cfg.Policy.MinGroupSize
	for _, r := range e.prepared {
		e.minGroup = max(e.minGroup, int(r.MinGroupSize))
	}
	for i, ok := range e.compiled.Release(e.counts, e.minGroup) {
		if ok {
			e.released = append(e.released, i)
		}
	}
	defer e.tr.end()
	if len(e.released) == 0 {
		return e.releaseNothing(ctx)
	}
	_, out, err := e.switchPacks(ctx, e.released, e.query.QuerierKey, false)
	if err != nil {
		return err
	}
	for _, ct := range out {
		b, err := crypto.MarshalWire(e.n.params, ct)
		if err != nil {
			return err
		}
		e.results = append(e.results, b)
	}
	return nil
}

// releaseNothing closes a query whose every product the owners'
// min_group_size withholds: each owner records an empty release of the
// result (the querier sees every cell suppressed) and forgets the query.
func (e *evaluation) releaseNothing(ctx context.Context) error {
	n := e.n
	err := forEachPeer(ctx, e.owners, func(ctx context.Context, _ int, o string) error {
		_, err := n.fetchShares(ctx, o, e.spec, nil, nil, false, e.counts)
		return err
	})
	if err != nil {
		return err
	}
	_, err = n.releaseOwnShares(e.query, n.cfg.Name, e.compiled, nil, nil, e.query.QuerierKey, false)
	return err
}

// respond streams the header and the result packs to the querier.
func (e *evaluation) respond(send func(*pb.JointResultPart) error) error {
	header := jointHeaderToProto(e)
	if err := send(&pb.JointResultPart{Part: &pb.JointResultPart_Header{Header: header}}); err != nil {
		return err
	}
	for _, b := range e.results {
		if err := send(&pb.JointResultPart{Part: &pb.JointResultPart_Ciphertext{Ciphertext: b}}); err != nil {
			return err
		}
	}
	e.log.Info("joint query answered", "elapsed", time.Since(e.start).Round(time.Millisecond))
	return nil
}

// peerInfos asks every y owner for its Info, once per query: what it
// declares of its columns (fillBounds) and of its policy (fillProxyChecks).
func (n *Node) peerInfos(ctx context.Context, owners []string) ([]*pb.InfoResponse, error) {
	infos := make([]*pb.InfoResponse, len(owners))
	err := forEachPeer(ctx, owners, func(ctx context.Context, k int, peer string) error {
		info, err := n.tr.Info(ctx, peer)
		infos[k] = info
		return err
	})
	return infos, err
}

// fillBounds fills in what the owners declare of the query's columns: the
// bounds and step of a column the querier left at [0, 0], and the levels and unit
// of a column it sent without (a querier sends none). The evaluator's own
// come from its table, the y owners' from their Info (infos, in the order
// of owners); pooled owners must declare the same. Each owner checks its
// own columns (checkOwnColumns).
func (n *Node) fillBounds(spec *pb.JointQuery, t *Table, owners []string, infos []*pb.InfoResponse) error {
	for _, c := range spec.X {
		if c.Lo == 0 && c.Hi == 0 {
			lo, hi, ok := t.ColumnBounds(c.Name)
			if !ok {
				return fmt.Errorf("%w %q at %s (offered: %v)", ErrUnknownColumn, c.Name, n.cfg.Name, t.Columns())
			}
			c.Lo, c.Hi, c.Step = lo, hi, t.ColumnStep(c.Name)
		}
		if len(c.Levels) == 0 && c.Unit == "" {
			c.Levels, c.Unit = slices.Clone(t.ColumnLevels(c.Name)), t.ColumnUnit(c.Name)
		}
	}
	need := false
	for _, c := range spec.Y {
		need = need || (c.Lo == 0 && c.Hi == 0) || (len(c.Levels) == 0 && c.Unit == "")
	}
	if !need {
		return nil
	}
	declared := make([]map[string]*pb.ColumnRef, len(owners))
	levels := make([]map[string][]string, len(owners))
	for k, info := range infos {
		declared[k], levels[k] = map[string]*pb.ColumnRef{}, map[string][]string{}
		for _, ci := range info.ColumnInfo {
			declared[k][ci.Name] = ci
		}
		for _, cc := range info.Categorical {
			levels[k][cc.Name] = cc.Levels
		}
	}
	for _, c := range spec.Y {
		bounds, meta := c.Lo == 0 && c.Hi == 0, len(c.Levels) == 0 && c.Unit == ""
		if !bounds && !meta {
			continue
		}
		for k, peer := range owners {
			ci, ok := declared[k][c.Name]
			if !ok {
				names := make([]string, 0, len(declared[k]))
				for name := range declared[k] {
					names = append(names, name)
				}
				slices.Sort(names)
				return fmt.Errorf("%w %q at %s (offered: %v)", ErrUnknownColumn, c.Name, peer, names)
			}
			lv := levels[k][c.Name]
			switch {
			case k == 0:
				if bounds {
					c.Lo, c.Hi, c.Step = ci.Lo, ci.Hi, ci.Step
				}
				if meta {
					c.Levels, c.Unit = slices.Clone(lv), ci.Unit
				}
			case bounds && (ci.Lo != c.Lo || ci.Hi != c.Hi || ci.Step != c.Step):
				return fmt.Errorf("%w: pooled column %q is declared with bounds [%g, %g] and step %g at %s and [%g, %g] and step %g at %s; pooled owners must agree",
					ErrBadRequest, c.Name, c.Lo, c.Hi, c.Step, owners[0], ci.Lo, ci.Hi, ci.Step, peer)
			case meta && (!slices.Equal(lv, c.Levels) || ci.Unit != c.Unit):
				return fmt.Errorf("%w: pooled column %q is declared with other levels or another unit at %s than at %s; pooled owners must agree",
					ErrBadRequest, c.Name, peer, owners[0])
			}
		}
	}
	return nil
}

// receiveJoint is the evaluator's side of a joint upload: it creates the
// evaluator once the uploader's seed arrives and feeds it the blocks as
// they stream in, with bounded memory.
func (n *Node) receiveJoint(stream pb.Federation_UploadServer, first *pb.UploadChunk, st *jointState) (_ uint64, err error) {
	sess, ok := st.sessions[first.Owner]
	if !ok {
		return 0, fmt.Errorf("%w: %q uploads for a query it is not a y owner of", ErrUnknownParty, first.Owner)
	}
	if err := n.authenticate(stream.Context(), first.Owner); err != nil {
		return 0, err
	}
	if first.Object != pb.UploadObject_UPLOAD_OBJECT_SEED || len(first.Data) != upload.SeedSize || first.Seq != 0 {
		return 0, fmt.Errorf("%w: a joint upload starts with the owner's seed", ErrBadPeerMessage)
	}
	if err := sess.start(); err != nil {
		return 0, err
	}
	// From here on the session is this stream's: its failure is the
	// session's, and the evaluator waiting on it hears of it.
	defer func() {
		if err != nil {
			sess.finish(nil, err)
		}
	}()
	plan := st.compiled.Plan()
	ev, err := upload.NewEvaluator(plan, st.keys.sk, sess.keys.pk, sess.keys.evk, uploadSeed(first.QueryId, sess.seedE, first.Data), sess.mult)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	blocks := make(chan *upload.Block, 64)
	type result struct {
		sums *upload.Sums
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		sums, err := ev.Evaluate(ctx, blocks, 0)
		resc <- result{sums, err}
	}()
	closed := false
	closeBlocks := func() {
		if !closed {
			close(blocks)
			closed = true
		}
	}
	defer closeBlocks()
	received := uint64(len(first.Data))
	next := uint32(1)
	for done := false; !done; {
		c, err := stream.Recv()
		if err == io.EOF {
			return 0, fmt.Errorf("%w: upload ended before its last chunk", ErrBadPeerMessage)
		}
		if err != nil {
			return 0, err
		}
		if c.Seq != next || c.QueryId != first.QueryId || c.Owner != first.Owner {
			return 0, fmt.Errorf("%w: upload chunk %d out of order or with a changed header", ErrBadPeerMessage, c.Seq)
		}
		next++
		received += uint64(len(c.Data))
		if c.Object != pb.UploadObject_UPLOAD_OBJECT_BLOCK || len(c.Data) > upload.MaxBlockBytes {
			return 0, fmt.Errorf("%w: chunk %d is not an upload block or is too large", ErrBadPeerMessage, c.Seq)
		}
		blk := new(upload.Block)
		if err := blk.UnmarshalBinary(c.Data); err != nil {
			return 0, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
		}
		select {
		case blocks <- blk:
			st.progress.add(1)
		case r := <-resc:
			return 0, fmt.Errorf("%w: evaluation stopped: %v", ErrBadPeerMessage, r.err)
		}
		done = c.Last
	}
	closeBlocks()
	r := <-resc
	if r.err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadPeerMessage, r.err)
	}
	sess.finish(r.sums, nil)
	return received, nil
}
