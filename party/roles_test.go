package party

import (
	"slices"
	"testing"

	"github.com/jointly-dev/jointly/aggregate"
)

// TestGroupedCorrelationRoles: the column correlations are grouped by has
// the by role and not the correlation role, whether the query names its
// correlation columns or correlates every other column, so that an
// owner's rule against correlating a column does not refuse grouping by
// it, and one against grouping by it holds.
func TestGroupedCorrelationRoles(t *testing.T) {
	spend := aggregate.ColumnRef{Owner: "retailer", Name: "spend"}
	claims := aggregate.ColumnRef{Owner: "insurer", Name: "claims"}
	band := aggregate.ColumnRef{Owner: "insurer", Name: "band"}
	for _, named := range []bool{true, false} {
		j := &JointQuery{X: []aggregate.ColumnInfo{{Ref: spend}}, Y: []aggregate.ColumnInfo{{Ref: claims}, {Ref: band}},
			Correlations: true, CorrelationBy: band}
		if named {
			j.CorrelationX, j.CorrelationY = []aggregate.ColumnRef{spend}, []aggregate.ColumnRef{claims}
		}
		roles := (&Query{Joint: j}).columnRoles("insurer")
		var bandRoles []Role
		for _, u := range roles {
			if u.column == "band" {
				bandRoles = append(bandRoles, u.role)
			}
		}
		if !slices.Contains(bandRoles, RoleBy) || slices.Contains(bandRoles, RoleCorrelation) {
			t.Errorf("named sets %v: the group-by column's roles %v, want by and not correlation", named, bandRoles)
		}
		if !slices.Contains(roles, columnUse{"claims", RoleCorrelation}) {
			t.Errorf("named sets %v: claims not a correlation column: %v", named, roles)
		}
	}
}
