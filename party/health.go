package party

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// The node's health, as the standard gRPC health service reports it on the
// node's listener and, when health.listen is set, on a plaintext listener
// of its own that serves nothing else (for probes without a certificate):
//
//   - "" and jointly.v1.Query are SERVING once the collective keys are
//     ready and while every peer answers; NOT_SERVING before, while a
//     peer is unreachable, has not finished its setup or holds other keys,
//     and from the moment the node starts to stop.
//   - jointly.v1.Federation is SERVING from the start (peers need it for
//     setup) until the node starts to stop.
//
// Peers count as reachable when setup has just talked to them; after
// that, and after a restart that loaded the keys, the node greets each
// peer every health.peer_check (one small Hello call), and again sooner,
// with backoff, while one does not answer.

// startHealthListener serves the health service alone, in plaintext, on
// cfg.HealthListen.
func (n *Node) startHealthListener() error {
	lis, err := net.Listen("tcp", n.cfg.HealthListen)
	if err != nil {
		return fmt.Errorf("party: health.listen on %s: %w", n.cfg.HealthListen, err)
	}
	n.healthLis = lis
	n.healthSrv = grpc.NewServer(grpc.MaxRecvMsgSize(64 << 10))
	healthpb.RegisterHealthServer(n.healthSrv, n.health)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.healthSrv.Serve(lis); err != nil {
			n.logger.Named("health").Error("health listener stopped", "error", err)
		}
	}()
	return nil
}

// HealthAddr returns the address of the health-only listener, empty when
// there is none.
func (n *Node) HealthAddr() string {
	if n.healthLis == nil {
		return ""
	}
	return n.healthLis.Addr().String()
}

// setServing sets the status of the node and of its Query service.
func (n *Node) setServing(serving bool) {
	if n.health == nil {
		return
	}
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	n.health.SetServingStatus("", st)
	n.health.SetServingStatus(pb.Query_ServiceDesc.ServiceName, st)
}

// watchPeers keeps the health status in step with the peers until ctx
// ends. contacted says whether setup has just talked to every peer; a node
// that loaded its keys checks them first.
func (n *Node) watchPeers(ctx context.Context, ks *keySet, contacted bool) {
	log := n.logger.Named("health")
	down := map[string]string{} // peer → why it does not count as reachable
	if !contacted {
		for _, p := range n.cfg.Peers {
			down[p.Name] = "not checked yet"
		}
	}
	n.setServing(len(down) == 0)
	retry := retryBackoff{base: 50 * time.Millisecond, max: min(n.cfg.RetryMax, n.cfg.PeerCheck)}
	first := !contacted
	for {
		if first {
			first = false
		} else if len(down) == 0 {
			retry.attempt = 0
			select {
			case <-ctx.Done():
				return
			case <-time.After(n.cfg.PeerCheck):
			}
		} else if retry.wait(ctx) != nil {
			return
		}
		now := n.checkPeers(ctx, ks)
		if ctx.Err() != nil {
			return
		}
		for _, p := range slices.Sorted(maps.Keys(now)) {
			if down[p] != now[p] { // newly down, or down for another reason
				log.Warn("peer unavailable: this node reports NOT_SERVING until it is back", "peer", p, "reason", now[p])
			}
		}
		for p := range down {
			if _, still := now[p]; !still {
				log.Info("peer reachable", "peer", p)
			}
		}
		down = now
		// A node whose own audit log a peer found rolled back serves no
		// query either (checkOwnHead logs it).
		n.setServing(len(down) == 0 && n.gov.witness.rolledBack() == nil)
	}
}

// checkPeers greets every peer at once and returns those that did not
// answer as a member of this federation with the same collective keys,
// with the reason.
func (n *Node) checkPeers(ctx context.Context, ks *keySet) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, min(n.cfg.RPCTimeout, max(n.cfg.PeerCheck, time.Second)))
	defer cancel()
	var mu sync.Mutex
	down := map[string]string{}
	var wg sync.WaitGroup
	for _, p := range n.cfg.Peers {
		wg.Go(func() {
			if why := n.checkPeer(ctx, ks, p.Name); why != "" {
				mu.Lock()
				down[p.Name] = why
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return down
}

// checkPeer returns why peer does not count as available, "" if it does.
func (n *Node) checkPeer(ctx context.Context, ks *keySet, peer string) string {
	resp, err := n.hello(ctx, peer)
	switch {
	case err != nil:
		return err.Error()
	case resp.Node != peer || resp.Federation != n.cfg.Federation || resp.Preset != n.cfg.Preset:
		return fmt.Sprintf("it answers as node %q of federation %q on preset %q", resp.Node, resp.Federation, resp.Preset)
	case !resp.SetupDone:
		return "it has not finished the federation setup"
	case !bytes.Equal(resp.PublicKeyDigest, ks.pkDigest):
		return "it holds other collective keys than this node: one of the two was set up again; move data_dir/keys/ away on every node to set up a new federation"
	}
	if err := n.witnessPeer(peer, resp.AuditHead); err != nil {
		return err.Error()
	}
	if err := n.checkOwnHead(peer, resp.Witnessed); err != nil && !errors.Is(err, ErrAuditRolledBack) {
		// This node's own log, not the peer: queries meet the same error.
		n.logger.Named("witness").Warn("cannot check this node's audit log against the head a peer witnessed", "peer", peer, "error", err)
	}
	if ref, ok := n.gov.witness.of(peer); ok && peerBehind(peer, resp.AuditHead, ref) != nil {
		// The answer may have been overtaken by a newer head (an admission
		// round meanwhile); one to a call made now cannot be behind ref.
		again, err := n.hello(ctx, peer)
		if err != nil {
			return err.Error()
		}
		if err := n.witnessPeer(peer, again.AuditHead); err != nil {
			return err.Error()
		}
		if err := peerBehind(peer, again.AuditHead, ref); err != nil {
			return err.Error()
		}
	}
	return ""
}
