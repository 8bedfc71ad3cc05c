package match

// Message names a point list of the protocol, for transports that tag their
// frames; see the package documentation for the sequence.
type Message uint8

// The messages of the protocol (README.md) in protocol order.
const (
	MsgBlindedA    Message = iota + 1 // A → B: U_A, |X| points
	MsgBlindedB                       // B → A: U_B, |Y| points
	MsgShuffledA                      // B → A: σ_B(E_A), |X| points
	MsgDoubleA                        // B → A: V_A, |X| points
	MsgDoubleB                        // A → B: V_B, |Y| points
	MsgOnlyB                          // A → B: shuffled D_B, |Y \ X| points
	MsgOnlyA                          // A → B: shuffled D_A^{a'}, |X \ Y| points
	MsgOnlyBDouble                    // B → A: D_B^{b'}, |Y \ X| points
)

// The messages of the multi-key protocol (README.md, Multi-key matching), in
// protocol order, with K key kinds and m matched pairs. They follow the
// single-key messages, so a transport of the single-key protocol rejects
// them.
const (
	MsgKeysBlindedA      Message = MsgOnlyBDouble + 1 + iota // A → B: U_A, K|X| points
	MsgKeysBlindedB                                          // B → A: U_B, K|Y| points
	MsgKeysShuffledA                                         // B → A: σ_B(E_A), K|X| points
	MsgTokensA                                               // A → B: R per A record, σ_B order, |X| points
	MsgTokensB                                               // A → B: R^{a'} per B record, π_B order, |Y| points
	MsgTokensOnlyB                                           // A → B: R of the B-only records, |Y| − m points
	MsgTokensOnlyA                                           // A → B: R^{a'} of the A-only records, |X| − m points
	MsgTokensADouble                                         // B → A: TokensA^{b'} in π_A order, |X| points
	MsgTokensOnlyBDouble                                     // B → A: TokensOnlyB^{b'}, |Y| − m points
)

var messageNames = [...]string{
	MsgBlindedA:    "BlindedA",
	MsgBlindedB:    "BlindedB",
	MsgShuffledA:   "ShuffledA",
	MsgDoubleA:     "DoubleA",
	MsgDoubleB:     "DoubleB",
	MsgOnlyB:       "OnlyB",
	MsgOnlyA:       "OnlyA",
	MsgOnlyBDouble: "OnlyBDouble",

	MsgKeysBlindedA:      "KeysBlindedA",
	MsgKeysBlindedB:      "KeysBlindedB",
	MsgKeysShuffledA:     "KeysShuffledA",
	MsgTokensA:           "TokensA",
	MsgTokensB:           "TokensB",
	MsgTokensOnlyB:       "TokensOnlyB",
	MsgTokensOnlyA:       "TokensOnlyA",
	MsgTokensADouble:     "TokensADouble",
	MsgTokensOnlyBDouble: "TokensOnlyBDouble",
}

// String returns the message name used in the package documentation.
func (m Message) String() string {
	if int(m) < len(messageNames) && messageNames[m] != "" {
		return messageNames[m]
	}
	return "Message(?)"
}

// FromA reports whether party A sends the message.
func (m Message) FromA() bool {
	switch m {
	case MsgBlindedA, MsgDoubleB, MsgOnlyB, MsgOnlyA,
		MsgKeysBlindedA, MsgTokensA, MsgTokensB, MsgTokensOnlyB, MsgTokensOnlyA:
		return true
	}
	return false
}

// MultiKey reports whether the message belongs to the multi-key protocol.
func (m Message) MultiKey() bool { return m >= MsgKeysBlindedA && m <= MsgTokensOnlyBDouble }
