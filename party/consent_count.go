package party

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/jointly-dev/jointly/party/audit"
	"github.com/jointly-dev/jointly/party/ledger"
)

// How many records each purpose may use, for the transparency report of a
// node whose purposes have consents of their own (policy.consent). A
// data-protection officer and the owner's customers should know how many
// people a purpose could reach (the records that consented to it, through
// policy.consent or the default consent column), but the exact count of
// consents is personal data of a kind too: one customer's opt-out changes
// it by one. So the node releases it with differential privacy: once per
// version of its consent sets, a discrete Laplace count per consent set at
// ε = ConsentCountEpsilon in total, charged to the owner's own budget
// (OwnerAccount) and recorded in the audit log (audit.KindConsentCounted),
// from which the report words it. The counts are kept in
// data_dir/consent_counts.json and reused while the consent sets are
// unchanged, so a restart spends nothing.

// ConsentCountEpsilon is the ε of one release of the consent counts, over
// every consent set together (basic composition: a customer is in each
// set's count at most once).
const ConsentCountEpsilon = 0.05

// consentCountsFile is where the released counts are kept.
const consentCountsFile = "consent_counts.json"

// storedConsentCounts is a release of the consent counts.
type storedConsentCounts struct {
	// Digest identifies the consent sets' records (consentDigest).
	Digest string `json:"digest"`
	// Counts are the noisy counts by consent set ("" the default).
	Counts  map[string]int64 `json:"counts"`
	Epsilon float64          `json:"epsilon"`
	Time    time.Time        `json:"time"`
	Charge  string           `json:"charge"`
}

// consentDigest identifies the records of every consent set of t: the
// counts are released again only when one of them changes.
func consentDigest(t *Table, sets []string) (string, error) {
	h := sha256.New()
	for _, set := range sets {
		v, err := t.View(set)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%q:", set)
		h.Write(DigestTable(v))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// purposeSets maps every purpose of the policy to its consent set.
func (n *Node) purposeSets() (sets []string, byPurpose map[string]string) {
	byPurpose = map[string]string{}
	for _, p := range n.cfg.Policy.Purposes {
		set := n.cfg.Policy.ConsentSet(p)
		byPurpose[p] = set
		if !slices.Contains(sets, set) {
			sets = append(sets, set)
		}
	}
	slices.Sort(sets)
	return sets, byPurpose
}

// countConsent releases the consent counts of t once per version of its
// consent sets: the stored release when they are unchanged, a new one,
// charged and audited before it is stored, otherwise. A budget that
// cannot pay for it stops the node, as for automatic bounds.
func (n *Node) countConsent(t *Table) error {
	if len(n.cfg.Policy.ConsentColumns) == 0 {
		return nil // one consent for every purpose: nothing to tell apart
	}
	sets, byPurpose := n.purposeSets()
	digest, err := consentDigest(t, sets)
	if err != nil {
		return err
	}
	log := n.logger.Named("consent")
	var stored storedConsentCounts
	found, err := n.store.readJSON(consentCountsFile, &stored)
	if err != nil {
		return fmt.Errorf("%w; remove it to have the consent counts released again (charged again)", err)
	}
	if found && stored.Digest == digest {
		log.Info("consent counts released before are reused, nothing charged", "released_at", stored.Time.Format(time.RFC3339))
		return nil
	}

	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return fmt.Errorf("party: consent counts: %w", err)
	}
	charge := "consent-" + hex.EncodeToString(id[:])
	head, err := n.gov.ledger.Charge(OwnerAccount, charge, digest, ConsentCountEpsilon, 0)
	if errors.Is(err, ledger.ErrBudgetExhausted) {
		left := n.gov.ledger.Remaining(OwnerAccount)
		return fmt.Errorf("%w: releasing how many records each purpose may use costs ε = %g, and the owner's budget (policy.owner_epsilon = %g) has ε = %g left: raise owner_epsilon",
			ErrBudgetExhausted, ConsentCountEpsilon, n.cfg.Policy.OwnerEpsilon, left.Epsilon)
	}
	if err != nil {
		return fmt.Errorf("party: budget ledger: %w", err)
	}
	// Each set's count has sensitivity 1 and a customer is in every set
	// at most once: scale |sets|/ε per count.
	scale := new(big.Rat).SetFrac64(int64(len(sets))*1e6, int64(ConsentCountEpsilon*1e6))
	counts := map[string]int64{}
	n.gov.mu.Lock()
	for _, set := range sets {
		v, _ := t.View(set) // consentDigest read every view
		var noise int64
		if noise, err = n.gov.sampler.DiscreteLaplace(scale); err != nil {
			break
		}
		counts[set] = max(int64(v.records())+noise, 0)
	}
	n.gov.mu.Unlock()
	if err != nil {
		return fmt.Errorf("party: consent counts: %w", err)
	}
	detail := map[string]string{audit.DetailCharge: charge, "params_digest": digest, audit.DetailLedgerHead: head.String()}
	var words []string
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range byPurpose {
			if !yield(p) {
				return
			}
		}
	}) {
		detail["purpose."+p] = fmt.Sprint(counts[byPurpose[p]])
		words = append(words, fmt.Sprintf("%s %d", p, counts[byPurpose[p]]))
	}
	if err := n.record(audit.Event{Kind: audit.KindConsentCounted, Epsilon: ConsentCountEpsilon, Detail: detail}); err != nil {
		return err
	}
	stored = storedConsentCounts{Digest: digest, Counts: counts, Epsilon: ConsentCountEpsilon, Time: time.Now().UTC(), Charge: charge}
	if err := n.store.writeJSON(consentCountsFile, stored); err != nil {
		return err
	}
	log.Info("released with differential privacy how many records each purpose may use", "counts", strings.Join(words, ", "),
		"epsilon", ConsentCountEpsilon, "owner_epsilon_left", n.gov.ledger.Remaining(OwnerAccount).Epsilon)
	return nil
}
