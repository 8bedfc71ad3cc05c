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

var messageNames = [...]string{
	MsgBlindedA:    "BlindedA",
	MsgBlindedB:    "BlindedB",
	MsgShuffledA:   "ShuffledA",
	MsgDoubleA:     "DoubleA",
	MsgDoubleB:     "DoubleB",
	MsgOnlyB:       "OnlyB",
	MsgOnlyA:       "OnlyA",
	MsgOnlyBDouble: "OnlyBDouble",
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
	case MsgBlindedA, MsgDoubleB, MsgOnlyB, MsgOnlyA:
		return true
	}
	return false
}
