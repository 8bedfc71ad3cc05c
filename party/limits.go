package party

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/jointly-dev/jointly/aggregate"
)

// Default limits of the joint queries a node evaluates at once.
const (
	defaultOpenQueries = 4
	defaultQueryMemory = 4 << 30
)

// LimitsConfig bounds the joint queries a node evaluates at once:
//
//	limits {
//	  open_queries = 4       # queries evaluated at once
//	  query_memory = "4GiB"  # their estimated memory, together
//	}
//
// A query over either limit is refused before anything is charged: one
// that would not fit even alone with a message to narrow it, one that
// does not fit beside the queries already running as busy (retry later).
type LimitsConfig struct {
	OpenQueries *int   `hcl:"open_queries,optional"`
	QueryMemory string `hcl:"query_memory,optional"`

	// Body is the block as parsed, kept for error positions.
	Body hcl.Body `hcl:",body"`
}

// validateLimits fills MaxOpenQueries and MaxQueryMemory from Limits.
func (c *Config) validateLimits() error {
	if c.MaxOpenQueries == 0 {
		c.MaxOpenQueries = defaultOpenQueries
	}
	if c.MaxQueryMemory == 0 {
		c.MaxQueryMemory = defaultQueryMemory
	}
	l := c.Limits
	if l == nil {
		return nil
	}
	if v := l.OpenQueries; v != nil {
		if *v < 1 || *v > maxOpenQueries {
			return c.errorf(l.Body, "open_queries", "must be between 1 and %d, not %d", maxOpenQueries, *v)
		}
		c.MaxOpenQueries = *v
	}
	if l.QueryMemory != "" {
		b, err := ParseBytes(l.QueryMemory)
		if err != nil || b < 64<<20 {
			return c.errorf(l.Body, "query_memory", "%q is not a size of at least 64MiB such as \"4GiB\" or \"512MiB\"", l.QueryMemory)
		}
		c.MaxQueryMemory = b
	}
	return nil
}

// byteUnits are the suffixes ParseBytes accepts, longest first.
var byteUnits = []struct {
	suffix string
	scale  int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseBytes parses a size such as "512MiB", "4GiB", "2GB" or "1048576B".
func ParseBytes(s string) (int64, error) {
	for _, u := range byteUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || v < 0 || v*float64(u.scale) > 1<<62 {
			return 0, fmt.Errorf("%q is not a size", s)
		}
		return int64(v * float64(u.scale)), nil
	}
	return 0, fmt.Errorf("%q has no unit (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)", s)
}

// formatBytes prints a size in binary units.
func formatBytes(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.0fMiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%dKiB", b>>10)
}

// estimateMemory is the evaluating node's peak memory for q, estimated
// before matching from public quantities: per session one accumulated
// ciphertext per product of the plan (at the parameters' top level, an
// upper bound) and the evaluator's multiplier columns over a union of at
// most its own records plus as many again, plus the packs of the release,
// and a quarter more for working buffers (a 1,024-cell contingency table
// under coef13: 700 MB estimated, 643 MB measured at its peak).
func (n *Node) estimateMemory(q *Query, records int64) (int64, error) {
	// The circuit does not depend on the noise: an exact probe compiles
	// whatever ε the query asks for.
	probe := q.request()
	probe.MaxRecords, probe.Exact, probe.Epsilon, probe.Delta = 1, true, 0, 0
	c, err := aggregate.Compile(n.params, probe)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	sessions := int64(len(q.Joint.yOwners()))
	ct := int64(2 * n.params.N() * (n.params.MaxLevel() + 1) * 8)
	products := int64(len(c.Plan().Products()))
	multipliers := int64(len(c.Circuit().Multipliers))
	union := 2 * max(records, int64(n.params.N()))
	held := sessions*(products*ct+multipliers*union*8) + products*ct
	return held + held/4, nil // and a quarter for working buffers
}
