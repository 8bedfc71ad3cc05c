package party

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"

	"github.com/jointly-dev/jointly/crypto"
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
