package match_test

import (
	"fmt"

	"github.com/jointly-dev/jointly/crypto/match"
)

// Example runs both roles in one process; a real deployment sends each list
// over the network with Chunks/Pack and receives it with a Receiver.
func Example() {
	dst := match.DomainTag("grocer-insurer", []byte("session-42"))
	x := [][]byte{[]byte("ann@example.com"), []byte("bob@example.com"), []byte("cy@example.com")}
	y := [][]byte{[]byte("dee@example.com"), []byte("ann@example.com")}

	a, _ := match.NewPartyA(dst)
	defer a.Zero()
	b, _ := match.NewPartyB(dst)
	defer b.Zero()

	blindedA, _ := a.Blind(x)                            // A → B
	blindedB, _ := b.Blind(y)                            // B → A
	shuffledA, doubleA, _ := b.ReblindPeer(blindedA)     // B → A
	doubleB, _ := a.ReblindPeer(blindedB)                // A → B
	_ = b.AcceptDouble(doubleB)                          // B keeps V_B
	onlyB, onlyA, _ := a.Differences(shuffledA, doubleA) // A → B
	onlyBDouble, _ := b.ReblindOnlyB(onlyB, onlyA)       // B → A
	layoutA, _ := a.Finish(onlyBDouble)
	layoutB, err := b.Finish()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("union:", layoutA.UnionSize, layoutB.UnionSize)
	fmt.Println("ann on the same row:", layoutA.Rows[0] == layoutB.Rows[1])
	fmt.Println("bob and dee apart:", layoutA.Rows[1] != layoutB.Rows[0])
	// Output:
	// union: 4 4
	// ann on the same row: true
	// bob and dee apart: true
}

// Example_multiKey matches records on e-mail or phone, e-mail first; a nil
// slot is a missing key.
func Example_multiKey() {
	dst := match.DomainTag("grocer-insurer", []byte("session-43"))
	kinds := []string{"email", "phone"}
	rec := func(email, phone string) [][]byte {
		r := make([][]byte, 2)
		if email != "" {
			r[0] = []byte(email)
		}
		if phone != "" {
			r[1] = []byte(phone)
		}
		return r
	}
	x := [][][]byte{rec("ann@example.com", "+41000001"), rec("", "+41000002"), rec("cy@example.com", "")}
	y := [][][]byte{rec("ann@example.com", "+41999999"), rec("bo@example.com", "+41000002"), rec("dee@example.com", "")}

	a, _ := match.NewMultiKeyA(dst, kinds)
	defer a.Zero()
	b, _ := match.NewMultiKeyB(dst, kinds)
	defer b.Zero()

	blindedA, _ := a.Blind(x)                                                             // A → B
	blindedB, _ := b.Blind(y)                                                             // B → A
	shuffledA, _ := b.ReblindPeer(blindedA)                                               // B → A
	_ = a.ReblindPeer(blindedB)                                                           // A keeps E_B
	tokens, _ := a.Match(shuffledA)                                                       // A → B: four lists
	zA, onlyBDouble, _ := b.ReblindTokens(tokens.A, tokens.B, tokens.OnlyB, tokens.OnlyA) // B → A
	layoutA, _ := a.Finish(zA, onlyBDouble)
	layoutB, err := b.Finish()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("union:", layoutA.UnionSize, layoutB.UnionSize)
	fmt.Println("ann on the same row (e-mail):", layoutA.Rows[0] == layoutB.Rows[0])
	fmt.Println("second records on the same row (phone):", layoutA.Rows[1] == layoutB.Rows[1])
	fmt.Println("pairs per kind:", a.MatchCounts())
	// Output:
	// union: 4 4
	// ann on the same row (e-mail): true
	// second records on the same row (phone): true
	// pairs per kind: [1 1]
}
