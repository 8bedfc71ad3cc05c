// Package aggregate turns a query into statistics (docs/architecture.md,
// "Encoding and statistics"): it compiles a Request (correlations, rates,
// regressions, contingency tables over columns of several owners) into the
// circuit of products the encrypted protocol of package crypto/upload
// evaluates, lays each owner's columns out in union order (FixedPoint,
// Layout), calibrates the differential-privacy noise every owner adds
// (dpnoise.go) and the padding of a session's size (padding.go), decides
// which statistics stage one releases (release.go), and turns the querier's
// decoded sums into cells with confidence intervals (results.go, stats/).
// Before a query runs, PlanAccuracy predicts each cell's noise, interval,
// chance of suppression and the ε a target precision needs, from the
// bounds and assumed data alone (planner.go).
//
//	c, _ := aggregate.Compile(params, req)             // same at every owner
//	mults, _ := c.EvaluatorColumns(values, rows, unionSize)
//	cols, _ := c.UploaderColumns(values, rows, unionSize)
//	// ... upload.NewPlan is c.Plan(); run the session, release ...
//	cells, _ := c.Results(statistics, owners, minGroupSize)
//	// exact mode: the exact integers (upload.Plan.DecodePackedExact)
//	cells, _ = c.ExactResults(exactStatistics, minGroupSize)
//
// One file per statistic kind: correlation.go, rate.go, regression.go,
// contingency.go. It is a pure library: it never opens a network
// connection and never logs. Errors name columns and sizes, never a value.
package aggregate
