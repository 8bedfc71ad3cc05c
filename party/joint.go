package party

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"

	"github.com/jointly-dev/jointly/aggregate"
	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/crypto/match"
	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/ledger"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// Joint queries (DESIGN.md section 3, items 3 to 5): the evaluating owner E
// holds the query's x columns in plaintext; the other owner U lays out its
// y columns in the union order of their matching layout, encrypts them with
// the compact seeded upload and streams them to E. E multiplies and sums
// one ciphertext per product of the plan, under the keys of E and U alone
// (subsetKeys). For each release stage it packs the products released into
// one ciphertext per level (traced, re-randomized), and both owners release
// flooded key-switch shares of every pack to the target key, each owner
// adding its own DP noise to its own share: the noise cannot be left out by
// anyone else, and it costs no upload and no ciphertext noise. A pool of y
// owners with disjoint customers runs one such session per owner and
// releases their sum (aggregate.Pool), with every pooled owner's share.

// ErrStale is returned when an owner's matching layout no longer matches the
// one the evaluator used: the data changed, and matching must run again.
var ErrStale = errors.New("party: matching layout is stale")

const (
	objectSeed  = "seed"
	objectBlock = "block"
)

// jointState is an open joint query at the evaluating node: one session
// per y owner, all under the same compiled plan.
type jointState struct {
	compiled *aggregate.Compiled
	keys     *keySet
	sessions map[string]*jointSession
}

// jointSession is the evaluation of one y owner's upload.
type jointSession struct {
	mult  [][]int64
	seedE []byte
	keys  *pairKeys // the keys of the evaluator and this owner

	mu      sync.Mutex
	started bool
	sums    *aggregate.Sums
	err     error
	done    chan struct{}
}

// start claims the session for one upload stream.
func (s *jointSession) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return fmt.Errorf("%w: a second upload for the same query", ErrBadPeerMessage)
	}
	s.started = true
	return nil
}

func (s *jointSession) finish(sums *aggregate.Sums, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return
	default:
	}
	s.sums, s.err = sums, err
	close(s.done)
}

// wait returns the session's sums once its upload is evaluated.
func (s *jointSession) wait(ctx context.Context) (*aggregate.Sums, error) {
	select {
	case <-s.done:
		return s.sums, s.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// uploadSeed combines both owners' contributions into the upload session
// seed: the common polynomials a_j are uniform as long as one side's
// contribution is, and fresh for every query.
func uploadSeed(queryID string, seedE, seedU []byte) []byte {
	h := sha256.New()
	h.Write([]byte("jointly/upload-seed/v1\x00"))
	h.Write([]byte(queryID))
	h.Write([]byte{0})
	h.Write(seedE)
	h.Write(seedU)
	return h.Sum(nil)
}

func randomSeed() ([]byte, error) {
	b := make([]byte, aggregate.SeedSize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("party: seed: %w", err)
	}
	return b, nil
}

// productLevel is the ciphertext level of product i of a plan.
func productLevel(plan *aggregate.Plan, i int) int {
	return plan.Column(plan.Products()[i].Column).Level
}

// table returns the node's data as a Table (joint queries need join keys
// and per-record columns).
func (n *Node) table() (*Table, error) {
	t, ok := n.data.(*Table)
	if !ok {
		return nil, fmt.Errorf("%w: this node's data has no per-record table", ErrNoKeys)
	}
	return t, nil
}

// checkOwnColumns verifies that the query names this node's columns with
// the bounds this node declares, and that none is excluded.
func (n *Node) checkOwnColumns(q *Query, t *Table) error {
	for _, c := range q.ownColumns(n.cfg.Name) {
		lo, hi, ok := t.ColumnBounds(c.Ref.Name)
		if _, has := t.Values[c.Ref.Name]; !has || !ok {
			return fmt.Errorf("%w %q at %s (offered: %v)", ErrUnknownColumn, c.Ref.Name, n.cfg.Name, t.Columns())
		}
		if lo != c.Lo || hi != c.Hi {
			return fmt.Errorf("%w: column %s.%s is declared with bounds [%g, %g], the query says [%g, %g]", ErrBadRequest, n.cfg.Name, c.Ref.Name, lo, hi, c.Lo, c.Hi)
		}
	}
	return nil
}

// fillBounds sets the bounds of columns the querier left at [0, 0]: the
// evaluator's own from its table, the y owners' from their Info. Pooled
// owners must declare the same bounds.
func (n *Node) fillBounds(ctx context.Context, spec *pb.JointQuery, t *Table, owners []string) error {
	for _, c := range spec.X {
		if c.Lo != 0 || c.Hi != 0 {
			continue
		}
		lo, hi, ok := t.ColumnBounds(c.Name)
		if !ok {
			return fmt.Errorf("%w %q at %s (offered: %v)", ErrUnknownColumn, c.Name, n.cfg.Name, t.Columns())
		}
		c.Lo, c.Hi = lo, hi
	}
	need := false
	for _, c := range spec.Y {
		need = need || (c.Lo == 0 && c.Hi == 0)
	}
	if !need {
		return nil
	}
	declared := make([]map[string]*pb.ColumnRef, len(owners))
	g, gctx := errgroup.WithContext(ctx)
	for k, peer := range owners {
		g.Go(func() error {
			conn, err := n.peer(peer)
			if err != nil {
				return err
			}
			cctx, cancel := n.callCtx(gctx)
			defer cancel()
			info, err := pb.NewQueryClient(conn).Info(cctx, &pb.InfoRequest{})
			if err != nil {
				return fromStatus(peer, "info", err)
			}
			declared[k] = map[string]*pb.ColumnRef{}
			for _, ci := range info.ColumnInfo {
				declared[k][ci.Name] = ci
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, c := range spec.Y {
		if c.Lo != 0 || c.Hi != 0 {
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
			if k == 0 {
				c.Lo, c.Hi = ci.Lo, ci.Hi
			} else if ci.Lo != c.Lo || ci.Hi != c.Hi {
				return fmt.Errorf("%w: pooled column %q is declared with bounds [%g, %g] at %s and [%g, %g] at %s; pooled owners must agree",
					ErrBadRequest, c.Name, c.Lo, c.Hi, owners[0], ci.Lo, ci.Hi, peer)
			}
		}
	}
	return nil
}

// jointOwners checks who a joint query involves: the x columns must be
// this node's, the y columns one other owner's or a pool's, every y owner
// a peer.
func (n *Node) jointOwners(j *JointQuery) ([]string, error) {
	for _, c := range j.X {
		if c.Ref.Owner != n.cfg.Name {
			return nil, fmt.Errorf("%w: x column %s is not this node's; submit the query to the owner of the x columns", ErrBadRequest, c.Ref)
		}
	}
	for _, c := range j.Y {
		if c.Ref.Owner != j.Y[0].Ref.Owner {
			return nil, fmt.Errorf("%w: y columns must all belong to one other owner or one pool (%s and %s given)", ErrBadRequest, j.Y[0].Ref.Owner, c.Ref.Owner)
		}
	}
	owners := j.yOwners()
	for _, o := range owners {
		if _, ok := n.cfg.peerAddress(o); !ok {
			return nil, fmt.Errorf("%w: %q is not another data owner of this federation (owners: %v)", ErrUnknownParty, o, n.cfg.Owners())
		}
	}
	return owners, nil
}

// submitJoint evaluates a joint query at this node and streams the result
// ciphertexts to the querier. With a pool, the evaluator matches with,
// receives the upload of, and evaluates a session for every pooled owner,
// then releases the sum of the sessions (aggregate.Pool).
func (n *Node) submitJoint(ctx context.Context, spec *pb.QuerySpec, send func(*pb.JointResultPart) error) error {
	log := n.logger.Named("query").With("query", spec.Id)
	ks, err := n.currentKeys()
	if err != nil {
		return err
	}
	t, err := n.table()
	if err != nil {
		return err
	}
	j := spec.GetJoint()
	if j == nil || len(j.X) == 0 || len(j.Y) == 0 {
		return fmt.Errorf("%w: a joint query needs x and y columns", ErrBadRequest)
	}
	j.UnionSize, j.Matches, j.KeyHolders = 0, nil, 0
	asked, err := queryFromProto(n.params, spec)
	if err != nil {
		return err
	}
	owners, err := n.jointOwners(asked.Joint)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := n.fillBounds(ctx, j, t, owners); err != nil {
		return err
	}
	// Policy and budget first: a refused query costs nothing more.
	q0, err := queryFromProto(n.params, spec)
	if err != nil {
		return err
	}
	if err := n.checkOwnColumns(q0, t); err != nil {
		return err
	}
	// Validate the query before charging for it; the plan's feasibility
	// depends on the union size, known only after matching.
	probe := q0.request()
	probe.MaxRecords = 1
	if _, err := aggregate.Compile(n.params, probe); err != nil && !errors.Is(err, aggregate.ErrInfeasible) {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := n.admit(q0, refNames(q0.ownColumns(n.cfg.Name))); err != nil {
		return err
	}
	// Matching with every y owner, then the query as every owner will see it.
	phase := map[string]float64{}
	tMatch := time.Now()
	layouts := make([]*match.Layout, len(owners))
	j.Matches = make([]*pb.MatchRef, len(owners))
	g, gctx := errgroup.WithContext(ctx)
	for k, o := range owners {
		g.Go(func() error {
			info, layout, err := n.Layout(gctx, o)
			if err != nil {
				return err
			}
			session, _ := hex.DecodeString(info.Session)
			layouts[k] = layout
			j.Matches[k] = &pb.MatchRef{Owner: o, Session: session, UnionSize: uint64(layout.UnionSize)}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if time.Since(tMatch) > time.Second/10 {
		phase["match"] = time.Since(tMatch).Seconds()
	}
	// Each session is padded to its union plus DP noise (aggregate
	// SessionPadding): the querier learns only the padded total, and the
	// upload's size and the evaluation's work follow the padded sizes.
	sigma, margin, err := aggregate.SessionPadding(q0.Epsilon, q0.Delta, q0.Exact, len(owners))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	padded := make([]int, len(owners))
	for k, l := range layouts {
		z, err := n.noise(sigma)
		if err != nil {
			return err
		}
		padded[k] = aggregate.PaddedSize(l.UnionSize, margin, z)
		j.Matches[k].PaddedSize = uint64(padded[k])
		j.UnionSize += uint64(padded[k])
	}
	j.KeyHolders = uint32(len(n.cfg.Owners()))
	q, err := queryFromProto(n.params, spec)
	if err != nil {
		return err
	}
	if err := n.checkOwnColumns(q, t); err != nil {
		return err
	}
	compiled, err := aggregate.Compile(n.params, q.request())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	st := &jointState{compiled: compiled, keys: ks, sessions: map[string]*jointSession{}}
	for k, o := range owners {
		s := &jointSession{done: make(chan struct{})}
		if s.mult, err = compiled.EvaluatorColumns(t.Values, layouts[k].Rows, padded[k]); err != nil {
			return fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		if s.seedE, err = randomSeed(); err != nil {
			return err
		}
		if s.keys, err = n.subsetKeys(ks, []string{n.cfg.Name, o}); err != nil {
			return err
		}
		st.sessions[o] = s
	}
	if err := n.queries.openJoint(q.ID, st); err != nil {
		return err
	}
	defer n.queries.closeQuery(q.ID)
	log.Info("joint query received", "owners", 1+len(owners), "union", j.UnionSize, "products", len(compiled.Plan().Products()))

	// Every y owner checks the query, then uploads its encrypted columns.
	tUpload := time.Now()
	resps := make([]*pb.PrepareResponse, len(owners))
	sessions := make([]*aggregate.Sums, len(owners))
	g, gctx = errgroup.WithContext(ctx)
	for k, o := range owners {
		g.Go(func() error {
			s := st.sessions[o]
			conn, err := n.peer(o)
			if err != nil {
				return err
			}
			pctx, cancel := context.WithTimeout(gctx, n.cfg.MatchTimeout)
			resps[k], err = pb.NewFederationClient(conn).Prepare(pctx, &pb.PrepareRequest{Query: spec, Evaluator: n.cfg.Name, Seed: s.seedE})
			cancel()
			if err != nil {
				s.finish(nil, err)
				return fromStatus(o, "prepare", err)
			}
			sessions[k], err = s.wait(gctx)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	phase["upload_evaluate"] = time.Since(tUpload).Seconds()
	tRelease := time.Now()
	var uploaded uint64
	for _, r := range resps {
		uploaded += r.UploadedBytes
	}
	log.Debug("evaluated", "uploaded_bytes", uploaded, "elapsed", time.Since(start))
	if err := n.queries.prepare(q.ID, n.cfg.Name, q.digest); err != nil {
		return err
	}

	// Stage one: the noisy counts, decrypted for the owners.
	plan := compiled.Plan()
	one := compiled.StageOneProducts()
	onePacks, oneOut, err := n.switchJoint(ctx, q, spec, compiled, sessions, owners, one, n.zeroKey(), true, nil)
	if err != nil {
		return err
	}
	counts := map[int]float64{}
	zero := rlwe.NewDecryptor(n.params, rlwe.NewSecretKey(n.params))
	for g, pk := range onePacks {
		pt := zero.DecryptNew(oneOut[g])
		for k, i := range pk.Products {
			v, err := plan.DecodeProductAt(i, pt, pk.Coefficient(k))
			if err != nil {
				return err
			}
			counts[plan.Products()[i].Stat] = v
		}
	}

	// Stage two: what every owner's min_group_size allows, to the querier.
	k := n.cfg.Policy.MinGroupSize
	for _, r := range resps {
		k = max(k, int(r.MinGroupSize))
	}
	release := compiled.Release(counts, k)
	var two []int
	for i, ok := range release {
		if ok {
			two = append(two, i)
		}
	}
	var outs [][]byte
	if len(two) > 0 {
		_, twoOut, err := n.switchJoint(ctx, q, spec, compiled, sessions, owners, two, q.QuerierKey, false, counts)
		if err != nil {
			return err
		}
		for _, ct := range twoOut {
			b, err := crypto.MarshalWire(n.params, ct)
			if err != nil {
				return err
			}
			outs = append(outs, b)
		}
	}
	phase["release"] = time.Since(tRelease).Seconds()
	// The querier gets the query without the matchings: their union sizes
	// and sessions are the owners' (the padded total is the querier's).
	asEvaluated := proto.Clone(spec).(*pb.QuerySpec)
	asEvaluated.GetJoint().Matches = nil
	header := &pb.JointHeader{
		Query: asEvaluated, Products: uint32(len(plan.Products())), Owners: append([]string{n.cfg.Name}, owners...), MinGroupSize: uint32(k),
		PhaseSeconds: phase, UploadedBytes: uploaded, UploadedColumns: uint32(len(compiled.Circuit().Columns)),
	}
	for s, v := range counts {
		header.CountStats = append(header.CountStats, uint32(s))
		header.CountValues = append(header.CountValues, v)
	}
	for _, i := range two {
		header.ReleasedProducts = append(header.ReleasedProducts, uint32(i))
	}
	own := n.gov.ledger.Remaining(q.Querier)
	header.EpsilonLeft = map[string]float64{n.cfg.Name: own.Epsilon}
	header.DeltaLeft = map[string]float64{n.cfg.Name: own.Delta}
	for k, o := range owners {
		header.EpsilonLeft[o], header.DeltaLeft[o] = resps[k].EpsilonLeft, resps[k].DeltaLeft
	}
	if err := send(&pb.JointResultPart{Part: &pb.JointResultPart_Header{Header: header}}); err != nil {
		return err
	}
	for _, b := range outs {
		if err := send(&pb.JointResultPart{Part: &pb.JointResultPart_Ciphertext{Ciphertext: b}}); err != nil {
			return err
		}
	}
	log.Info("joint query answered", "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}

// switchJoint packs products idx of every session (Sums.Pack under the
// session's keys), pools the packs, and key-switches them to target: every
// y owner's shares on its own view (fetched in parallel), this node's on
// the evaluator's view, combined with c0. It returns the switched packs.
func (n *Node) switchJoint(ctx context.Context, q *Query, spec *pb.QuerySpec, compiled *aggregate.Compiled, sessions []*aggregate.Sums, owners []string, idx []int, target *rlwe.PublicKey, stageOne bool, counts map[int]float64) ([]*aggregate.Packed, []*rlwe.Ciphertext, error) {
	packed := make([][]*aggregate.Packed, len(sessions))
	for k, s := range sessions {
		var err error
		if packed[k], err = s.Pack(ctx, idx); err != nil {
			return nil, nil, err
		}
	}
	pool, err := aggregate.NewPool(compiled.Plan(), packed...)
	if err != nil {
		return nil, nil, err
	}
	packs := pool.Packs()
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
	peerShares := make([][]mhe.PublicKeySwitchShare, len(owners))
	g, gctx := errgroup.WithContext(ctx)
	for k, o := range owners {
		g.Go(func() error {
			var err error
			peerShares[k], err = n.fetchJointShares(gctx, o, spec, view(k), packs, stageOne, counts)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	cts := view(-1)
	own, err := n.releaseOwnShares(q, n.cfg.Name, compiled, cts, productsOf(packs), target, stageOne)
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
		for k := range owners {
			shares = append(shares, peerShares[k][m])
		}
		if out[m], err = combiner.Switch(cts[m], shares); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
		}
	}
	return packs, out, nil
}

// productsOf lists the products of each pack.
func productsOf(packs []*aggregate.Packed) [][]int {
	out := make([][]int, len(packs))
	for g, pk := range packs {
		out[g] = pk.Products
	}
	return out
}

func refNames(cols []aggregate.ColumnInfo) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Ref.Name
	}
	return out
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

// zeroKey is the public key of the all-zero secret: switching to it
// decrypts, for whoever combines every owner's shares.
func (n *Node) zeroKey() *rlwe.PublicKey { return rlwe.NewPublicKey(n.params) }

// fetchJointShares asks another owner for its shares of packs (its views
// cts) over ReleaseShares.
func (n *Node) fetchJointShares(ctx context.Context, peer string, spec *pb.QuerySpec, cts []*rlwe.Ciphertext, packs []*aggregate.Packed, stageOne bool, counts map[int]float64) ([]mhe.PublicKeySwitchShare, error) {
	conn, err := n.peer(peer)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, n.cfg.MatchTimeout)
	defer cancel()
	stream, err := pb.NewFederationClient(conn).ReleaseShares(cctx)
	if err != nil {
		return nil, fromStatus(peer, "release", err)
	}
	errc := make(chan error, 1)
	go func() {
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
				for s, v := range counts {
					req.CountStats = append(req.CountStats, uint32(s))
					req.CountValues = append(req.CountValues, v)
				}
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
			return nil, fromStatus(peer, "release", err)
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

// prepareJoint is the uploading owner's side of a joint query.
func (n *Node) prepareJoint(ctx context.Context, q *Query, evaluator string, seedE []byte) (uint64, error) {
	log := n.logger.Named("query").With("query", q.ID, "evaluator", evaluator)
	ks, err := n.currentKeys()
	if err != nil {
		return 0, err
	}
	t, err := n.table()
	if err != nil {
		return 0, err
	}
	for _, c := range q.Joint.X {
		if c.Ref.Owner != evaluator {
			return 0, fmt.Errorf("%w: x column %s is not the evaluator's", ErrBadRequest, c.Ref)
		}
	}
	yName := n.cfg.Name
	if p := q.Joint.Pool; p != nil {
		if !slices.Contains(p.Owners, n.cfg.Name) {
			return 0, fmt.Errorf("%w: %s is not an owner of pool %q", ErrBadRequest, n.cfg.Name, p.Name)
		}
		yName = p.Name
	}
	for _, c := range q.Joint.Y {
		if c.Ref.Owner != yName {
			return 0, fmt.Errorf("%w: y column %s is not this node's", ErrBadRequest, c.Ref)
		}
	}
	if q.Joint.KeyHolders != len(n.cfg.Owners()) {
		return 0, fmt.Errorf("%w: the query counts %d key holders, this federation has %d", ErrBadRequest, q.Joint.KeyHolders, len(n.cfg.Owners()))
	}
	own, ok := q.Joint.match(n.cfg.Name)
	if !ok {
		return 0, fmt.Errorf("%w: the query names no matching of %s with %s", ErrBadRequest, n.cfg.Name, evaluator)
	}
	if len(seedE) != aggregate.SeedSize {
		return 0, fmt.Errorf("%w: upload seed of %d bytes", ErrBadRequest, len(seedE))
	}
	if err := n.checkOwnColumns(q, t); err != nil {
		return 0, err
	}
	// The layout both sides use must be this node's current one.
	info, layout, err := n.cachedLayout(evaluator)
	_, digest, kerr := n.joinKeys(ctx)
	if err != nil || kerr != nil || info.Session != hex.EncodeToString(own.Session) || info.Digest != hex.EncodeToString(digest) || layout.UnionSize != own.UnionSize {
		return 0, fmt.Errorf("%w: %s has no current layout for matching session %x", ErrStale, n.cfg.Name, own.Session)
	}
	_, margin, err := aggregate.SessionPadding(q.Epsilon, q.Delta, q.Exact, len(q.Joint.yOwners()))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := aggregate.CheckPadded(layout.UnionSize, own.PaddedSize, margin); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	compiled, err := aggregate.Compile(n.params, q.request())
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := n.admit(q, refNames(q.ownColumns(n.cfg.Name))); err != nil {
		return 0, err
	}
	cols, err := compiled.UploaderColumns(t.Values, layout.Rows, own.PaddedSize)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	seedU, err := randomSeed()
	if err != nil {
		return 0, err
	}
	up, err := aggregate.NewUploader(compiled.Plan(), ks.sk, uploadSeed(q.ID, seedE, seedU))
	if err != nil {
		return 0, err
	}
	conn, err := n.peer(evaluator)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, n.cfg.MatchTimeout)
	defer cancel()
	stream, err := pb.NewFederationClient(conn).Upload(cctx)
	if err != nil {
		return 0, fromStatus(evaluator, "upload", err)
	}
	seq := uint32(0)
	send := func(object string, data []byte, last bool) error {
		err := stream.Send(&pb.UploadChunk{QueryId: q.ID, Owner: n.cfg.Name, Object: object, Seq: seq, Data: data, Last: last})
		seq++
		if err != nil {
			_, err = stream.CloseAndRecv()
			return fromStatus(evaluator, "upload", err)
		}
		return nil
	}
	if err := send(objectSeed, seedU, false); err != nil {
		return 0, err
	}
	// Blocks in block-major order, so the evaluator encodes each block of
	// its multipliers once.
	N := n.params.N()
	blocks := compiled.Plan().Blocks(own.PaddedSize)
	var blk aggregate.Block
	var buf []byte
	nextReport := time.Now().Add(10 * time.Second)
	for b := 0; b < blocks; b++ {
		if time.Now().After(nextReport) {
			log.Info("uploading", "blocks_done", b, "blocks", blocks, "elapsed", time.Since(start).Round(time.Second))
			nextReport = time.Now().Add(10 * time.Second)
		}
		for c := range cols {
			lo, hi := b*N, min((b+1)*N, len(cols[c]))
			if err := up.EncryptBlock(c, b, cols[c][lo:hi], &blk); err != nil {
				return 0, err
			}
			if buf, err = blk.AppendBinary(buf[:0]); err != nil {
				return 0, err
			}
			if err := send(objectBlock, buf, b == blocks-1 && c == len(cols)-1); err != nil {
				return 0, err
			}
		}
	}
	receipt, err := stream.CloseAndRecv()
	if err != nil {
		return 0, fromStatus(evaluator, "upload", err)
	}
	if err := n.queries.prepare(q.ID, evaluator, q.digest); err != nil {
		return 0, err
	}
	log.Info("columns uploaded", "bytes", receipt.ReceivedBytes, "records", own.PaddedSize, "columns", len(cols),
		"bytes_per_record_column", fmt.Sprintf("%.2f", float64(receipt.ReceivedBytes)/float64(own.PaddedSize*max(len(cols), 1))),
		"elapsed", time.Since(start).Round(time.Millisecond))
	return receipt.ReceivedBytes, nil
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
	if first.Object != objectSeed || len(first.Data) != aggregate.SeedSize || first.Seq != 0 {
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
	ev, err := aggregate.NewEvaluator(plan, st.keys.sk, sess.keys.pk, sess.keys.evk, uploadSeed(first.QueryId, sess.seedE, first.Data), sess.mult)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	blocks := make(chan *aggregate.Block, 64)
	type result struct {
		sums *aggregate.Sums
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
		if c.Object != objectBlock || len(c.Data) > aggregate.MaxBlockBytes {
			return 0, fmt.Errorf("%w: chunk %d is not an upload block or is too large", ErrBadPeerMessage, c.Seq)
		}
		blk := new(aggregate.Block)
		if err := blk.UnmarshalBinary(c.Data); err != nil {
			return 0, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
		}
		select {
		case blocks <- blk:
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

// serveReleaseShares is the owner's side of ReleaseShares: stage one (the
// noisy counts, to the all-zero key) or stage two (to the querier, only
// products whose gating count reaches this owner's min_group_size).
func (n *Node) serveReleaseShares(stream pb.Federation_ReleaseSharesServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if _, ok := n.cfg.peerAddress(first.Evaluator); !ok {
		return fmt.Errorf("%w: evaluator %q", ErrUnknownParty, first.Evaluator)
	}
	if err := n.authenticate(stream.Context(), first.Evaluator); err != nil {
		return err
	}
	q, err := queryFromProto(n.params, first.Query)
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
		if len(first.CountStats) != len(first.CountValues) {
			return fmt.Errorf("%w: malformed stage-one counts", ErrBadPeerMessage)
		}
		counts := map[int]float64{}
		for k, s := range first.CountStats {
			counts[int(s)] = first.CountValues[k]
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
	for req := first; req != nil; {
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

// JointRequest is a querier's joint query.
type JointRequest struct {
	// X are columns of the node the query is sent to, Y of the other owner
	// (or of Pool, with the pool's name as their owner), as owner.column
	// references; bounds are filled in by the nodes.
	X, Y          []aggregate.ColumnRef
	Pool          *Pool
	Correlations  bool
	Rates         []aggregate.RateRequest
	Regressions   []aggregate.RegressionRequest
	Contingencies []aggregate.ContingencyRequest
	Purpose       string
	Epsilon       float64
	Delta         float64
	Exact         bool
	Querier       string
}

// JointResult is a decrypted joint query.
type JointResult struct {
	// Phases is the wall time of each phase at the evaluating node
	// ("match", "upload_evaluate", "release"); UploadedBytes and
	// UploadedColumns describe the encrypted upload.
	Phases          map[string]time.Duration
	UploadedBytes   int64
	UploadedColumns int
	// Products is the number of products of the plan, Withheld how many of
	// them stayed encrypted in stage two because their gating count was
	// below MinGroupSize.
	Products, Withheld int
	Cells              []aggregate.Cell
	Owners             []string
	// BudgetLeft is the querier's privacy budget left at each owner once
	// this query was charged.
	BudgetLeft map[string]ledger.Budget
	// UnionSize is the plan's bound on the records: the union size padded
	// with DP noise (aggregate.SessionPadding), or the union size itself in
	// exact mode.
	UnionSize    int
	MinGroupSize int
	Exact        bool
	Epsilon      float64
	Delta        float64
}

func refsToProto(refs []aggregate.ColumnRef) []*pb.ColumnRef {
	out := make([]*pb.ColumnRef, len(refs))
	for i, r := range refs {
		out[i] = &pb.ColumnRef{Owner: r.Owner, Name: r.Name}
	}
	return out
}

// Joint runs a joint query through the node and decrypts the result.
func (c *Client) Joint(ctx context.Context, r JointRequest) (*JointResult, error) {
	qs, err := c.newSession(ctx)
	if err != nil {
		return nil, err
	}
	info, params, sk, pkBytes, id := qs.info, qs.params, qs.sk, qs.pk, qs.id
	jq := &pb.JointQuery{X: refsToProto(r.X), Y: refsToProto(r.Y), Correlations: r.Correlations}
	if r.Pool != nil {
		jq.Pool = &pb.Pool{Name: r.Pool.Name, Owners: r.Pool.Owners}
	}
	one := func(r aggregate.ColumnRef) *pb.ColumnRef { return refsToProto([]aggregate.ColumnRef{r})[0] }
	for _, rate := range r.Rates {
		jq.Rates = append(jq.Rates, &pb.RateSpec{Events: one(rate.Events), Exposure: one(rate.Exposure), By: one(rate.By), Edges: rate.Edges})
	}
	for _, reg := range r.Regressions {
		jq.Regressions = append(jq.Regressions, &pb.RegressionSpec{Outcome: one(reg.Outcome), Predictors: refsToProto(reg.Predictors)})
	}
	for _, ct := range r.Contingencies {
		jq.Contingencies = append(jq.Contingencies, &pb.ContingencySpec{X: one(ct.X), XEdges: ct.XEdges, Y: one(ct.Y), YEdges: ct.YEdges})
	}
	spec := &pb.QuerySpec{Id: id, QuerierPublicKey: pkBytes, Purpose: r.Purpose, Epsilon: r.Epsilon, Delta: r.Delta, Exact: r.Exact, Querier: r.Querier,
		Kind: &pb.QuerySpec_Joint{Joint: jq}}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	stream, err := pb.NewQueryClient(c.conn).SubmitJoint(ctx, &pb.SubmitRequest{Query: spec})
	if err != nil {
		return nil, fromStatus(info.Node, "submit", err)
	}
	first, err := stream.Recv()
	if err != nil {
		return nil, fromStatus(info.Node, "submit", err)
	}
	h := first.GetHeader()
	if h == nil || h.Query == nil || h.Query.Id != id {
		return nil, fmt.Errorf("%w: result stream does not start with its header", ErrBadPeerMessage)
	}
	// The query as the owners evaluated it: same columns, bounds filled in,
	// the union size that sizes the plan.
	q, err := queryFromProto(params, h.Query)
	if err != nil {
		return nil, err
	}
	if q.Joint == nil || !bytes.Equal(h.Query.QuerierPublicKey, pkBytes) || q.Exact != r.Exact || q.Epsilon != r.Epsilon {
		return nil, fmt.Errorf("%w: the evaluated query differs from the one sent", ErrBadPeerMessage)
	}
	compiled, err := aggregate.Compile(params, q.request())
	if err != nil {
		return nil, err
	}
	if want := append([]string{q.Joint.X[0].Ref.Owner}, q.Joint.yOwners()...); !slices.Equal(h.Owners, want) {
		return nil, fmt.Errorf("%w: the result names owners %v, the query %v", ErrBadPeerMessage, h.Owners, want)
	}
	plan := compiled.Plan()
	if int(h.Products) != len(plan.Products()) || len(h.CountStats) != len(h.CountValues) || len(h.ReleasedProducts) > len(plan.Products()) {
		return nil, fmt.Errorf("%w: the result header does not fit the plan of %d products", ErrBadPeerMessage, len(plan.Products()))
	}
	counts := map[int]float64{}
	for k, s := range h.CountStats {
		counts[int(s)] = h.CountValues[k]
	}
	released := make([]bool, len(plan.Products()))
	var two []int
	for _, i := range h.ReleasedProducts {
		if int(i) >= len(released) || released[i] {
			return nil, fmt.Errorf("%w: product %d released twice or out of range", ErrBadPeerMessage, i)
		}
		released[i] = true
		two = append(two, int(i))
	}
	layout, err := plan.PackLayout(two)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
	}
	dec := rlwe.NewDecryptor(params, sk)
	packs := make([]*aggregate.Packed, len(layout))
	pts := make([]*rlwe.Plaintext, len(layout))
	for g, group := range layout {
		part, err := stream.Recv()
		if err != nil {
			return nil, fromStatus(info.Node, "submit", err)
		}
		ct := rlwe.NewCiphertext(params, 1, productLevel(plan, group[0]))
		if err := crypto.UnmarshalWire(params, part.GetCiphertext(), ct); err != nil {
			return nil, fmt.Errorf("%w: result ciphertext %d: %v", ErrBadPeerMessage, g, err)
		}
		packs[g] = &aggregate.Packed{Products: group, Stride: plan.PackStride(len(group)), Ct: ct}
		pts[g] = dec.DecryptNew(ct)
	}
	decoded, err := plan.DecodePacked(packs, pts)
	if err != nil {
		return nil, err
	}
	stats := compiled.StageTwoStats(decoded, counts, released)
	cells, err := compiled.Results(stats, len(h.Owners), int(h.MinGroupSize))
	if err != nil {
		return nil, err
	}
	if q.Exact {
		// Without DP noise, counts are integers up to the homomorphic
		// error, which the plan keeps far below one half.
		for i := range cells {
			cells[i].N = math.Round(cells[i].N)
			if cells[i].Statistic == aggregate.CellCount {
				cells[i].Value = math.Round(cells[i].Value)
				cells[i].CILow, cells[i].CIHigh = cells[i].Value, cells[i].Value
			}
		}
	}
	phases := map[string]time.Duration{}
	for k, v := range h.PhaseSeconds {
		phases[k] = time.Duration(v * float64(time.Second))
	}
	withheld := len(plan.Products()) - len(compiled.StageOneProducts()) - len(h.ReleasedProducts)
	left := map[string]ledger.Budget{}
	for o, e := range h.EpsilonLeft {
		left[o] = ledger.Budget{Epsilon: e, Delta: h.DeltaLeft[o]}
	}
	return &JointResult{Products: len(plan.Products()), Withheld: withheld, Phases: phases, UploadedBytes: int64(h.UploadedBytes), UploadedColumns: int(h.UploadedColumns), Cells: cells, Owners: h.Owners, BudgetLeft: left, UnionSize: q.Joint.UnionSize, MinGroupSize: int(h.MinGroupSize),
		Exact: q.Exact, Epsilon: q.Epsilon, Delta: q.Delta}, nil
}
