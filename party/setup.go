package party

import (
	"context"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"golang.org/x/sync/errgroup"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party/audit"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// setupState is the record of a finished setup, stored as keys/current.json.
type setupState struct {
	Federation string   `json:"federation"`
	Preset     string   `json:"preset"`
	Owners     []string `json:"owners"`
	CRSDigest  string   `json:"crs_digest"`
	PKDigest   string   `json:"public_key_digest"`
	Galois     []uint64 `json:"galois_elements"`
	Finished   string   `json:"finished"`
}

const (
	seedFile    = "keys/crs-seed"
	currentFile = "keys/current.json"
	maxShare    = 64 << 20 // largest key-generation share accepted from a peer
)

// session file names, under keys/<crs digest prefix>/.
func shareFile(kind pb.SetupShareKind, galEl uint64) string {
	switch kind {
	case pb.SetupShareKind_SETUP_SHARE_KIND_PUBLIC_KEY:
		return "share-ckg"
	case pb.SetupShareKind_SETUP_SHARE_KIND_RELIN_ROUND_ONE:
		return "share-rkg1"
	case pb.SetupShareKind_SETUP_SHARE_KIND_RELIN_ROUND_TWO:
		return "share-rkg2"
	case pb.SetupShareKind_SETUP_SHARE_KIND_GALOIS:
		return fmt.Sprintf("share-gkg-%d", galEl)
	}
	return ""
}

func sessionDir(crsDigest []byte) string { return "keys/" + hex.EncodeToString(crsDigest[:12]) }

// setup loads the keys of a finished setup, or runs the multiparty key
// generation with every peer. It is idempotent: every share it computes is
// stored before any peer can fetch it, so a node restarted mid-setup resumes
// with the same shares, and a finished node never runs setup again. It is
// one attempt of run (runSetup).
func (n *Node) setup(ctx context.Context, run *setupRun) (*keySet, error) {
	log := n.logger.Named("setup")
	var st setupState
	found, err := n.store.readJSON(currentFile, &st)
	if err != nil {
		return nil, err
	}
	if found {
		ks, err := n.loadKeys(st)
		if err != nil {
			return nil, err
		}
		log.Info("collective keys loaded", "public_key_digest", st.PKDigest[:16])
		return ks, nil
	}

	seed, err := n.loadOrCreate(seedFile, func() ([]byte, error) { return crypto.NewSeed() })
	if err != nil {
		return nil, err
	}
	start := time.Now()

	// Round 0: every peer's identity, preset and CRS contribution.
	seeds := map[string][]byte{n.cfg.Name: seed}
	for _, p := range n.cfg.Peers {
		resp, err := n.helloUntilReachable(ctx, run, p.Name)
		if err != nil {
			return nil, err
		}
		seeds[p.Name] = resp.CrsSeed
	}
	crsDigest, err := crypto.CRSDigest(n.cfg.Federation, n.cfg.Preset, seeds)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPeerMessage, err)
	}
	crs, err := crypto.NewCRS(crsDigest)
	if err != nil {
		return nil, err
	}
	kg := crypto.NewKeyGen(n.params, crs)
	dir := sessionDir(crsDigest)
	resumed := n.store.exists(dir + "/secret-share")
	if !resumed { // once per session, not once per attempt
		if err := n.record(audit.Event{Kind: audit.KindSetup, Detail: map[string]string{
			"step": "key generation", "owners": strings.Join(n.cfg.Owners(), ","), "preset": n.cfg.Preset, "crs_digest": hex.EncodeToString(crsDigest)}}); err != nil {
			return nil, err
		}
	}
	log.Info("all peers reachable; generating collective keys", "owners", len(seeds), "session", dir, "resumed", resumed)

	// Own shares, each stored before it can be served.
	sk := rlwe.NewSecretKey(n.params)
	if err := n.loadOrCreateBinary(dir+"/secret-share", sk, func() (encoding.BinaryMarshaler, error) { return kg.GenSecretKey(), nil }); err != nil {
		return nil, err
	}
	ckg := kg.NewPublicKeyShare()
	if err := n.loadOrCreateShare(dir+"/"+shareFile(pb.SetupShareKind_SETUP_SHARE_KIND_PUBLIC_KEY, 0), ckg,
		func() (any, error) { sh := kg.PublicKeyShare(sk); return &sh, nil }); err != nil {
		return nil, err
	}
	// The ephemeral secret is stored before its round-one share: a share is
	// served only once it exists, so a crash in between regenerates both
	// before any peer saw the share.
	eph := rlwe.NewSecretKey(n.params)
	rkg1 := kg.NewRelinShare()
	rkg1File := dir + "/" + shareFile(pb.SetupShareKind_SETUP_SHARE_KIND_RELIN_ROUND_ONE, 0)
	if !n.store.exists(rkg1File) {
		e, sh := kg.RelinRoundOne(sk)
		if err := n.store.writeBinary(dir+"/ephemeral-secret", e); err != nil {
			return nil, err
		}
		if err := n.writeShare(rkg1File, &sh); err != nil {
			return nil, err
		}
	}
	if err := n.store.readBinary(dir+"/ephemeral-secret", eph); err != nil {
		return nil, err
	}
	if err := n.readShare(rkg1File, rkg1); err != nil {
		return nil, err
	}
	for _, g := range kg.GaloisElements {
		if err := n.loadOrCreateShare(dir+"/"+shareFile(pb.SetupShareKind_SETUP_SHARE_KIND_GALOIS, g), kg.NewGaloisShare(g),
			func() (any, error) { sh, err := kg.GaloisShare(sk, g); return &sh, err }); err != nil {
			return nil, err
		}
	}

	// Collective public key.
	ckgShares, err := fetchAll(ctx, n, crsDigest, pb.SetupShareKind_SETUP_SHARE_KIND_PUBLIC_KEY, 0, ckg, kg.NewPublicKeyShare)
	if err != nil {
		return nil, err
	}
	pk, err := kg.PublicKey(ckgShares)
	if err != nil {
		return nil, err
	}
	for i, p := range n.cfg.Peers {
		if !n.keepsPeerShares() {
			break
		}
		if err := n.writeShare(dir+"/"+n.ownerShareFile(p.Name, pb.SetupShareKind_SETUP_SHARE_KIND_PUBLIC_KEY, 0), &ckgShares[i+1]); err != nil {
			return nil, err
		}
	}
	log.Debug("collective public key ready", "elapsed", time.Since(start))

	// Relinearization key, two rounds.
	r1, err := fetchAll(ctx, n, crsDigest, pb.SetupShareKind_SETUP_SHARE_KIND_RELIN_ROUND_ONE, 0, rkg1, kg.NewRelinShare)
	if err != nil {
		return nil, err
	}
	agg1, err := kg.AggregateRelin(r1)
	if err != nil {
		return nil, err
	}
	rkg2 := kg.NewRelinShare()
	if err := n.loadOrCreateShare(dir+"/"+shareFile(pb.SetupShareKind_SETUP_SHARE_KIND_RELIN_ROUND_TWO, 0), rkg2,
		func() (any, error) { sh := kg.RelinRoundTwo(eph, sk, agg1); return &sh, nil }); err != nil {
		return nil, err
	}
	r2, err := fetchAll(ctx, n, crsDigest, pb.SetupShareKind_SETUP_SHARE_KIND_RELIN_ROUND_TWO, 0, rkg2, kg.NewRelinShare)
	if err != nil {
		return nil, err
	}
	agg2, err := kg.AggregateRelin(r2)
	if err != nil {
		return nil, err
	}
	rlk := kg.RelinearizationKey(agg1, agg2)
	log.Debug("relinearization key ready", "elapsed", time.Since(start))

	// Galois keys for the Trace.
	var gks []*rlwe.GaloisKey
	for _, g := range kg.GaloisElements {
		own := kg.NewGaloisShare(g)
		if err := n.readShare(dir+"/"+shareFile(pb.SetupShareKind_SETUP_SHARE_KIND_GALOIS, g), own); err != nil {
			return nil, err
		}
		shares, err := fetchAll(ctx, n, crsDigest, pb.SetupShareKind_SETUP_SHARE_KIND_GALOIS, g, own, func() *mhe.GaloisKeyGenShare { return kg.NewGaloisShare(g) })
		if err != nil {
			return nil, err
		}
		gk, err := kg.GaloisKey(g, shares)
		if err != nil {
			return nil, err
		}
		gks = append(gks, gk)
		for i, p := range n.cfg.Peers {
			if !n.keepsPeerShares() {
				break
			}
			if err := n.writeShare(dir+"/"+n.ownerShareFile(p.Name, pb.SetupShareKind_SETUP_SHARE_KIND_GALOIS, g), &shares[i+1]); err != nil {
				return nil, err
			}
		}
	}
	log.Debug("galois keys ready", "count", len(gks), "elapsed", time.Since(start))

	// Persist the public keys, then mark setup finished.
	if err := n.store.writeBinary(dir+"/public-key", pk); err != nil {
		return nil, err
	}
	evk := rlwe.NewMemEvaluationKeySet(rlk, gks...)
	if err := n.store.writeBinary(dir+"/evaluation-keys", evk); err != nil {
		return nil, err
	}
	pkBytes, err := pk.MarshalBinary()
	if err != nil {
		return nil, err
	}
	st = setupState{
		Federation: n.cfg.Federation,
		Preset:     n.cfg.Preset,
		Owners:     n.cfg.Owners(),
		CRSDigest:  hex.EncodeToString(crsDigest),
		PKDigest:   hex.EncodeToString(digest(pkBytes)),
		Galois:     kg.GaloisElements,
		Finished:   time.Now().UTC().Format(time.RFC3339),
	}
	if err := n.record(audit.Event{Kind: audit.KindSetup, Detail: map[string]string{
		"step": "collective keys ready", "public_key_digest": st.PKDigest, "galois_keys": fmt.Sprint(len(gks))}}); err != nil {
		return nil, err
	}
	if err := n.store.writeJSON(currentFile, st); err != nil {
		return nil, err
	}
	if err := n.store.remove(dir + "/ephemeral-secret"); err != nil { // round two is done: it is no longer needed
		log.Warn("could not remove the ephemeral relinearization secret", "error", err)
	}
	log.Info("setup finished", "owners", len(seeds), "galois_keys", len(gks), "elapsed", time.Since(start).Round(time.Millisecond), "public_key_digest", st.PKDigest[:16])
	ks := &keySet{sk: sk, pk: pk, evk: evk, pkDigest: digest(pkBytes), crsDigest: crsDigest}
	if err := n.loadPublicShares(dir, crsDigest, ks); err != nil {
		return nil, err
	}
	return ks, nil
}

// loadKeys reads the keys of a finished setup and checks they belong to
// this configuration.
func (n *Node) loadKeys(st setupState) (*keySet, error) {
	if st.Federation != n.cfg.Federation || st.Preset != n.cfg.Preset || fmt.Sprint(st.Owners) != fmt.Sprint(n.cfg.Owners()) {
		return nil, fmt.Errorf("%w: the keys in %s were made for federation %q, preset %q, owners %v; this configuration has %q, %q, %v (move the data dir's keys/ away to run a new setup)",
			ErrSetupMismatch, n.cfg.DataDir, st.Federation, st.Preset, st.Owners, n.cfg.Federation, n.cfg.Preset, n.cfg.Owners())
	}
	crsDigest, err := hex.DecodeString(st.CRSDigest)
	if err != nil || len(crsDigest) < 12 {
		return nil, fmt.Errorf("party: %s is corrupt: bad crs_digest", currentFile)
	}
	dir := sessionDir(crsDigest)
	ks := &keySet{sk: rlwe.NewSecretKey(n.params), pk: rlwe.NewPublicKey(n.params), evk: rlwe.NewMemEvaluationKeySet(nil), crsDigest: crsDigest}
	if err := n.store.readBinary(dir+"/secret-share", ks.sk); err != nil {
		return nil, err
	}
	if err := n.store.readBinary(dir+"/public-key", ks.pk); err != nil {
		return nil, err
	}
	if err := n.store.readBinary(dir+"/evaluation-keys", ks.evk); err != nil {
		return nil, err
	}
	pkBytes, err := ks.pk.MarshalBinary()
	if err != nil {
		return nil, err
	}
	ks.pkDigest = digest(pkBytes)
	if hex.EncodeToString(ks.pkDigest) != st.PKDigest {
		return nil, fmt.Errorf("party: %s/public-key does not match %s", dir, currentFile)
	}
	if err := n.loadPublicShares(dir, crsDigest, ks); err != nil {
		return nil, err
	}
	return ks, nil
}

func (n *Node) loadOrCreate(name string, gen func() ([]byte, error)) ([]byte, error) {
	b, err := n.store.read(name)
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if b, err = gen(); err != nil {
		return nil, err
	}
	return b, n.store.write(name, b)
}

func (n *Node) loadOrCreateBinary(name string, v encoding.BinaryUnmarshaler, gen func() (encoding.BinaryMarshaler, error)) error {
	if !n.store.exists(name) {
		m, err := gen()
		if err != nil {
			return err
		}
		if err := n.store.writeBinary(name, m); err != nil {
			return err
		}
	}
	return n.store.readBinary(name, v)
}

// helloUntilReachable calls Hello on a peer until it answers or ctx ends,
// pausing with capped exponential backoff and jitter (timeouts.retry), and
// checks that the peer is on the same federation and preset.
func (n *Node) helloUntilReachable(ctx context.Context, run *setupRun, peer string) (*pb.HelloResponse, error) {
	log := n.logger.Named("setup")
	addr, _ := n.cfg.peerAddress(peer)
	wait := retryBackoff{base: 100 * time.Millisecond, max: n.cfg.RetryMax}
	var lastErr error
	for {
		resp, err := n.hello(ctx, peer)
		if err == nil {
			if resp.Federation != n.cfg.Federation || resp.Preset != n.cfg.Preset || resp.Node != peer {
				return nil, fmt.Errorf("%w: peer %s is node %q of federation %q on preset %q; this node expects node %q of federation %q on preset %q",
					ErrSetupMismatch, peer, resp.Node, resp.Federation, resp.Preset, peer, n.cfg.Federation, n.cfg.Preset)
			}
			if len(resp.CrsSeed) != crypto.SeedSize {
				return nil, fmt.Errorf("%w: peer %s sent a %d-byte CRS seed", ErrBadPeerMessage, peer, len(resp.CrsSeed))
			}
			if lastErr != nil {
				log.Info("peer reachable", "peer", peer, "waited", time.Since(run.start).Round(time.Millisecond))
			}
			return resp, nil
		}
		if errors.Is(err, ErrSetupMismatch) || errors.Is(err, ErrUnknownParty) {
			return nil, err
		}
		if lastErr == nil || ctx.Err() == nil { // not the call our own deadline cut short
			lastErr = err
		}
		if run.report.due() {
			log.Info("waiting for peer: setup goes on once it answers", "peer", peer, "address", addr,
				"waited", time.Since(run.start).Round(time.Second), "error", err)
		}
		if wait.wait(ctx) != nil {
			return nil, fmt.Errorf("%w: peer %s at %s unreachable (last error: %v)", ErrNotReady, peer, addr, lastErr)
		}
	}
}

func (n *Node) hello(ctx context.Context, peer string) (*pb.HelloResponse, error) {
	return n.tr.Hello(ctx, peer, &pb.HelloRequest{Federation: n.cfg.Federation, Node: n.cfg.Name, Preset: n.cfg.Preset,
		AuditHead: n.auditHead(peer), Witnessed: n.witnessedHead(peer)})
}

// fetchAll returns own followed by every peer's share of one kind, fetched in
// parallel and decoded into objects of the expected shape; a peer that has
// not computed the share yet is asked again until ctx ends.
func fetchAll[T any](ctx context.Context, n *Node, crsDigest []byte, kind pb.SetupShareKind, galEl uint64, own *T, alloc func() *T) ([]T, error) {
	out := make([]T, 1+len(n.cfg.Peers))
	out[0] = *own
	g, gctx := errgroup.WithContext(ctx)
	for i, p := range n.cfg.Peers {
		g.Go(func() error {
			b, err := n.fetchShare(gctx, p.Name, crsDigest, kind, galEl)
			if err != nil {
				return err
			}
			v := alloc()
			if err := crypto.UnmarshalWire(n.params, b, v); err != nil {
				return fmt.Errorf("%w: %s share from %s: %v", ErrBadPeerMessage, kind, p.Name, err)
			}
			out[i+1] = *v
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// writeShare stores a public key-generation share in its wire encoding, the
// form in which GetSetupShare serves it.
func (n *Node) writeShare(name string, v any) error {
	b, err := crypto.MarshalWire(n.params, v)
	if err != nil {
		return err
	}
	return n.store.write(name, b)
}

func (n *Node) readShare(name string, v any) error {
	b, err := n.store.read(name)
	if err != nil {
		return err
	}
	if err := crypto.UnmarshalWire(n.params, b, v); err != nil {
		return fmt.Errorf("party: %s is corrupt: %w", name, err)
	}
	return nil
}

// loadOrCreateShare reads a stored share into v, or generates, stores and
// then reads it.
func (n *Node) loadOrCreateShare(name string, v any, gen func() (any, error)) error {
	if !n.store.exists(name) {
		sh, err := gen()
		if err != nil {
			return err
		}
		if err := n.writeShare(name, sh); err != nil {
			return err
		}
	}
	return n.readShare(name, v)
}

// fetchShare fetches one of peer's setup shares, asking again with
// backoff while the peer has not computed it yet.
// A peer that is unreachable counts as not ready: it may be restarting,
// and it resumes with the shares it stored.
func (n *Node) fetchShare(ctx context.Context, peer string, crsDigest []byte, kind pb.SetupShareKind, galEl uint64) ([]byte, error) {
	wait := retryBackoff{base: 50 * time.Millisecond, max: min(time.Second, n.cfg.RetryMax)}
	report := progress{next: time.Now().Add(10 * time.Second), every: 30 * time.Second}
	start := time.Now()
	var lastErr error
	for {
		b, err := n.tr.SetupShare(ctx, peer, &pb.SetupShareRequest{Node: n.cfg.Name, CrsDigest: crsDigest, Kind: kind, GaloisElement: galEl})
		if err == nil {
			return b, nil
		}
		if !errors.Is(err, ErrNotReady) {
			return nil, err
		}
		if lastErr == nil || ctx.Err() == nil {
			lastErr = err
		}
		if report.due() {
			n.logger.Named("setup").Info("waiting for a peer's share: the peer is unreachable or has not computed it yet", "peer", peer, "kind", kind,
				"waited", time.Since(start).Round(time.Second), "error", err)
		}
		if wait.wait(ctx) != nil {
			return nil, fmt.Errorf("%w: %s has not served its %s (last error: %v)", ErrNotReady, peer, kind, lastErr)
		}
	}
}
