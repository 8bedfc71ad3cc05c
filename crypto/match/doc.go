// Package match implements private matching (README.md, Protocol): two
// data owners A and B, holding identifier sets X and Y, each learn the size
// of X ∪ Y and, for each of their own records, its row in a common ordering
// of the union, without learning which of their records the other side also
// holds. It is a re-implementation of the Private-ID construction of
// Buddhavarapu et al. ("Private matching for compute", ePrint 2020/599) on
// ristretto255 (RFC 9496) with hash-to-group per RFC 9380.
//
// The package is a pure library: no networking, no logging, no persistent
// state. Every key and permutation is fresh per session and drawn from
// crypto/rand; Zero wipes them. Points travel as 32-byte canonical
// encodings; a message is a list of points whose length the sender announces.
//
// # Message sequence
//
// Both parties compute the same domain tag, dst := DomainTag(federation,
// sessionID), normalize their identifiers (package party/ident) and create
// their role: a := NewPartyA(dst) on one side, b := NewPartyB(dst) on the
// other. Then, with H the hash to the group, π_A, π_B, σ_B secret shuffles,
// and keys a, a' (A) and b, b' (B):
//
//	step  direction  message      length   content                         produced by
//	1     A → B      BlindedA     |X|      U_A = π_A[H(x)^a]               a.Blind(X)
//	1     B → A      BlindedB     |Y|      U_B = π_B[H(y)^b]               b.Blind(Y)
//	2     B → A      ShuffledA    |X|      σ_B(E_A), E_A = U_A^b           b.ReblindPeer(U_A)
//	2     B → A      DoubleA      |X|      V_A = E_A^{b'}, π_A order       (same call)
//	2     A → B      DoubleB      |Y|      V_B = (U_B^a)^{a'}, π_B order   a.ReblindPeer(U_B)
//	2     B                                own UIDs V_B^{b'}               b.AcceptDouble(V_B)
//	3     A → B      OnlyB        |Y \ X|  shuffled D_B = E_B \ σ_B(E_A)   a.Differences(ShuffledA, DoubleA)
//	3     A → B      OnlyA        |X \ Y|  shuffled (σ_B(E_A) \ E_B)^{a'} (same call)
//	4     B → A      OnlyBDouble  |Y \ X|  OnlyB^{b'}                      b.ReblindOnlyB(OnlyB, OnlyA)
//	out   A                                Layout                          a.Finish(OnlyBDouble)
//	out   B                                Layout                          b.Finish()
//
// Steps 1 of A and B are independent, as are B's ReblindPeer and A's
// ReblindPeer; each step checks that the steps it depends on have run and
// returns ErrStep otherwise. The receiver knows every length except those of
// BlindedA/BlindedB (the peer's set size) and OnlyB/OnlyA (which reveal
// |X ∩ Y|, an allowed leakage); B checks |OnlyB| − |OnlyA| = |Y| − |X|.
//
// # Streaming
//
// A transport sends a list with Chunks and Pack, announcing the total length
// in the first frame; the receiver feeds each frame to a Receiver created
// with that length, which rejects non-canonical encodings (ErrNonCanonical),
// the identity (ErrIdentity), repeated points even across frames
// (ErrDuplicatePoint) and frames beyond or short of the announced total
// (ErrLength), and hands the complete list to the next step. A transport
// that hands lists only to the steps of PartyA and PartyB uses
// NewStepReceiver instead, which leaves decoding to the step: every step
// decodes each received point once, as it exponentiates it, and rejects the
// list before returning any result. Steps need whole
// lists because shuffles and set differences are global; the per-point work
// inside them runs on a pool of GOMAXPROCS workers. Key.Exponentiate is the
// per-chunk primitive for transports that pipeline their own steps.
// A PartyA or PartyB is not safe for concurrent use: a transport calls its
// steps from one goroutine at a time (or under a mutex).
//
// # Output
//
// Each party ends with a Layout: UnionSize = |X ∪ Y| and Rows[j], the union
// row of its record j (the j-th identifier given to Blind). The union
// ordering sorts UIDs H(x)^{a a' b b'} by their encoding; both parties
// derive the same UIDs and therefore the same ordering, and a common
// identifier lands on the same row on both sides. UIDs never leave the
// party: exchanging them would reveal the intersection.
//
// # Multi-key matching
//
// Records with several identifiers (an e-mail, a phone, …) match with
// NewMultiKeyA and NewMultiKeyB (README.md, Multi-key matching): both sides
// declare the same key kinds in priority order, give each record one key
// slot per kind (nil for a missing key), and two records match when a key of
// the same kind is equal, greedily by kind, one to one; keys that several
// records of one dataset share are ignored. With K kinds and m pairs:
//
//	step  direction  message            length   content                          produced by
//	1     A → B      KeysBlindedA       K|X|     U_A = π_A[(H_k(x_k)^a)_k]        a.Blind(X)
//	1     B → A      KeysBlindedB       K|Y|     U_B = π_B[(H_k(y_k)^b)_k]        b.Blind(Y)
//	2     B → A      KeysShuffledA      K|X|     σ_B(U_A^b), records kept whole   b.ReblindPeer(U_A)
//	2     A                                      keeps E_B = U_B^a                a.ReblindPeer(U_B)
//	3     A → B      TokensA            |X|      R per A record, σ_B order        a.Match(KeysShuffledA)
//	3     A → B      TokensB            |Y|      R^{a'} per B record, π_B order   (same call)
//	3     A → B      TokensOnlyB        |Y| − m  R of the B-only records          (same call)
//	3     A → B      TokensOnlyA        |X| − m  R^{a'} of the A-only records     (same call)
//	4     B → A      TokensADouble      |X|      σ_B⁻¹(TokensA)^{b'}, π_A order   b.ReblindTokens(…)
//	4     B → A      TokensOnlyBDouble  |Y| − m  TokensOnlyB^{b'}                 (same call)
//	out   A                                      Layout                           a.Finish(TokensADouble, TokensOnlyBDouble)
//	out   B                                      Layout                           b.Finish()
//
// R is a fresh random token per union record, shared by the two records of
// a pair, and every UID is R^{a'b'}. Missing keys are padded with random
// points, so every record sends K points. The lists are flat, record r's
// key of kind k at r·K + k, and travel like the single-key ones; the
// messages are told apart by Message.MultiKey. B learns |X| and m; A also
// learns the match graph on shuffled records (README.md, Leakage of the
// multi-key protocol). Like PartyA and PartyB, a MultiKeyA or MultiKeyB is
// not safe for concurrent use.
package match
