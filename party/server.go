package party

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/jointly-dev/jointly/crypto"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// federationServer serves node-to-node calls.
type federationServer struct {
	pb.UnsafeFederationServer
	n *Node
}

var _ pb.FederationServer = (*federationServer)(nil)

func (s *federationServer) Hello(ctx context.Context, req *pb.HelloRequest) (*pb.HelloResponse, error) {
	n := s.n
	if _, ok := n.cfg.peerAddress(req.Node); !ok {
		return nil, toStatus(fmt.Errorf("%w %q", ErrUnknownParty, req.Node))
	}
	if err := n.authenticate(ctx, req.Node); err != nil {
		return nil, toStatus(err)
	}
	seed, err := n.store.read(seedFile)
	if err != nil {
		// The seed is written before this node calls any peer; until then
		// it is not ready to take part.
		return nil, toStatus(fmt.Errorf("%w: no CRS seed yet", ErrNotReady))
	}
	resp := &pb.HelloResponse{Federation: n.cfg.Federation, Node: n.cfg.Name, Preset: n.cfg.Preset, CrsSeed: seed}
	n.keyMu.RLock()
	if n.keys != nil {
		resp.SetupDone = true
		resp.PublicKeyDigest = n.keys.pkDigest
	}
	n.keyMu.RUnlock()
	if req.Federation != n.cfg.Federation || req.Preset != n.cfg.Preset {
		n.logger.Named("setup").Warn("peer configuration differs", "peer", req.Node, "peer_federation", req.Federation, "peer_preset", req.Preset)
	}
	return resp, nil
}

func (s *federationServer) GetSetupShare(req *pb.SetupShareRequest, stream pb.Federation_GetSetupShareServer) error {
	n := s.n
	if _, ok := n.cfg.peerAddress(req.Node); !ok {
		return toStatus(fmt.Errorf("%w %q", ErrUnknownParty, req.Node))
	}
	if err := n.authenticate(stream.Context(), req.Node); err != nil {
		return toStatus(err)
	}
	name := shareFile(req.Kind, req.GaloisElement)
	if name == "" || len(req.CrsDigest) != 32 {
		return toStatus(fmt.Errorf("%w: unknown share kind or malformed CRS digest", ErrBadRequest))
	}
	b, err := n.store.read(sessionDir(req.CrsDigest) + "/" + name)
	if err != nil {
		return toStatus(fmt.Errorf("%w: share %s not computed yet", ErrNotReady, req.Kind))
	}
	return sendChunks(stream.Send, b)
}

func (s *federationServer) Prepare(ctx context.Context, req *pb.PrepareRequest) (*pb.PrepareResponse, error) {
	n := s.n
	if _, ok := n.cfg.peerAddress(req.Evaluator); !ok {
		return nil, toStatus(fmt.Errorf("%w: evaluator %q", ErrUnknownParty, req.Evaluator))
	}
	if err := n.authenticate(ctx, req.Evaluator); err != nil {
		return nil, toStatus(err)
	}
	q, err := queryFromProto(n.params, req.Query)
	if err != nil {
		return nil, toStatus(err)
	}
	if q.Joint != nil {
		sent, err := n.prepareJoint(ctx, q, req.Evaluator, req.Seed)
		if err != nil {
			return nil, toStatus(err)
		}
		left := n.gov.ledger.Remaining(q.Querier)
		return &pb.PrepareResponse{UploadedBytes: sent, MinGroupSize: uint32(n.cfg.Policy.MinGroupSize), EpsilonLeft: left.Epsilon, DeltaLeft: left.Delta}, nil
	}
	sent, noise, err := n.prepare(ctx, q, req.Evaluator)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.PrepareResponse{UploadedBytes: sent, NoiseStd: noise}, nil
}

func (s *federationServer) Upload(stream pb.Federation_UploadServer) error {
	n := s.n
	var (
		buf            bytes.Buffer
		queryID, owner string
		next           uint32
		done           bool
	)
	for {
		c, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if done {
			return toStatus(fmt.Errorf("%w: data after the last chunk", ErrBadPeerMessage))
		}
		if next == 0 && c.Object == objectSeed {
			st, ok := n.queries.jointQuery(c.QueryId)
			if !ok {
				return toStatus(fmt.Errorf("%w: no joint query %q is being evaluated here", ErrBadRequest, c.QueryId))
			}
			received, err := n.receiveJoint(stream, c, st)
			if err != nil {
				return toStatus(err)
			}
			return stream.SendAndClose(&pb.UploadReceipt{ReceivedBytes: received})
		}
		if next == 0 {
			queryID, owner = c.QueryId, c.Owner
			if _, ok := n.cfg.peerAddress(owner); !ok {
				return toStatus(fmt.Errorf("%w: uploader %q", ErrUnknownParty, owner))
			}
			if err := n.authenticate(stream.Context(), owner); err != nil {
				return toStatus(err)
			}
			if c.Object != objectAggregate {
				return toStatus(fmt.Errorf("%w: unknown upload object %q", ErrBadPeerMessage, c.Object))
			}
		}
		if c.Seq != next || c.QueryId != queryID || c.Owner != owner || c.Object != objectAggregate {
			return toStatus(fmt.Errorf("%w: upload chunk %d out of order or with a changed header", ErrBadPeerMessage, c.Seq))
		}
		if len(c.Data) > chunkSize || buf.Len()+len(c.Data) > maxUpload {
			return toStatus(fmt.Errorf("%w: upload exceeds %d bytes", ErrBadPeerMessage, maxUpload))
		}
		buf.Write(c.Data)
		next++
		done = c.Last
	}
	if !done {
		return toStatus(fmt.Errorf("%w: upload ended without its last chunk", ErrBadPeerMessage))
	}
	ct, err := ciphertextFromProto(n.params, buf.Bytes())
	if err != nil {
		return toStatus(err)
	}
	if err := n.queries.contribute(queryID, owner, ct); err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(&pb.UploadReceipt{ReceivedBytes: uint64(buf.Len())})
}

func (s *federationServer) ReleaseShare(ctx context.Context, req *pb.ReleaseShareRequest) (*pb.ReleaseShareResponse, error) {
	n := s.n
	if _, ok := n.cfg.peerAddress(req.Evaluator); !ok {
		return nil, toStatus(fmt.Errorf("%w: evaluator %q", ErrUnknownParty, req.Evaluator))
	}
	if err := n.authenticate(ctx, req.Evaluator); err != nil {
		return nil, toStatus(err)
	}
	q, err := queryFromProto(n.params, req.Query)
	if err != nil {
		return nil, toStatus(err)
	}
	ct, err := ciphertextFromProto(n.params, req.Ciphertext)
	if err != nil {
		return nil, toStatus(err)
	}
	share, err := n.releaseShare(q, req.Evaluator, ct)
	if err != nil {
		return nil, toStatus(err)
	}
	b, err := crypto.MarshalWire(n.params, &share)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ReleaseShareResponse{Share: b, FloodingSigma: crypto.FloodingSigma(n.noiseBound(), crypto.DefaultFloodingBits)}, nil
}

func (s *federationServer) Match(stream pb.Federation_MatchServer) error {
	if err := s.n.serveMatch(stream.Context(), stream); err != nil {
		s.n.logger.Named("match").Warn("matching failed", "error", err)
		return toStatus(err)
	}
	return nil
}

func (s *federationServer) ReleaseShares(stream pb.Federation_ReleaseSharesServer) error {
	if err := s.n.serveReleaseShares(stream); err != nil {
		return toStatus(err)
	}
	return nil
}

// queryServer serves queriers.
type queryServer struct {
	pb.UnsafeQueryServer
	n *Node
}

var _ pb.QueryServer = (*queryServer)(nil)

func (s *queryServer) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.InfoResponse, error) {
	n := s.n
	n.keyMu.RLock()
	done := n.keys != nil
	n.keyMu.RUnlock()
	var cols []*pb.ColumnRef
	if b, ok := n.data.(bounder); ok {
		for _, c := range n.data.Columns() {
			lo, hi, _ := b.ColumnBounds(c)
			cols = append(cols, &pb.ColumnRef{Owner: n.cfg.Name, Name: c, Lo: lo, Hi: hi})
		}
	}
	return &pb.InfoResponse{
		ColumnInfo: cols,
		Node:       n.cfg.Name,
		Federation: n.cfg.Federation,
		Owners:     n.cfg.Owners(),
		Preset:     n.cfg.Preset,
		SetupDone:  done,
		Columns:    n.data.Columns(),
		Version:    Version,
	}, nil
}

func (s *queryServer) Submit(ctx context.Context, req *pb.SubmitRequest) (*pb.SubmitResponse, error) {
	if req.Query == nil {
		return nil, toStatus(fmt.Errorf("%w: no query", ErrBadRequest))
	}
	// The evaluating node authenticates the querier and names it in the
	// query every other owner sees.
	spec := proto.Clone(req.Query).(*pb.QuerySpec)
	querier, err := s.n.querierName(ctx, spec.Querier)
	if err != nil {
		return nil, toStatus(err)
	}
	spec.Querier = querier
	q, err := queryFromProto(s.n.params, spec)
	if err != nil {
		return nil, toStatus(err)
	}
	resp, err := s.n.submit(ctx, q, spec)
	if err != nil {
		if !errors.Is(err, ErrPolicy) { // refusals are logged where they are decided
			s.n.logger.Named("query").Warn("query failed", "query", q.ID, "error", err)
		}
		return nil, toStatus(err)
	}
	return resp, nil
}

func (s *queryServer) SubmitJoint(req *pb.SubmitRequest, stream pb.Query_SubmitJointServer) error {
	if req.Query == nil {
		return toStatus(fmt.Errorf("%w: no query", ErrBadRequest))
	}
	spec := proto.Clone(req.Query).(*pb.QuerySpec)
	querier, err := s.n.querierName(stream.Context(), spec.Querier)
	if err != nil {
		return toStatus(err)
	}
	spec.Querier = querier
	if err := s.n.submitJoint(stream.Context(), spec, stream.Send); err != nil {
		if !errors.Is(err, ErrPolicy) {
			s.n.logger.Named("query").Warn("joint query failed", "query", spec.Id, "error", err)
		}
		return toStatus(err)
	}
	return nil
}
