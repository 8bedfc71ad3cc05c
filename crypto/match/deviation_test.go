package match

import (
	"bytes"
	"strings"
	"testing"
)

// TestSkippedShuffleRevealsMatches pins a documented limit of the threat
// model (docs/architecture.md, "Threat model": a peer that skips its
// shuffle): B's reshuffle σ_B is all that keeps A from linking the points
// it compares to its own records. A B that runs other code and returns
// E_A = U_A^b in U_A's order lets A, which knows its own permutation π_A,
// tell exactly which of its records B also holds; with σ_B, the same
// comparison puts A's matches at positions that say nothing (about as many
// of them at the positions of A's common records as by chance).
func TestSkippedShuffleRevealsMatches(t *testing.T) {
	dst := DomainTag("test-federation", []byte("session-deviation"))
	x, y := dataset(9, 200, 200, 80, "")
	a, b := newParties(t, dst)
	uA, uB := blindBoth(t, a, b, x, y)
	// unshuffled is what a deviating B sends instead of shuffled.
	shuffled, unshuffled := reshuffled(t, b, uA)
	eB, err := a.k.Exponentiate(uB) // what A holds of B's records
	if err != nil {
		t.Fatal(err)
	}
	inB := func(p []byte) bool {
		for _, q := range eB {
			if bytes.Equal(p, q) {
				return true
			}
		}
		return false
	}
	// A's guess: record a.perm[i] is common when list entry i is in E_B.
	guess := func(list [][]byte) (right, common int) {
		for i, p := range list {
			isCommon := strings.HasPrefix(string(x[a.perm[i]]), "both")
			if isCommon {
				common++
			}
			if inB(p) == isCommon {
				right++
			}
		}
		return right, common
	}
	right, common := guess(unshuffled)
	if common != 80 || right != len(x) {
		t.Errorf("without σ_B, A classified %d of %d own records right (%d common), want all", right, len(x), common)
	}
	// With σ_B the positions are a fresh permutation: about
	// 80·80/200 + 120·120/200 = 104 right by chance (SD ≈ 7).
	if right, _ := guess(shuffled); right > 140 {
		t.Errorf("with σ_B, A still classified %d of %d own records right", right, len(x))
	}
}
