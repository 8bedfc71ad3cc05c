package partytest

import "fmt"

// RetailerHCL is the head of a configuration file for the retailer of a
// two-node federation "f": it listens on 127.0.0.1:7101, its peer the
// insurer on 127.0.0.1:7102, in plaintext on loopback, and keeps its state
// in dataDir. Tests that write their own file append their source, policy
// and querier blocks.
func RetailerHCL(dataDir string) string {
	return fmt.Sprintf(`name = "retailer"
federation = "f"
listen = "127.0.0.1:7101"
data_dir = %q
insecure_loopback = true
peer "insurer" {
  address = "127.0.0.1:7102"
}
`, dataDir)
}
