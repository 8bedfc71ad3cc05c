package party

import (
	"bytes"
	"context"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"golang.org/x/sync/errgroup"

	"github.com/jointly-dev/jointly/crypto"
	"github.com/jointly-dev/jointly/party/audit"
	pb "github.com/jointly-dev/jointly/proto/jointly/v1"
)

// keySet is the node's view of the collective keys: its own secret share and
// the public keys everybody computed.
type keySet struct {
	sk       *rlwe.SecretKey
	pk       *rlwe.PublicKey
	evk      *rlwe.MemEvaluationKeySet
	pkDigest []byte

	// crsDigest names the setup session (sessionDir). With more than two
	// owners: the session directory and every owner's CKG share. The CKG and GKG shares of any subset of
	// the owners are the public and Galois keys of the sum of their secrets
	// (see subsetKeys).
	dir       string
	crsDigest []byte
	ckg       map[string]*mhe.PublicKeyGenShare
	mu        sync.Mutex
	subsets   map[string]*ownerKeys
}

// ownerKeys are the keys of a subset of the owners.
type ownerKeys struct {
	pk  *rlwe.PublicKey
	evk *rlwe.MemEvaluationKeySet
}

// subsetKeys returns the public key and the Galois keys of the sum of
// owners' secret shares, aggregated from their setup shares alone. A
// joint session of the evaluator and one other owner is traced and
// re-randomized under the keys of exactly those two: their shares then
// decrypt it, and owners outside the query need not take part.
func (n *Node) subsetKeys(ks *keySet, owners []string) (*ownerKeys, error) {
	if len(owners) == len(n.cfg.Owners()) {
		return &ownerKeys{pk: ks.pk, evk: ks.evk}, nil
	}
	sorted := append([]string(nil), owners...)
	slices.Sort(sorted)
	key := strings.Join(sorted, ",")
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if k, ok := ks.subsets[key]; ok {
		return k, nil
	}
	crs, err := crypto.NewCRS(ks.crsDigest)
	if err != nil {
		return nil, err
	}
	kg := crypto.NewKeyGen(n.params, crs)
	shares := make([]mhe.PublicKeyGenShare, len(sorted))
	for i, o := range sorted {
		sh, ok := ks.ckg[o]
		if !ok {
			return nil, fmt.Errorf("%w: no public-key share of %q in this setup", ErrUnknownParty, o)
		}
		shares[i] = *sh
	}
	pk, err := kg.PublicKey(shares)
	if err != nil {
		return nil, err
	}
	var gks []*rlwe.GaloisKey
	for _, g := range kg.GaloisElements {
		gs := make([]mhe.GaloisKeyGenShare, len(sorted))
		for i, o := range sorted {
			sh := kg.NewGaloisShare(g)
			if err := n.readShare(ks.dir+"/"+n.ownerShareFile(o, pb.SetupShareKind_SETUP_SHARE_KIND_GALOIS, g), sh); err != nil {
				return nil, fmt.Errorf("party: Galois share of %s: %w (move the data dir's keys/ away to run setup again)", o, err)
			}
			gs[i] = *sh
		}
		gk, err := kg.GaloisKey(g, gs)
		if err != nil {
			return nil, err
		}
		gks = append(gks, gk)
	}
	k := &ownerKeys{pk: pk, evk: rlwe.NewMemEvaluationKeySet(nil, gks...)}
	if ks.subsets == nil {
		ks.subsets = map[string]*ownerKeys{}
	}
	ks.subsets[key] = k
	return k, nil
}

// keepsPeerShares reports whether setup keeps the peers' public CKG and
// GKG shares: only a federation of more than two owners has queries over a
// subset of them.
func (n *Node) keepsPeerShares() bool { return len(n.cfg.Owners()) > 2 }

// ownerShareFile is the file of an owner's CKG or GKG share in a session
// directory: this node's own share, or a peer's kept copy.
func (n *Node) ownerShareFile(owner string, kind pb.SetupShareKind, galEl uint64) string {
	switch {
	case owner == n.cfg.Name:
		return shareFile(kind, galEl)
	case kind == pb.SetupShareKind_SETUP_SHARE_KIND_GALOIS:
		return fmt.Sprintf("galois-share-%s-%d", owner, galEl)
	}
	return "public-key-share-" + owner
}

// loadPublicShares reads every owner's CKG share of the session in dir
// (when the federation keeps them).
func (n *Node) loadPublicShares(dir string, crsDigest []byte, ks *keySet) error {
	if !n.keepsPeerShares() {
		return nil
	}
	ks.dir, ks.crsDigest = dir, crsDigest
	ks.ckg = map[string]*mhe.PublicKeyGenShare{}
	alloc := mhe.NewPublicKeyGenProtocol(n.params)
	for _, o := range n.cfg.Owners() {
		sh := new(mhe.PublicKeyGenShare)
		*sh = alloc.AllocateShare()
		if err := n.readShare(dir+"/"+n.ownerShareFile(o, pb.SetupShareKind_SETUP_SHARE_KIND_PUBLIC_KEY, 0), sh); err != nil {
			return fmt.Errorf("party: public-key share of %s: %w (move the data dir's keys/ away to run setup again)", o, err)
		}
		ks.ckg[o] = sh
	}
	return nil
}

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
	return n.tr.Hello(ctx, peer, &pb.HelloRequest{Federation: n.cfg.Federation, Node: n.cfg.Name, Preset: n.cfg.Preset})
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

// chunkReceiver is a stream of Chunk messages.
type chunkReceiver interface{ Recv() (*pb.Chunk, error) }

// recvChunks reassembles a chunked object, refusing objects over limit bytes
// or whose chunks disagree about the total size.
func recvChunks(s chunkReceiver, limit uint64) ([]byte, error) {
	var buf bytes.Buffer
	var total uint64
	for first := true; ; first = false {
		c, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if first {
			total = c.TotalSize
			if total > limit {
				return nil, fmt.Errorf("%w: object of %d bytes exceeds the limit of %d", ErrBadPeerMessage, total, limit)
			}
			buf.Grow(int(total))
		}
		if c.TotalSize != total || uint64(buf.Len()+len(c.Data)) > total || len(c.Data) > chunkSize {
			return nil, fmt.Errorf("%w: inconsistent chunk stream", ErrBadPeerMessage)
		}
		buf.Write(c.Data)
	}
	if uint64(buf.Len()) != total {
		return nil, fmt.Errorf("%w: stream ended after %d of %d bytes", ErrBadPeerMessage, buf.Len(), total)
	}
	return buf.Bytes(), nil
}

// sendChunks streams b in chunks of at most chunkSize.
func sendChunks(send func(*pb.Chunk) error, b []byte) error {
	total := uint64(len(b))
	for off := 0; ; off += chunkSize {
		end := min(off+chunkSize, len(b))
		if err := send(&pb.Chunk{TotalSize: total, Data: b[off:end]}); err != nil {
			return err
		}
		if end == len(b) {
			return nil
		}
	}
}
