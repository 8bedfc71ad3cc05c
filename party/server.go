package party

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

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
	if err := n.authenticate(ctx, req.Node); err != nil {
		return nil, toStatus(err)
	}
	// A stopping node is not there for its peers' setup or checks.
	if err := n.drain.check(); err != nil {
		return nil, toStatus(err)
	}
	seed, err := n.store.read(seedFile)
	if err != nil {
		// The seed is written before this node calls any peer; until then
		// it is not ready to take part.
		return nil, toStatus(fmt.Errorf("%w: no CRS seed yet", ErrNotReady))
	}
	resp := &pb.HelloResponse{Federation: n.cfg.Federation, Node: n.cfg.Name, Preset: n.cfg.Preset, CrsSeed: seed,
		AuditHead: n.auditHead(req.Node)}
	// Each side learns here which of its heads the other witnessed, and
	// checks its own log against it (witness.go): a rolled-back peer
	// refuses queries itself, and this node's own greeting to it
	// (checkPeer) reports it unavailable.
	if err := n.witnessPeer(req.Node, req.AuditHead); err != nil {
		n.logger.Named("witness").Debug("peer's greeting", "peer", req.Node, "error", err)
	}
	_ = n.checkOwnHead(req.Node, req.Witnessed) // logged there; queries refuse with it
	resp.Witnessed = n.witnessedHead(req.Node)
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
	if err := n.authenticate(stream.Context(), req.Node); err != nil {
		return toStatus(err)
	}
	name := shareFile(req.Kind, req.GaloisElement)
	if name == "" || len(req.CrsDigest) != 32 {
		return toStatus(fmt.Errorf("%w: unknown share kind or malformed CRS digest", ErrBadRequest))
	}
	b, err := n.store.read(sessionDir(req.CrsDigest) + "/" + name)
	if err != nil {
		if err := n.otherSession(req.Node, req.CrsDigest); err != nil {
			return toStatus(err)
		}
		return toStatus(fmt.Errorf("%w: share %s not computed yet", ErrNotReady, req.Kind))
	}
	return sendChunks(stream.Send, b)
}

// otherSession returns ErrSetupMismatch when this node has finished a
// setup other than the session a peer asks about: the peer derived
// another CRS, because a CRS seed changed since, its own most likely (its
// keys directory was moved or lost). Waiting would never help; the peer
// must be told.
func (n *Node) otherSession(peer string, crsDigest []byte) error {
	n.keyMu.RLock()
	ks := n.keys
	n.keyMu.RUnlock()
	if ks == nil || bytes.Equal(ks.crsDigest, crsDigest) {
		return nil
	}
	return fmt.Errorf("%w: %s finished the federation setup in session %x, and %s asks for session %x: "+
		"a CRS seed changed since, because a node's data_dir/keys/ was moved or lost (%s's, unless it was another node's). "+
		"Put the keys back, or move data_dir/keys/ away on every node to set up a new federation",
		ErrSetupMismatch, n.cfg.Name, ks.crsDigest[:12], peer, crsDigest[:12], peer)
}

func (s *federationServer) Admit(ctx context.Context, req *pb.AdmitRequest) (*pb.AdmitResponse, error) {
	n := s.n
	// A stopping node takes no new query; what it charged already goes on.
	done, err := n.drain.start()
	if err != nil {
		return nil, toStatus(err)
	}
	defer done()
	q, err := n.evaluatorQuery(ctx, req.Evaluator, req.Query)
	if err != nil {
		return nil, toStatus(err)
	}
	if req.Plan {
		refusal, err := n.planJoint(q, req.Evaluator, req.Charge)
		if err != nil {
			return nil, toStatus(err)
		}
		return &pb.AdmitResponse{WouldRefuse: refusal}, nil
	}
	if err := n.witnessPeer(req.Evaluator, req.AuditHead); err != nil {
		return nil, toStatus(err)
	}
	if err := n.checkOwnHead(req.Evaluator, req.Witnessed); err != nil {
		return nil, toStatus(err)
	}
	if err := n.admitJoint(ctx, q, req.Evaluator, req.Charge); err != nil {
		return nil, toStatus(err)
	}
	left := n.gov.ledger.Remaining(q.Querier)
	set := n.cfg.Policy.ConsentSet(q.Purpose)
	resp := &pb.AdmitResponse{EpsilonLeft: left.Epsilon, DeltaLeft: left.Delta, ConsentSet: set, AuditHead: n.auditHead(req.Evaluator),
		Witnessed: n.witnessedHead(req.Evaluator)}
	if !req.Charge {
		resp.Layouts = &pb.CurrentLayouts{Sessions: n.currentSessions(ctx, req.Evaluator, set)}
	}
	return resp, nil
}

func (s *federationServer) Abort(ctx context.Context, req *pb.AbortRequest) (*pb.AbortResponse, error) {
	n := s.n
	if err := n.authenticate(ctx, req.Evaluator); err != nil {
		return nil, toStatus(err)
	}
	if len(req.Reason) > 1024 {
		return nil, toStatus(fmt.Errorf("%w: abort reason longer than 1024 bytes", ErrBadRequest))
	}
	n.abortPeerQuery(req.QueryId, req.Evaluator, req.Reason)
	return &pb.AbortResponse{}, nil
}

func (s *federationServer) Prepare(ctx context.Context, req *pb.PrepareRequest) (*pb.PrepareResponse, error) {
	n := s.n
	defer n.drain.join()() // the upload of a query this owner charged
	q, err := n.evaluatorQuery(ctx, req.Evaluator, req.Query)
	if err != nil {
		return nil, toStatus(err)
	}
	sent, err := n.prepareJoint(ctx, q, req.Evaluator, req.Seed)
	if err != nil {
		return nil, toStatus(err)
	}
	left := n.gov.ledger.Remaining(q.Querier)
	return &pb.PrepareResponse{UploadedBytes: sent, MinGroupSize: uint32(n.cfg.Policy.MinGroupSize), EpsilonLeft: left.Epsilon, DeltaLeft: left.Delta}, nil
}

func (s *federationServer) Upload(stream pb.Federation_UploadServer) error {
	defer s.n.drain.join()() // the upload of a query the evaluator has open
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.Object != pb.UploadObject_UPLOAD_OBJECT_SEED {
		return toStatus(fmt.Errorf("%w: an upload starts with the owner's seed", ErrBadPeerMessage))
	}
	st, ok := s.n.queries.jointQuery(first.QueryId)
	if !ok {
		return toStatus(fmt.Errorf("%w: no joint query %q is being evaluated here", ErrBadRequest, first.QueryId))
	}
	received, err := s.n.receiveJoint(stream, first, st)
	if err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(&pb.UploadReceipt{ReceivedBytes: received})
}

func (s *federationServer) Match(stream pb.Federation_MatchServer) error {
	defer s.n.drain.join()() // matchings follow the charge of a query
	if err := s.n.serveMatch(stream.Context(), stream); err != nil {
		s.n.logger.Named("match").Warn("matching failed", "error", err)
		return toStatus(err)
	}
	return nil
}

func (s *federationServer) ReleaseShares(stream pb.Federation_ReleaseSharesServer) error {
	defer s.n.drain.join()() // the release of a query this owner charged
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

func (s *queryServer) Info(ctx context.Context, req *pb.InfoRequest) (*pb.InfoResponse, error) {
	return infoToProto(s.n.info(ctx, req.GetQuerier())), nil
}

func (s *queryServer) SubmitJoint(req *pb.SubmitRequest, stream pb.Query_SubmitJointServer) error {
	done, err := s.n.drain.start()
	if err != nil {
		return toStatus(err)
	}
	defer done()
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

func (s *queryServer) Plan(ctx context.Context, req *pb.PlanRequest) (*pb.PlanResponse, error) {
	if req.Query == nil {
		return nil, toStatus(fmt.Errorf("%w: no query", ErrBadRequest))
	}
	spec := proto.Clone(req.Query).(*pb.QuerySpec)
	querier, err := s.n.querierName(ctx, spec.Querier)
	if err != nil {
		return nil, toStatus(err)
	}
	spec.Querier = querier
	resp, err := s.n.planQuery(ctx, spec)
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}
