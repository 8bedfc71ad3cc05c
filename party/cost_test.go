package party_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jointly-dev/jointly/party"
	"github.com/jointly-dev/jointly/party/partytest"
)

// TestPrivacyCostOutOfRange sends queries whose ε or δ is no privacy cost
// over real gRPC. ε = 1e-20 used to send the evaluating node's zCDP
// conversion into an endless loop before admission, pinning a core for
// good; now every such query is refused at once, with the value and its
// range, and the node still answers the next query.
func TestPrivacyCostOutOfRange(t *testing.T) {
	r, i := jointWorld(t, 200, 0.5)
	c := partytest.Start(t, 2, partytest.Options{Datasets: []party.Dataset{r, i}})
	client := c.Dial(t, 0)
	joint := correlation("spend_diet_aids", "claims_diabetes", 1, 1e-6) // the querier's own, unchecked request
	for _, tc := range []struct {
		eps, delta float64
		mention    string
	}{
		{1e-20, 1e-6, "epsilon 1e-20 is outside [1e-06, 1000]"},
		{5e-324, 1e-6, "epsilon 5e-324 is outside [1e-06, 1000]"},
		{1e300, 1e-6, "epsilon 1e+300 is outside [1e-06, 1000]"},
		{math.Inf(1), 1e-6, "epsilon +Inf is outside [1e-06, 1000]"},
		{math.NaN(), 1e-6, "epsilon NaN is outside [1e-06, 1000]"},
		{1, 0, "delta 0 is outside [1e-15, 0.01]"},
	} {
		t.Run(fmt.Sprintf("epsilon=%g/delta=%g", tc.eps, tc.delta), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			req := joint
			req.Epsilon, req.Delta = tc.eps, tc.delta
			_, err := client.Joint(ctx, req)
			if err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("joint query: %v, want a refusal naming %q", err, tc.mention)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("refusals took %v", d)
			}
		})
	}
	if _, err := client.Joint(context.Background(), joint); err != nil {
		t.Fatalf("a good query after the refusals: %v", err)
	}
}
