// Package aggregate is the encrypted core of the statistics engine
// (docs/architecture.md, "Encoding and statistics"): a data owner's compact upload of its
// columns, the evaluating node's plaintext × ciphertext evaluation with one
// Trace per statistic, the public noise bound that sets the key-switch
// flooding, and the decoding of the querier's plaintexts into statistics.
//
// Flow of one session, both data owners holding the same Circuit and
// PlanConfig (public), a jointly tossed SeedSize-byte seed, their own secret
// key share, the collective public key and the Trace Galois keys:
//
//	plan, _ := aggregate.NewPlan(params, circuit, cfg)   // same on both sides
//
//	// data owner (uploader): columns laid out in union order
//	col, _ := aggregate.Layout(unionSize, rows, values, fixedPoint)
//	up, _ := aggregate.NewUploader(plan, skShare, seed)
//	up.Upload(ctx, c, col, 0, func(b *aggregate.Block) error { /* b.MarshalBinary, stream */ })
//
//	// evaluating node: its multipliers laid out in union order
//	ev, _ := aggregate.NewEvaluator(plan, skShare, cpk, evk, seed, multipliers)
//	sums, _ := ev.Evaluate(ctx, blocks, 0)     // or NewAccumulator/Add/Sum
//	packs, _ := sums.Pack(ctx, products)       // one ciphertext per level
//	// each party floods its key-switch share of every pack with
//	// compiled.PackFlooding(pack.Products) and adds compiled.PackNoise
//
//	// querier, after decryption of every pack
//	stats, _ := plan.DecodePacked(packs, plaintexts)
//
// A statistic is a named sum of products Σ_i m_i·c_i of an evaluator
// multiplier and an uploaded column (BivariateCircuit gives n, Σx, Σy, Σx²,
// Σy², Σxy); group-bys use Indicator multipliers, regressions enumerate the
// pairs of XᵀX and Xᵀy (PairStats). Wide multipliers are split into digits
// by the plan. Real-valued columns go through FixedPoint (negative lower
// bounds are shifted, and UnshiftSum/UnshiftProduct undo the shift).
// NOISE.md derives the bound (henoise.go) and the planner (plan.go) of the
// homomorphic-encryption noise; the differential-privacy noise of a
// compiled query is calibrated and encoded in dpnoise.go.
//
// It is a pure library over the crypto package: it never opens a network
// connection and never logs. Errors name columns, blocks and sizes, never a
// value or a key.
package aggregate
